// Opens the database named by DATABASE_URL as a Kysely instance.
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import {
  CompiledQuery,
  type DatabaseConnection,
  Kysely,
  PostgresDialect,
  type PostgresDialectConfig,
  PostgresDriver,
  SqliteAdapter,
  SqliteDialect,
  type SqliteDatabase,
  SqliteDriver,
  type SqliteStatement,
  type TransactionSettings,
} from 'kysely'
import pg from 'pg'
import type { Database } from '../../schemas/database.js'

/** How long a connection waits for another's lock before failing (the backup's connection too). */
export const BUSY_TIMEOUT_MS = 5000

export type Db = Kysely<Database>

/** Where the data lives: a SQLite file, an in-memory SQLite database (`:memory:`), or a PostgreSQL database. */
export type DatabaseLocation = { dialect: 'sqlite'; filename: string } | { dialect: 'postgres'; url: string }

/** Reads DATABASE_URL: `postgres://…` or `postgresql://…`; else a file path, `file:PATH`, `sqlite:PATH` or `:memory:`. */
export function parseDatabaseUrl(url: string): DatabaseLocation {
  if (/^postgres(ql)?:\/\//i.test(url)) return { dialect: 'postgres', url }
  if (/^postgres(ql)?:/i.test(url)) throw new Error('DATABASE_URL: a PostgreSQL URL starts with postgres://')
  const filename = url.replace(/^(sqlite|file):(\/\/)?/i, '')
  if (filename === '') throw new Error('DATABASE_URL: no file name given')
  return { dialect: 'sqlite', filename }
}

export { isPostgres } from './portable.js'

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

/**
 * The advisory lock every PostgreSQL transaction takes as it begins: a fixed number (any: it names
 * the lock; this one spells "CRM" in ASCII) and the schema's, so that databases in two schemas of
 * one PostgreSQL database do not wait for each other.
 */
const WRITE_LOCK = `select pg_advisory_xact_lock(${0x43524d}, hashtext(current_schema()))`

/**
 * PostgreSQL transactions give the answers SQLite's `BEGIN IMMEDIATE` gives: each takes one
 * advisory lock, held until it commits or rolls back, so that transactions run one at a time across
 * every connection and instance, and a check made in one ("the customer exists", "the ticket is
 * open", "another admin key is left") still holds when its write comes. Statements outside a
 * transaction (every read, and the writes that are one statement) do not wait for it. A uniqueness
 * the database enforces (an e-mail address) needs no lock: the constraint refuses the second writer.
 */
class LockingPostgresDriver extends PostgresDriver {
  override async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings) {
    await super.beginTransaction(connection, settings)
    await connection.executeQuery(CompiledQuery.raw(WRITE_LOCK))
  }
}

class CrmPostgresDialect extends PostgresDialect {
  readonly #config: PostgresDialectConfig
  constructor(config: PostgresDialectConfig) {
    super(config)
    this.#config = config
  }
  override createDriver() {
    return new LockingPostgresDriver(this.#config)
  }
}

/** Type ids of PostgreSQL's `bigint` (what `count` and `sum` of integers give) and `numeric`. */
const INT8 = 20
const NUMERIC = 1700

/**
 * `pg` reads `bigint` and `numeric` as strings, since they can exceed a double. Here they are counts,
 * sums of cents and ids, far below 2^53: read as numbers, as SQLite gives them.
 */
function getTypeParser(id: number): (text: string) => unknown {
  if (id === INT8 || id === NUMERIC) return Number
  return pg.types.getTypeParser(id, 'text') as (text: string) => unknown
}
const types = { getTypeParser: getTypeParser as typeof pg.types.getTypeParser }

export interface ConnectOptions {
  /** PostgreSQL: the most connections the pool keeps open. */
  poolSize?: number
  /**
   * PostgreSQL: told when an idle connection of the pool fails (the server restarted, or ended it).
   * The pool drops that connection and opens another when one is needed; unheard, `pg` would make
   * the failure an uncaught error that ends the process.
   */
  onIdleError?: (error: Error) => void
}

/** A pool of `size` connections to the PostgreSQL database at `url`. */
export function openPostgres(url: string, size: number, onIdleError: (error: Error) => void = () => undefined) {
  return new pg.Pool({ connectionString: url, max: size, types }).on('error', onIdleError)
}

/** Opens the database at `url` (see `parseDatabaseUrl`). */
export function connect(url: string, { poolSize = 10, onIdleError }: ConnectOptions = {}): Db {
  const location = parseDatabaseUrl(url)
  if (location.dialect === 'postgres') {
    const pool = openPostgres(location.url, poolSize, onIdleError)
    return new Kysely<Database>({ dialect: new CrmPostgresDialect({ pool }) })
  }
  const database = cachingStatements(openSqlite(location.filename))
  return new Kysely<Database>({ dialect: new CrmSqliteDialect({ database }) })
}

/** Whether a database error is a unique-constraint violation (SQLite or PostgreSQL). */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505'
}
