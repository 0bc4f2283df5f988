// Inserting many rows at once, as fast as the driver allows.
import { CompiledQuery, type Insertable } from 'kysely'
import type { Database } from '../../schemas/database.js'
import type { Db } from './connect.js'

/** SQL text by table, columns and row count: a bulk upload inserts thousands of same-sized batches. */
const compiled = new Map<string, string>()

/**
 * Inserts `rows` (all with the same columns, in the same order) with one multi-row INSERT. Kysely
 * builds the statement for the first batch of each size; later batches reuse its SQL with their
 * own parameters, which skips building and compiling a query tree of thousands of values each time.
 * With `skipTaken`, rows whose value in that unique column is taken are skipped, not an error.
 * Returns how many rows were inserted and the id of the last; one statement's ids are consecutive.
 */
export async function insertMany<T extends keyof Database>(
  db: Db,
  table: T,
  rows: Insertable<Database[T]>[],
  { skipTaken }: { skipTaken?: keyof Database[T] & string } = {},
): Promise<{ count: number; lastId: number } | undefined> {
  if (rows.length === 0) return undefined
  const columns = Object.keys(rows[0]!) as (keyof Insertable<Database[T]>)[]
  const key = `${table}(${columns.join(',')})x${rows.length}${skipTaken ? ` skip ${skipTaken}` : ''}`
  let sql = compiled.get(key)
  if (sql === undefined) {
    const insert = db.insertInto(table).values(rows)
    sql = (
      skipTaken ? insert.onConflict((conflict) => conflict.column(skipTaken as never).doNothing()) : insert
    ).compile().sql
    compiled.set(key, sql)
  }
  const parameters: unknown[] = []
  for (const row of rows) for (const column of columns) parameters.push(row[column])
  const result = await db.executeQuery(CompiledQuery.raw(sql, parameters))
  return { count: Number(result.numAffectedRows ?? 0), lastId: Number(result.insertId ?? 0) }
}
