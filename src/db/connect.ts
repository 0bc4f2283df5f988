// Opens the database named by DATABASE_URL as a Kysely instance.
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import {
  CompiledQuery,
  type DatabaseConnection,
  Kysely,
  SqliteAdapter,
  SqliteDialect,
  type SqliteDatabase,
  SqliteDriver,
  type SqliteStatement,
} from 'kysely'
import type { Database } from '../../schemas/database.js'

/** How long a connection waits for another's lock before failing (the backup's connection too). */
export const BUSY_TIMEOUT_MS = 5000

export type Db = Kysely<Database>

/** Where the data lives: a SQLite file, or an in-memory SQLite database (`:memory:`). */
export interface DatabaseLocation {
  dialect: 'sqlite'
  filename: string
}

/**
 * Reads DATABASE_URL: a file path, `file:PATH`, `sqlite:PATH` or `:memory:`. PostgreSQL URLs are
 * recognised and refused until that dialect is built, so a typo is not taken for a file name.
 */
export function parseDatabaseUrl(url: string): DatabaseLocation {
  if (/^postgres(ql)?:/i.test(url)) {
    throw new Error('DATABASE_URL: PostgreSQL is not supported yet; use a SQLite file path or :memory:')
  }
  const filename = url.replace(/^(sqlite|file):(\/\/)?/i, '')
  if (filename === '') throw new Error('DATABASE_URL: no file name given')
  return { dialect: 'sqlite', filename }
}

/**
 * Kysely's SQLite driver prepares every statement anew; preparing costs more than running a
 * simple query. This cache hands back the statement already prepared for the same SQL text
 * (least recently used out first). A statement still being iterated is busy and is not shared.
 */
export function cachingStatements(sqlite: SQLite.Database, capacity = 500): SqliteDatabase {
  const cache = new Map<string, SQLite.Statement>()
  return {
    close: () => sqlite.close(),
    prepare(sql: string): SqliteStatement {
      let statement = cache.get(sql)
      if (statement && !statement.busy) {
        cache.delete(sql)
        cache.set(sql, statement)
        return statement
      }
      statement = sqlite.prepare(sql)
      cache.delete(sql)
      cache.set(sql, statement)
      if (cache.size > capacity) cache.delete(cache.keys().next().value!)
      return statement
    },
  }
}

export function openSqlite(filename: string): SQLite.Database {
  if (filename !== ':memory:') mkdirSync(dirname(filename), { recursive: true })
  const sqlite = new SQLite(filename)
  if (filename !== ':memory:') sqlite.pragma('journal_mode = WAL')
  // FULL: a write the API has acknowledged survives a power cut, not only a crash of the process.
  sqlite.pragma('synchronous = FULL')
  sqlite.pragma('foreign_keys = ON')
  sqlite.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
  return sqlite
}

/**
 * SQLite runs schema changes inside transactions, but Kysely's adapter does not claim so, and its
 * migrator would then leave a failed migration half applied. Claiming it makes each run of the
 * migrator one transaction: all pending migrations are applied, or none.
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl() {
    return true
  }
}

/**
 * Transactions take the write lock when they begin (`BEGIN IMMEDIATE`), not at their first write:
 * a check such as "the customer exists" then still holds when the write comes, even with another
 * process writing to the same file, and a busy database is waited for (busy_timeout) at the start.
 */
class ImmediateTransactionSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection) {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'))
  }
}

class CrmSqliteDialect extends SqliteDialect {
  readonly #config: ConstructorParameters<typeof SqliteDialect>[0]
  constructor(config: ConstructorParameters<typeof SqliteDialect>[0]) {
    super(config)
    this.#config = config
  }
  override createAdapter() {
    return new TransactionalDdlSqliteAdapter()
  }
  override createDriver() {
    return new ImmediateTransactionSqliteDriver(this.#config)
  }
}

export function connect(url: string): Db {
  const { filename } = parseDatabaseUrl(url)
  const database = cachingStatements(openSqlite(filename))
  return new Kysely<Database>({ dialect: new CrmSqliteDialect({ database }) })
}

/** Whether a database error is a unique-constraint violation (SQLite or PostgreSQL). */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505'
}
