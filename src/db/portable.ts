// What the migrations write differently for SQLite and PostgreSQL, in one place.
import { type ColumnDefinitionBuilder, type Kysely, PostgresAdapter } from 'kysely'

/** Whether `db` runs on PostgreSQL (else on SQLite). */
export const isPostgres = (db: Kysely<any>) => db.getExecutor().adapter instanceof PostgresAdapter

/**
 * The type of an id column, and of a column that refers to one. The API's ids go up to 2^53 - 1:
 * SQLite's `integer` holds 64 bits (and `integer primary key` is the table's rowid), PostgreSQL's
 * only 32, so there it is `bigint` (which the connection reads back as a number).
 */
export const idType = (db: Kysely<any>) => (isPostgres(db) ? 'bigint' : 'integer')

/** An auto-assigned id that is never reused: AUTOINCREMENT in SQLite, an identity in PostgreSQL. */
export function primaryId(db: Kysely<any>) {
  const postgres = isPostgres(db)
  return (col: ColumnDefinitionBuilder) =>
    postgres ? col.primaryKey().generatedByDefaultAsIdentity() : col.primaryKey().autoIncrement()
}
