// The database: opened and migrated before the routes run, closed when the app closes.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { connect, type Db } from '../db/connect.js'
import { migrateToLatest } from '../db/migrate.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Db
  }
}

export default fp(
  async function database(app: FastifyInstance, options: { url: string; poolSize: number }) {
    const db = connect(options.url, {
      poolSize: options.poolSize,
      onIdleError: (error) => app.log.warn({ err: error }, 'an idle database connection failed; the pool replaces it'),
    })
    app.decorate('db', db)
    app.addHook('onClose', () => db.destroy())
    try {
      for (const result of await migrateToLatest(db)) {
        app.log.info({ migration: result.migrationName, status: result.status }, 'migration applied')
      }
    } catch (error) {
      await db.destroy()
      throw error
    }
  },
  { name: 'db' },
)
