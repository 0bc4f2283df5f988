// Starts the API: reads the configuration, listens, and shuts down gracefully on SIGTERM or SIGINT.
import { type App, buildApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'

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
  await app.listen({ port: config.PORT, host: config.HOST })
  shutDownOn(app, 'SIGTERM')
  shutDownOn(app, 'SIGINT')
} catch (error) {
  if (app) app.log.fatal({ err: error }, 'could not start')
  else console.error('Could not start:', error instanceof Error ? error.message : error)
  await app?.close().catch(() => {})
  process.exit(1)
}
