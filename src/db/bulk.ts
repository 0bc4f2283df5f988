// Inserting many rows at once, as fast as the driver allows.
import { CompiledQuery, type Insertable } from 'kysely'
import type { Database } from '../../schemas/database.js'
import { type Db, isPostgres } from './connect.js'

/** SQL text by dialect, table, columns and row count: a bulk upload inserts thousands of same-sized batches. */
const compiled = new Map<string, string>()

/** What an insert of many rows did: how many it stored, and the id of each row (undefined: skipped). */
export interface Inserted {
  count: number
  /** In the order of the rows given; undefined as a whole when the driver cannot tell (SQLite, with rows skipped). */
  ids: (number | undefined)[] | undefined
}

/**
 * Inserts `rows` (all with the same columns, in the same order) with one multi-row INSERT. Kysely
 * builds the statement for the first batch of each size; later batches reuse its SQL with their
 * own parameters, which skips building and compiling a query tree of thousands of values each time.
 * With `skipTaken`, rows whose value in that unique column is taken are skipped, not an error.
 *
 * The ids: SQLite gives the last id of the statement, and (its transactions writing one at a time)
 * one statement's ids are consecutive. PostgreSQL's sequences may interleave with other writers, so
 * there the statement returns its ids, with the `skipTaken` column to tell the rows apart.
 */
export async function insertMany<T extends keyof Database>(
  db: Db,
  table: T,
  rows: Insertable<Database[T]>[],
  { skipTaken }: { skipTaken?: keyof Database[T] & string } = {},
): Promise<Inserted> {
  if (rows.length === 0) return { count: 0, ids: [] }
  const postgres = isPostgres(db)
  const columns = Object.keys(rows[0]!) as (keyof Insertable<Database[T]>)[]
  const key = `${postgres ? 'pg' : 'sqlite'} ${table}(${columns.join(',')})x${rows.length} skip ${skipTaken ?? ''}`
  let sql = compiled.get(key)
  if (sql === undefined) {
    const insert = db.insertInto(table).values(rows)
    const skipping = skipTaken
      ? insert.onConflict((conflict) => conflict.column(skipTaken as never).doNothing())
      : insert
    const returning = skipTaken ? ['id', skipTaken] : ['id']
    sql = (postgres ? skipping.returning(returning as never) : skipping).compile().sql
    compiled.set(key, sql)
  }
  const parameters: unknown[] = []
  for (const row of rows) for (const column of columns) parameters.push(row[column])
  const result = await db.executeQuery<Record<string, unknown>>(CompiledQuery.raw(sql, parameters))
  if (postgres) return { count: result.rows.length, ids: returnedIds(rows, result.rows, skipTaken) }
  const count = Number(result.numAffectedRows ?? 0)
  const lastId = Number(result.insertId ?? 0)
  return { count, ids: count === rows.length ? rows.map((_, i) => lastId - count + 1 + i) : undefined }
}

/** Each row's id among those PostgreSQL returned: in order when none was skipped, else by the `skipTaken` value. */
function returnedIds(
  rows: Record<string, unknown>[],
  returned: Record<string, unknown>[],
  skipTaken: string | undefined,
): (number | undefined)[] {
  if (returned.length === rows.length || skipTaken === undefined) return returned.map((row) => row.id as number)
  const byValue = new Map(returned.map((row) => [row[skipTaken], row.id as number]))
  return rows.map((row) => byValue.get(row[skipTaken]))
}
