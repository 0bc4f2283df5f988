// `npm run db:migrate`: applies pending migrations to DATABASE_URL and reports each one.
import { ConfigError, loadConfig } from './config.js'
import { connect } from './db/connect.js'
import { migrateToLatest } from './db/migrate.js'

try {
  const db = connect(loadConfig().DATABASE_URL)
  try {
    const results = await migrateToLatest(db)
    for (const result of results) console.log(`${result.status}: ${result.migrationName}`)
    console.log(results.length === 0 ? 'The database is up to date.' : `Applied ${results.length} migration(s).`)
  } finally {
    await db.destroy()
  }
} catch (error) {
  console.error(error instanceof ConfigError || error instanceof Error ? error.message : error)
  process.exitCode = 1
}
