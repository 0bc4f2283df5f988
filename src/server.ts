// Starts the API: reads the configuration, listens, and shuts down gracefully on SIGTERM or SIGINT.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { type App, buildApp } from './app.js'
import { type Config, ConfigError, loadConfig } from './config.js'
import { parseDatabaseUrl } from './db/connect.js'
import { anyKey, createKey } from './services/keys.js'

/** How long in-flight requests get to finish after a shutdown signal before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000

function shutDownOn(app: App, signal: NodeJS.Signals) {
  process.once(signal, () => {
    app.log.info({ signal }, 'shutting down: finishing in-flight requests')
    setTimeout(() => {
      app.log.error('in-flight requests did not finish in time; exiting')
      process.exit(1)
    }, SHUTDOWN_GRACE_MS).unref()
    app.close().then(
      () => {
        app.log.info('stopped; the database is closed')
        process.exit(0)
      },
      (error: unknown) => {
        app.log.error({ err: error }, 'the shutdown failed')
        process.exit(1)
      },
    )
  })
}

/**
 * On the first start, with no key stored and no `API_KEY`, nobody could get in: make an admin key
 * and hand it, this once, to the person who started the server. On a terminal it is printed; when
 * standard output is a log (a service, a container) it goes to a file beside the database that only
 * its owner may read, and the log says where, never the key.
 */
async function firstKey(app: App, config: Config) {
  if (config.API_KEY) return
  // One transaction, so that of several instances starting together on one database only one makes it.
  const made = await app.db
    .transaction()
    .execute(async (trx) => ((await anyKey(trx)) ? undefined : createKey(trx, 'First admin key', 'admin')))
  if (!made) return
  const { key, prefix } = made
  const use =
    `Send it as "Authorization: Bearer <key>" (in Swagger UI: Authorize). Revoke it with ` +
    `\`npm run keys -- revoke ${prefix}\` once you have made your own keys.`
  const location = parseDatabaseUrl(config.DATABASE_URL)
  // Beside a SQLite file; for PostgreSQL, in data/ under the working directory, as SQLite's default.
  const filename = location.dialect === 'sqlite' ? location.filename : 'data/crm.sqlite'
  if (process.stdout.isTTY || filename === ':memory:') {
    console.log(
      `\nNo API key existed, so an admin key was made. It is shown only now; keep it secret:\n\n    ${key}\n\n${use}\n`,
    )
    app.log.warn({ key: prefix }, 'made the first admin key and printed it')
    return
  }
  const file = join(dirname(filename), 'first-admin-key.txt')
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, `${key}\n\n${use}\nDelete this file once you have kept the key somewhere safe.\n`, {
    mode: 0o600,
  })
  app.log.warn({ key: prefix, file }, 'made the first admin key and wrote it to a file only its owner can read')
}

let config
try {
  config = loadConfig()
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  console.error(error.message)
  process.exit(1)
}

let app: App | undefined
try {
  // Opening the database and running its migrations happen here: a failure stops start-up.
  app = await buildApp({ config })
  await firstKey(app, config)
  await app.listen({ port: config.PORT, host: config.HOST })
  shutDownOn(app, 'SIGTERM')
  shutDownOn(app, 'SIGINT')
} catch (error) {
  if (app) app.log.fatal({ err: error }, 'could not start')
  else console.error('Could not start:', error instanceof Error ? error.message : error)
  // Exiting with the start-up failure: a failure to close as well adds nothing to it.
  await app?.close().catch(() => undefined)
  process.exit(1)
}
