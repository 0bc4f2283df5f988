// Brings the database schema up to date with the migrations in `migrations/`.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { FileMigrationProvider, type Kysely, type MigrationResult, Migrator, sql } from 'kysely'
import { isPostgres } from './portable.js'

// `migrations/` sits two levels up both from src/db and from the compiled dist/src/db.
export const migrationFolder = fileURLToPath(new URL('../../migrations', import.meta.url))

/**
 * Kysely's migrator over the migrations in `folder`. On PostgreSQL its own tables are kept in the
 * connection's current schema, named: unnamed, Kysely would take a `kysely_migration` table in any
 * other schema of the database for its own.
 */
export async function migratorOf(db: Kysely<any>, folder = migrationFolder): Promise<Migrator> {
  const migrationTableSchema = isPostgres(db)
    ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]!.schema
    : undefined
  return new Migrator({
    db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder: folder }),
    migrationTableSchema,
  })
}

/**
 * Runs every pending migration; throws (after rolling back the failed one) if any fails. The
 * pending ones run in one transaction, which takes the database's write lock (see connect.ts), and
 * Kysely locks its own lock row too: of several instances starting together, one applies them and
 * the others then find nothing pending.
 */
export async function migrateToLatest(db: Kysely<any>, folder = migrationFolder): Promise<MigrationResult[]> {
  const { error, results = [] } = await (await migratorOf(db, folder)).migrateToLatest()
  if (error) {
    const failed = results.find((result) => result.status === 'Error')?.migrationName
    // Whatever a migration threw, printed as String() prints it.
    // eslint-disable-next-line @typescript-eslint/no-base-to-string
    const reason = error instanceof Error ? error.message : String(error)
    throw new Error(failed ? `Migration ${failed} failed: ${reason}` : `Migrations could not run: ${reason}`, {
      cause: error,
    })
  }
  return results
}
