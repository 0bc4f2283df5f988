// The PostgreSQL side of the tests: a schema of its own for each test that needs a database.
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { Test } from 'tap'

/** Where `npm run test:pg` runs the suite unless TEST_DATABASE_URL names another database. */
export const DEFAULT_TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test'

/**
 * The PostgreSQL database the suite runs on (`npm run test:pg`), or undefined for SQLite (`npm test`).
 */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL === '' ? undefined : process.env.TEST_DATABASE_URL

/** The PostgreSQL database of the tests that need one whichever database the suite runs on. */
export const POSTGRES_URL = TEST_DATABASE_URL ?? DEFAULT_TEST_DATABASE_URL

/** What every schema the tests make is named with, so that `scripts/test-pg.ts` can find them. */
export const TEST_SCHEMA_PREFIX = 'crm_test_'

let schemas = 0

/**
 * A URL of a new, empty schema of POSTGRES_URL: its connections find only it (`search_path`), so
 * that test files run in parallel on one database without meeting. Under `npm run test:pg` the
 * schemas stay until the run ends (`scripts/test-pg.ts` drops them): dropping one while another
 * file's migrator looks through the database's tables would make that look fail. Otherwise no other
 * file looks, and the schema is dropped when `t` ends.
 */
export async function postgresSchema(t: Test): Promise<string> {
  const schema = `${TEST_SCHEMA_PREFIX}${process.pid}_${++schemas}_${randomBytes(4).toString('hex')}`
  await onTestDatabase((connection) => connection.query(`create schema ${schema}`))
  if (!TEST_DATABASE_URL) {
    t.teardown(() => onTestDatabase((connection) => connection.query(`drop schema ${schema} cascade`)))
  }
  const url = new URL(POSTGRES_URL)
  url.searchParams.set('options', `-c search_path=${schema}`)
  return url.toString()
}

/** A fresh, empty database of the suite's kind for `t`: `:memory:` on SQLite, a new schema on PostgreSQL. */
export const freshDatabase = async (t: Test): Promise<string> => (TEST_DATABASE_URL ? postgresSchema(t) : ':memory:')

/** Runs `work` on a connection of its own to POSTGRES_URL. */
async function onTestDatabase(work: (connection: pg.Client) => Promise<unknown>) {
  const connection = new pg.Client({ connectionString: POSTGRES_URL })
  await connection.connect()
  try {
    await work(connection)
  } finally {
    await connection.end()
  }
}
