// The database layer: DATABASE_URL, SQLite settings, the statement cache and the migrations.
import { promises as fs, writeFileSync } from 'node:fs'
import path, { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import SQLite from 'better-sqlite3'
import { FileMigrationProvider, Kysely, Migrator, NO_MIGRATIONS, SqliteDialect } from 'kysely'
import pg from 'pg'
import t from 'tap'
import { cachingStatements, connect, openSqlite, parseDatabaseUrl } from '../src/db/connect.js'
import { migrateToLatest, migrationFolder } from '../src/db/migrate.js'
import { build, exactly, MIGRATIONS, tempFolder } from './helper.js'
import { POSTGRES_URL, postgresSchema } from './postgres.js'

t.test('DATABASE_URL forms', async (t) => {
  t.same(parseDatabaseUrl(':memory:'), { dialect: 'sqlite', filename: ':memory:' })
  t.same(parseDatabaseUrl('data/crm.sqlite'), { dialect: 'sqlite', filename: 'data/crm.sqlite' })
  t.same(parseDatabaseUrl('file:/var/lib/crm.db'), { dialect: 'sqlite', filename: '/var/lib/crm.db' })
  t.same(parseDatabaseUrl('sqlite:///var/lib/crm.db'), { dialect: 'sqlite', filename: '/var/lib/crm.db' })
  t.same(parseDatabaseUrl('postgres://localhost/test'), { dialect: 'postgres', url: 'postgres://localhost/test' })
  t.same(parseDatabaseUrl('postgresql://u@db:5433/crm?sslmode=require'), {
    dialect: 'postgres',
    url: 'postgresql://u@db:5433/crm?sslmode=require',
  })
  t.throws(() => parseDatabaseUrl('postgres:crm'), {
    message: exactly('DATABASE_URL: a PostgreSQL URL starts with postgres://'),
  })
  t.throws(() => parseDatabaseUrl('sqlite:'), { message: exactly('DATABASE_URL: no file name given') })
})

t.test('a SQLite file: created with its folder, WAL journal, foreign keys, busy timeout, full sync', async (t) => {
  const filename = join(tempFolder(t, 'db'), 'nested', 'crm.sqlite')
  const sqlite = openSqlite(filename)
  t.teardown(() => sqlite.close())
  t.equal(sqlite.pragma('journal_mode', { simple: true }), 'wal')
  t.equal(sqlite.pragma('foreign_keys', { simple: true }), 1)
  t.equal(sqlite.pragma('busy_timeout', { simple: true }), 5000)
  t.equal(sqlite.pragma('synchronous', { simple: true }), 2)
})

t.test('a transaction holds the write lock from its start (BEGIN IMMEDIATE)', async (t) => {
  const filename = join(tempFolder(t, 'db'), 'crm.sqlite')
  const db = connect(filename)
  t.teardown(() => db.destroy())
  await migrateToLatest(db)
  const other = new SQLite(filename)
  other.pragma('busy_timeout = 0')
  t.teardown(() => other.close())
  await db.transaction().execute(async (trx) => {
    await trx.selectFrom('customers').select('id').execute()
    t.throws(() => other.exec('begin immediate'), { code: 'SQLITE_BUSY' }, 'another writer must wait')
  })
  other.exec('begin immediate')
  other.exec('rollback')
  t.pass('free again after the commit')
})

t.test('on PostgreSQL, a transaction holds the write lock of its schema from its start', async (t) => {
  const url = await postgresSchema(t)
  const [first, second, elsewhere] = [connect(url), connect(url), connect(await postgresSchema(t))]
  t.teardown(() => Promise.all([first.destroy(), second.destroy(), elsewhere.destroy()]))
  const order: string[] = []
  let entered!: () => void
  const inFirst = new Promise<void>((resolve) => (entered = resolve))
  const holding = first.transaction().execute(async () => {
    entered()
    // Long enough for the other transactions to have begun, had they not been made to wait.
    await new Promise((resolve) => setTimeout(resolve, 300))
    order.push('first commits')
  })
  await inFirst
  const waiting = second.transaction().execute(async () => void order.push('second begins'))
  await elsewhere.transaction().execute(async () => void order.push('another schema begins'))
  await Promise.all([holding, waiting])
  t.same(order, ['another schema begins', 'first commits', 'second begins'])
  await first.transaction().execute(async () => void order.push('free again'))
  t.equal(order.at(-1), 'free again', 'the lock ends with its transaction')
})

t.test('on PostgreSQL, an idle connection ended by the server is replaced, and the app goes on', async (t) => {
  const name = `crm_idle_${process.pid}_${Date.now()}`
  const url = new URL(await postgresSchema(t))
  url.searchParams.set('application_name', name)
  const app = await build(t, { DATABASE_URL: url.toString() })
  const lookUp = () => app.inject({ url: '/api/get/customer?id=1' })
  t.equal((await lookUp()).statusCode, 404, 'served: a pooled connection is now idle')
  const admin = new pg.Client({ connectionString: POSTGRES_URL })
  await admin.connect()
  t.teardown(() => admin.end())
  const { rows } = await admin.query<{ ended: boolean }>(
    'select pg_terminate_backend(pid) as ended from pg_stat_activity where application_name = $1',
    [name],
  )
  t.ok(rows.length > 0 && rows.every((row) => row.ended), `the server ended ${rows.length} idle connection(s)`)
  const warned = () =>
    app.logs().some((line) => line.msg === 'an idle database connection failed; the pool replaces it')
  for (let waited = 0; !warned() && waited < 5000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20))
  t.ok(warned(), 'the failure is logged as a warning')
  t.equal((await lookUp()).statusCode, 404, 'and the next request is served on a new connection')
})

t.test('the statement cache', async (t) => {
  const sqlite = new SQLite(':memory:')
  t.teardown(() => sqlite.close())
  const db = cachingStatements(sqlite, 2)

  t.test('hands back the statement already prepared for the same SQL', async (t) => {
    const first = db.prepare('select 1 as one')
    t.equal(db.prepare('select 1 as one'), first)
    t.not(db.prepare('select 2 as two'), first)
  })

  t.test('prepares anew while the cached statement is still being iterated', async (t) => {
    sqlite.exec('create table n (v integer); insert into n values (1), (2), (3)')
    const reading = db.prepare('select v from n order by v')
    const iterator = reading.iterate([]) as IterableIterator<{ v: number }>
    t.same(iterator.next().value, { v: 1 })
    const other = db.prepare('select v from n order by v')
    t.not(other, reading, 'a busy statement is not shared')
    t.same(other.all([]), [{ v: 1 }, { v: 2 }, { v: 3 }])
    t.same(
      [...iterator].map((row) => row.v),
      [2, 3],
      'the first reader is undisturbed',
    )
  })

  t.test('keeps at most its capacity, dropping the least recently used', async (t) => {
    const a = db.prepare('select 10')
    const b = db.prepare('select 11')
    t.equal(db.prepare('select 10'), a, 'a is now the most recently used')
    db.prepare('select 12')
    t.equal(db.prepare('select 10'), a, 'a stayed')
    t.not(db.prepare('select 11'), b, 'b was dropped and is prepared anew')
  })

  t.test('Kysely runs through it', async (t) => {
    const kysely = new Kysely<{ n: { v: number } }>({
      dialect: new SqliteDialect({ database: cachingStatements(new SQLite(':memory:')) }),
    })
    t.teardown(() => kysely.destroy())
    await kysely.schema.createTable('n').addColumn('v', 'integer').execute()
    await kysely
      .insertInto('n')
      .values([{ v: 1 }, { v: 2 }])
      .execute()
    for (let i = 0; i < 3; i++) {
      t.same(await kysely.selectFrom('n').select('v').where('v', '>', 1).execute(), [{ v: 2 }])
    }
  })
})

t.test('migrations', async (t) => {
  t.test('create the tables, their keys and an index for every lookup; a second run does nothing', async (t) => {
    const filename = join(tempFolder(t, 'db'), 'crm.sqlite')
    const db = connect(filename)
    t.teardown(() => db.destroy())
    const results = await migrateToLatest(db)
    t.same(
      results.map((r) => [r.migrationName, r.status]),
      MIGRATIONS.map((name) => [name, 'Success']),
    )
    t.same(await migrateToLatest(db), [], 'nothing is pending')

    const sqlite = new SQLite(filename, { readonly: true })
    t.teardown(() => sqlite.close())
    const names = (type: string) =>
      (
        sqlite
          .prepare(
            `select name from sqlite_master where type = ? and name not like 'sqlite_%' and name not like 'kysely_%' order by name`,
          )
          .all(type) as { name: string }[]
      ).map((row) => row.name)
    t.same(names('table'), [
      'api_keys',
      'customer_requests',
      'customers',
      'events',
      'export_records',
      'feedback',
      'idempotency_keys',
      'product_feedback',
      'products',
      'upload_reports',
      'webhook_attempts',
      'webhook_deliveries',
      'webhooks',
    ])
    t.same(names('index'), [
      'customer_requests_customerid',
      'customers_email_key',
      'customers_name_key',
      'events_entity',
      'events_time',
      'events_type',
      'feedback_customerid',
      'idempotency_keys_expires',
      'product_feedback_customerid',
      'product_feedback_productid',
      'products_customerid',
      'products_name_key',
      'webhook_attempts_webhook',
      'webhook_deliveries_due',
    ])
    const unique = sqlite
      .prepare(`select "unique" from pragma_index_list('customers') where name = ?`)
      .get('customers_email_key')
    t.same(unique, { unique: 1 }, 'e-mail keys are unique')
    const foreignKeys = (table: string) =>
      sqlite.prepare(`select "table", "from", on_delete from pragma_foreign_key_list(?) order by "from"`).all(table)
    t.same(foreignKeys('products'), [{ table: 'customers', from: 'customerid', on_delete: 'RESTRICT' }])
    t.same(foreignKeys('feedback'), [{ table: 'customers', from: 'customerid', on_delete: 'CASCADE' }])
    t.same(foreignKeys('product_feedback'), [
      { table: 'customers', from: 'customerid', on_delete: 'CASCADE' },
      { table: 'products', from: 'productid', on_delete: 'SET NULL' },
    ])
    t.same(foreignKeys('customer_requests'), [{ table: 'customers', from: 'customerid', on_delete: 'CASCADE' }])
  })

  t.test('the constraints hold in the database itself', async (t) => {
    const db = connect(':memory:')
    t.teardown(() => db.destroy())
    await migrateToLatest(db)
    const time = new Date().toISOString()
    const customer = {
      name: 'A',
      name_key: 'a',
      email: 'a@x.io',
      email_key: 'a@x.io',
      address: 'x',
      phone: null,
      optphone: 0,
      optemail: 0,
      optchat: 0,
      status: 'active' as const,
      created: time,
      updated: time,
    }
    await db.insertInto('customers').values(customer).execute()
    await t.rejects(db.insertInto('customers').values(customer).execute(), { code: 'SQLITE_CONSTRAINT_UNIQUE' })
    await t.rejects(
      db
        .insertInto('customers')
        .values({ ...customer, email_key: 'b', status: 'gone' as 'active' })
        .execute(),
      { code: 'SQLITE_CONSTRAINT_CHECK' },
    )
    await t.rejects(
      db
        .insertInto('customers')
        .values({ ...customer, email_key: 'c', optchat: 2 })
        .execute(),
      { code: 'SQLITE_CONSTRAINT_CHECK' },
    )
    const product = {
      name: 'p',
      name_key: 'p',
      price_cents: 100,
      purchased: '2026-01-01',
      warranty: 2,
      customerid: 99,
      created: time,
      updated: time,
    }
    await t.rejects(db.insertInto('products').values(product).execute(), { code: 'SQLITE_CONSTRAINT_FOREIGNKEY' })
    await t.rejects(
      db
        .insertInto('products')
        .values({ ...product, customerid: null, price_cents: -1 })
        .execute(),
      {
        code: 'SQLITE_CONSTRAINT_CHECK',
      },
    )
    await t.rejects(
      db
        .insertInto('products')
        .values({ ...product, customerid: null, warranty: 51 })
        .execute(),
      {
        code: 'SQLITE_CONSTRAINT_CHECK',
      },
    )
  })

  t.test('a failing migration throws, naming it, and the whole run is rolled back', async (t) => {
    const folder = tempFolder(t, 'db')
    writeFileSync(
      join(folder, '001_good.mjs'),
      `export async function up(db) { await db.schema.createTable('a').addColumn('id', 'integer').execute() }`,
    )
    writeFileSync(
      join(folder, '002_bad.mjs'),
      `export async function up(db) {
        await db.schema.createTable('b').addColumn('id', 'integer').execute()
        await db.schema.createTable('a').addColumn('id', 'integer').execute()
      }`,
    )
    const db = connect(':memory:')
    t.teardown(() => db.destroy())
    await t.rejects(migrateToLatest(db, folder), {
      message: exactly('Migration 002_bad failed: table "a" already exists'),
    })
    const tables = await db.introspection.getTables()
    t.same(tables, [], 'nothing of the run is left: neither table b nor table a')
    const { count } = await db
      .selectFrom('kysely_migration' as never)
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow()
    t.equal(count, 0, 'no migration is recorded as applied')
  })

  t.test('every migration can be undone', async (t) => {
    const db = connect(':memory:')
    t.teardown(() => db.destroy())
    await migrateToLatest(db)
    const migrator = new Migrator({ db, provider: new FileMigrationProvider({ fs, path, migrationFolder }) })
    const { error } = await migrator.migrateTo(NO_MIGRATIONS)
    t.equal(error, undefined)
    t.same(
      (await db.introspection.getTables()).map((table) => table.name),
      [],
    )
  })

  t.test('the app does not start when a migration fails, and closes the database', async (t) => {
    const filename = join(tempFolder(t, 'db'), 'crm.sqlite')
    const sqlite = new SQLite(filename)
    sqlite.exec('create table products (id integer)')
    sqlite.close()
    await t.rejects(build(t, { DATABASE_URL: filename, LOG_LEVEL: 'silent' }), {
      message: exactly('Migration 20261129_001_initial failed: table "products" already exists'),
    })
    const after = new SQLite(filename, { readonly: true })
    t.teardown(() => after.close())
    t.same(
      after
        .prepare(`select name from sqlite_master where type = 'table' and name not like 'kysely_%' order by name`)
        .all(),
      [{ name: 'products' }],
      'nothing of the failed migration is left',
    )
  })

  t.test('the migrations folder is the one at the project root', async (t) => {
    t.equal(migrationFolder, fileURLToPath(new URL('../migrations', import.meta.url)))
  })
})
