// Starts the API: reads the configuration, listens, and shuts down gracefully on SIGTERM or SIGINT.
import { type App, buildApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'
import { anyKey, createKey } from './services/keys.js'

/** How long in-flight requests get to finish after a shutdown signal before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000

function shutDownOn(app: App, signal: NodeJS.Signals) {
  process.once(signal, async () => {
    app.log.info({ signal }, 'shutting down: finishing in-flight requests')
    setTimeout(() => {
      app.log.error('in-flight requests did not finish in time; exiting')
      process.exit(1)
    }, SHUTDOWN_GRACE_MS).unref()
    await app.close()
    app.log.info('stopped; the database is closed')
    process.exit(0)
  })
}

/**
 * On the first start, with no key stored and no `API_KEY`, nobody could get in: make an admin key and
 * print it, this once, so that the person who started the server can authorise (in Swagger UI, say).
 */
async function firstKey(app: App, configured: string | undefined) {
  if (configured || (await anyKey(app.db))) return
  const { key, prefix } = await createKey(app.db, 'First admin key', 'admin')
  console.log(
    `\nNo API key existed, so an admin key was made. It is shown only now; keep it secret:\n\n    ${key}\n\n` +
      `Send it as "Authorization: Bearer <key>" (in Swagger UI: Authorize). Revoke it with ` +
      `\`npm run keys -- revoke ${prefix}\` once you have made your own keys.\n`,
  )
  app.log.warn({ key: prefix }, 'made the first admin key and printed it')
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
  await firstKey(app, config.API_KEY)
  await app.listen({ port: config.PORT, host: config.HOST })
  shutDownOn(app, 'SIGTERM')
  shutDownOn(app, 'SIGINT')
} catch (error) {
  if (app) app.log.fatal({ err: error }, 'could not start')
  else console.error('Could not start:', error instanceof Error ? error.message : error)
  await app?.close().catch(() => {})
  process.exit(1)
}
