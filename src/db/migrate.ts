// Brings the database schema up to date with the migrations in `migrations/`.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { FileMigrationProvider, type Kysely, type MigrationResult, Migrator } from 'kysely'

// `migrations/` sits two levels up both from src/db and from the compiled dist/src/db.
export const migrationFolder = fileURLToPath(new URL('../../migrations', import.meta.url))

/** Kysely's migrator over the migrations in `folder`. */
export const migratorOf = (db: Kysely<any>, folder = migrationFolder) =>
  new Migrator({ db, provider: new FileMigrationProvider({ fs, path, migrationFolder: folder }) })

/** Runs every pending migration; throws (after rolling back the failed one) if any fails. */
export async function migrateToLatest(db: Kysely<any>, folder = migrationFolder): Promise<MigrationResult[]> {
  const { error, results = [] } = await migratorOf(db, folder).migrateToLatest()
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
