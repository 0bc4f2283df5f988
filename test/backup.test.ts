// Online backups (`npm run backup`, src/db/backup.ts): a consistent copy of the live database taken
// while the API goes on writing, restored and served again, and the refusals of the command.
import { randomBytes } from 'node:crypto'
import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { join, relative } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import SQLite from 'better-sqlite3'
import t, { type Test } from 'tap'
import { BackupError, backupDatabase, describeBackup } from '../src/db/backup.js'
import { connect } from '../src/db/connect.js'
import { migrateToLatest } from '../src/db/migrate.js'
import { build, customerRecord, escapeRegExp, exactly, newCustomer, tempFolder, type TestApp } from './helper.js'
import { runScript } from './process.js'

// Two apps on files, a few thousand rows, and five runs of the command through tsx: about 10 s
// alone on two cores; the ceiling leaves room for a machine busy with the other test files.
t.setTimeout(60_000)

/** The admin key the apps accept (API_KEY); 30 random bytes are 40 base64url characters. */
const KEY = randomBytes(30).toString('base64url')
const AUTH = { authorization: `Bearer ${KEY}` }

const SEEDED_CUSTOMERS = 3000

const USAGE = `Usage: npm run backup -- FILE [--force]
Copies the database named by DATABASE_URL (default data/crm.sqlite) into FILE while the server runs,
checks the copy (integrity_check, foreign_key_check) and prints its size, pages, time and rows per table.
  --force   replace FILE if it exists (refused otherwise)`

/** What a refusal of `backupDatabase` is, with its exact words. */
const refused = (message: string) => ({ name: 'BackupError', message: exactly(message) })

/** The rows of the seeded tables besides customers, and of the ones the seed leaves empty, in the order they were made. */
const OTHER_ROWS = {
  products: 400,
  feedback: 400,
  product_feedback: 400,
  customer_requests: 400,
  upload_reports: 0,
  export_records: 0,
  api_keys: 0,
}
const otherRows = Object.entries(OTHER_ROWS)
  .map(([table, count]) => `${table} ${count}`)
  .join(', ')
/** The change feed's rows in a copy holding `customers` (one event for each customer added through the API), and no webhooks. */
const feedRows = (customers: number) => ({
  events: customers - SEEDED_CUSTOMERS,
  idempotency_keys: 0,
  webhooks: 0,
  webhook_deliveries: 0,
  webhook_attempts: 0,
})
const feedRowsText = (customers: number) =>
  Object.entries(feedRows(customers))
    .map(([table, count]) => `${table} ${count}`)
    .join(', ')

/** "1 restart", "3 restarts". */
const restartsOf = (count: number) => (count === 1 ? '1 restart' : `${count} restarts`)

/** The app on the SQLite file `filename`, accepting KEY, without the rate limit the streams of writes would hit. */
const fileApp = (t: Test, filename: string) =>
  build(t, { DATABASE_URL: filename, LOG_LEVEL: 'silent', API_KEY: KEY, RATE_LIMIT_PER_MINUTE: 1_000_000 })

/** Seeds the live database straight through `app.db`: customers, products, feedback and tickets. */
async function seed(app: TestApp) {
  const time = new Date().toISOString()
  await app.db.transaction().execute(async (trx) => {
    for (let from = 1; from <= SEEDED_CUSTOMERS; from += 500) {
      const customers = Array.from({ length: 500 }, (_, i) => ({
        name: `Seeded Customer ${from + i}`,
        name_key: `seeded customer ${from + i}`,
        email: `seeded${from + i}@example.com`,
        email_key: `seeded${from + i}@example.com`,
        address: `${from + i} Long Street, a town with a name long enough to fill a page or two`,
        phone: from + i === 1 ? null : `+44 20 7946 ${String(from + i).padStart(4, '0')}`,
        optphone: i % 2,
        optemail: 1,
        optchat: 0,
        status: 'active' as const,
        created: time,
        updated: time,
      }))
      await trx.insertInto('customers').values(customers).execute()
    }
    const owners = Array.from({ length: 400 }, (_, i) => i * 7 + 1)
    const products = owners.map((customerid, i) => ({
      name: `Kettle ${i}`,
      name_key: `kettle ${i}`,
      price_cents: 2999,
      purchased: '2026-01-01',
      warranty: 2,
      customerid,
      created: time,
      updated: time,
    }))
    await trx.insertInto('products').values(products).execute()
    await trx
      .insertInto('feedback')
      .values(owners.map((customerid) => ({ customerid, heading: 'Good', body: 'It boils.', nps: 9, created: time })))
      .execute()
    const reviews = owners.map((customerid, i) => ({
      customerid,
      productid: i + 1,
      heading: 'Fine',
      body: 'Quiet.',
      nps: 8,
    }))
    await trx
      .insertInto('product_feedback')
      .values(reviews.map((review) => ({ ...review, created: time })))
      .execute()
    const tickets = owners.map((customerid) => ({
      customerid,
      request: 'Descale it?',
      resolved: 0,
      resolution: null,
      opened: time,
      closed: null,
    }))
    await trx.insertInto('customer_requests').values(tickets).execute()
  })
}

/** Adds customers through the API, three requests at a time, until stopped; counts the ones acknowledged (201). */
function startWriting(app: TestApp) {
  let acknowledged = 0
  let next = 0
  let stopped = false
  const failures: string[] = []
  const lane = async () => {
    while (!stopped && failures.length === 0) {
      const n = next++
      const response = await app.inject({
        method: 'POST',
        url: '/api/add/customer',
        headers: { ...AUTH, 'content-type': 'application/json' },
        payload: JSON.stringify(newCustomer({ name: `Written ${n}`, email: `written${n}@example.com` })),
      })
      if (response.statusCode === 201) acknowledged += 1
      else failures.push(`${response.statusCode} ${response.body}`)
    }
  }
  const lanes = Promise.all([lane(), lane(), lane()])
  return {
    acknowledged: () => acknowledged,
    /** Waits until `count` more writes are acknowledged. */
    async await(count: number) {
      const target = acknowledged + count
      while (acknowledged < target && failures.length === 0) await sleep(5)
    },
    /** Stops the writes, waits for the ones in flight, and returns any that failed. */
    async stop() {
      stopped = true
      await lanes
      return failures
    },
  }
}

/** Every row of `table` in id order, read through a connection of its own. */
function rowsOf(filename: string, table: string): unknown[] {
  const sqlite = new SQLite(filename, { readonly: true, fileMustExist: true })
  try {
    return sqlite.prepare(`select * from ${table} order by 1, 2`).all()
  } finally {
    sqlite.close()
  }
}

/**
 * The checks a backup must pass against the live database once the writes are over: it is whole
 * (integrity_check, foreign_key_check), and it is one moment of the live data: between `atLeast`
 * and `atMost` customers, each the same as the live one with its id, and the first N of them.
 */
function checkBackup(t: Test, copy: string, live: string, bounds: { atLeast: number; atMost: number }) {
  const sqlite = new SQLite(copy, { readonly: true, fileMustExist: true })
  t.teardown(() => sqlite.close())
  t.same(sqlite.pragma('integrity_check'), [{ integrity_check: 'ok' }], 'the copy passes integrity_check')
  t.same(sqlite.pragma('foreign_key_check'), [], 'the copy passes foreign_key_check: no row points at nothing')
  t.equal(
    sqlite.pragma('journal_mode', { simple: true }),
    'delete',
    'the copy is one file, without a WAL to go with it',
  )

  const copied = sqlite.prepare('select * from customers order by id').all() as { id: number }[]
  const liveRows = rowsOf(live, 'customers') as { id: number }[]
  const { atLeast, atMost } = bounds
  t.ok(
    copied.length >= atLeast,
    `the copy holds every customer acknowledged before it began (${copied.length} >= ${atLeast})`,
  )
  t.ok(copied.length <= atMost, `and none beyond the live table after the writes (${copied.length} <= ${atMost})`)
  const torn = copied.findIndex((row, i) => JSON.stringify(row) !== JSON.stringify(liveRows[i]))
  t.equal(torn, -1, 'every customer in the copy is the live row with that id, and they are the first N (no gaps)')
  if (torn >= 0) t.same(copied[torn], liveRows[torn], 'the first customer that differs')
  const sequence = sqlite.prepare(`select seq from sqlite_sequence where name = 'customers'`).pluck().get()
  t.equal(sequence, copied.at(-1)?.id, 'the id sequence in the copy is of the same moment as its rows')
  for (const table of ['products', 'feedback', 'product_feedback', 'customer_requests', 'kysely_migration']) {
    const rows = sqlite.prepare(`select * from ${table} order by 1, 2`).all()
    t.same(rows, rowsOf(live, table), `the copy's ${table} equals the live table`)
  }
  return copied.length
}

t.test('backups of the live database while the API writes to it, and a restore from one', async (t) => {
  const dir = tempFolder(t, 'backup')
  const live = join(dir, 'crm.sqlite')
  const app = await fileApp(t, live)
  await seed(app)
  const writer = startWriting(app)
  t.teardown(() => writer.stop())
  await writer.await(20)

  const inProcess = join(dir, 'backups', 'in-process.sqlite')
  const beforeInProcess = SEEDED_CUSTOMERS + writer.acknowledged()
  // Small steps at first, so that the copy takes many turns of the event loop and writes land between them.
  const result = await backupDatabase(live, inProcess, { pagesPerStep: 8 })
  const duringInProcess = writer.acknowledged() + SEEDED_CUSTOMERS - beforeInProcess
  t.comment(describeBackup(result))

  // The command replaces an older file by that name: with --force.
  const cli = join(dir, 'backups', 'cli.sqlite')
  writeFileSync(cli, 'an older backup')
  const beforeCli = SEEDED_CUSTOMERS + writer.acknowledged()
  const command = runScript(t, 'src/backup.ts', ['--force', cli], { DATABASE_URL: live, API_KEY: KEY })
  const exit = await command.exit
  const duringCli = writer.acknowledged() + SEEDED_CUSTOMERS - beforeCli
  t.same(await writer.stop(), [], 'every write of the stream was acknowledged (201)')
  const after = rowsOf(live, 'customers').length

  t.test('backupDatabase() in the same process as the server', async (t) => {
    t.ok(duringInProcess > 0, `writes were acknowledged while the backup ran (${duringInProcess})`)
    const count = checkBackup(t, inProcess, live, { atLeast: beforeInProcess, atMost: after })
    t.equal(result.file, inProcess, 'the result names the backup file')
    t.equal(result.rows.customers, count, 'it counts the customers of the copy')
    t.same(result.rows, { customers: count, ...OTHER_ROWS, ...feedRows(count) }, 'and the rows of the other tables')
    t.equal(result.bytes, result.pages * result.pageSize, 'its size is its pages')
    const files = readdirSync(join(dir, 'backups'))
    t.same(files, ['cli.sqlite', 'in-process.sqlite'], 'no temporary file or journal is left beside the backups')
    t.equal(
      describeBackup(result),
      `Backed up ${live} to ${inProcess}: ${result.bytes} bytes, ${result.pages} pages of 4096 bytes, ` +
        `${Math.round(result.milliseconds)} ms (${restartsOf(result.restarts)} for writes), ` +
        `integrity ok, foreign keys ok; rows: customers ${count}, ${otherRows}, ${feedRowsText(count)}`,
      'the line printed names the file, its size, pages, time and the rows per table',
    )
  })

  t.test('npm run backup -- --force FILE while the server writes', async (t) => {
    t.equal(exit, 0, `the command succeeds and replaces the older file (stderr: ${command.stderr()})`)
    t.equal(command.stderr(), '', 'and writes nothing to stderr')
    t.ok(duringCli > 0, `writes were acknowledged while it ran (${duringCli})`)
    const count = checkBackup(t, cli, live, { atLeast: beforeCli, atMost: after })
    // Its size and time are the command's own to know: the line says them, and the size is its pages.
    const line = new RegExp(
      `^Backed up ${escapeRegExp(live)} to ${escapeRegExp(cli)}: (\\d+) bytes, (\\d+) pages of 4096 bytes, ` +
        `\\d+ ms \\((1 restart|\\d+ restarts) for writes\\), integrity ok, foreign keys ok; ` +
        `rows: customers ${count}, ${otherRows}, ${feedRowsText(count)}\n$`,
    )
    t.match(command.stdout(), line, 'it prints one line: the file, its size, pages, time and the rows per table')
    const [, bytes, pages] = line.exec(command.stdout()) ?? []
    t.equal(Number(bytes), Number(pages) * 4096, 'its size is its pages')
    t.equal(command.stdout().trim().split('\n').length, 1, 'one line')
  })

  t.test('restoring: the backup copied to a new database path is served as it was', async (t) => {
    await app.close()
    interface Customer {
      id: number
      name: string
      email: string
      address: string
      created: string
    }
    const copied = rowsOf(inProcess, 'customers') as Customer[]
    const last = copied.at(-1)!
    t.ok(
      after > copied.length,
      'the live database went on past the backup (so the restore shows the moment of the backup)',
    )

    const restored = join(dir, 'restored', 'crm.sqlite')
    mkdirSync(join(dir, 'restored'))
    copyFileSync(inProcess, restored)
    const restoredApp = await fileApp(t, restored)
    const get = (id: number) => restoredApp.inject({ method: 'GET', url: `/api/get/customer?id=${id}`, headers: AUTH })
    const found = await get(last.id)
    t.equal(found.statusCode, 200, 'the last customer of the backup is found through the API')
    const { id, name, email, address, created } = last
    t.same(found.json(), customerRecord(id, created, { name, email, address }), 'as it was stored')
    t.equal(
      (await get(last.id + 1)).statusCode,
      404,
      'a customer added after the backup is not in the restored database',
    )
    const added = await restoredApp.inject({
      method: 'POST',
      url: '/api/add/customer',
      headers: AUTH,
      payload: newCustomer({ email: 'after-restore@example.com' }),
    })
    t.equal(added.statusCode, 201, 'the restored database takes writes')
    t.same(
      added.json(),
      customerRecord(last.id + 1, added.json().created, { email: 'after-restore@example.com' }),
      'and ids go on from the backup',
    )
  })
})

t.test('npm run backup refuses what it cannot do right, with a message and a non-zero exit code', async (t) => {
  const dir = tempFolder(t, 'backup')
  const live = join(dir, 'crm.sqlite')
  const db = connect(live)
  await migrateToLatest(db)
  await db.destroy()
  const existing = join(dir, 'existing.sqlite')
  writeFileSync(existing, 'an older backup')

  // (--force is used by the backup taken while the API writes, above.)
  const [noFile, memory, missing, exists, postgres] = [
    runScript(t, 'src/backup.ts', [], { DATABASE_URL: live }),
    runScript(t, 'src/backup.ts', [join(dir, 'memory.sqlite')], { DATABASE_URL: ':memory:' }),
    runScript(t, 'src/backup.ts', [join(dir, 'missing-backup.sqlite')], {
      DATABASE_URL: join(dir, 'nowhere', 'crm.sqlite'),
    }),
    runScript(t, 'src/backup.ts', [existing], { DATABASE_URL: live }),
    runScript(t, 'src/backup.ts', [join(dir, 'pg.sqlite')], { DATABASE_URL: 'postgres://crm@127.0.0.1:5432/crm' }),
  ]

  t.equal(await noFile.exit, 2, 'no FILE: a usage error (exit code 2)')
  t.equal(noFile.stderr(), `The backup FILE is missing.\n${USAGE}\n`, 'saying what, and how')

  t.equal(await memory.exit, 1, 'DATABASE_URL=:memory: is refused (exit code 1)')
  t.equal(
    memory.stderr(),
    'DATABASE_URL is :memory: — an in-memory database lives only inside the server process; there is no file to back up\n',
    'saying an in-memory database has no file',
  )
  t.equal(await missing.exit, 1, 'a database file that does not exist is refused (exit code 1)')
  t.equal(
    missing.stderr(),
    `The database file ${join(dir, 'nowhere', 'crm.sqlite')} does not exist (DATABASE_URL); nothing to back up\n`,
    'saying which file is missing',
  )
  t.notOk(existsSync(join(dir, 'nowhere')), 'and it is not created, as the server would')

  t.equal(await exists.exit, 1, 'an existing FILE is refused without --force (exit code 1)')
  t.equal(
    exists.stderr(),
    `The backup file ${existing} already exists; choose another name, or pass --force to replace it\n`,
    'saying so, and how to replace it',
  )
  t.equal(readFileSync(existing, 'utf8'), 'an older backup', 'and it is left as it was')

  t.equal(await postgres.exit, 1, 'a PostgreSQL DATABASE_URL is refused (exit code 1), without connecting')
  t.equal(
    postgres.stderr(),
    'DATABASE_URL is a PostgreSQL database: npm run backup copies SQLite files. Back PostgreSQL up with its own ' +
      'pg_dump, which takes a consistent copy while the servers run:\n' +
      '    pg_dump --format=custom --file=crm.dump "$DATABASE_URL"\n' +
      'and restore it into an empty database with:\n' +
      '    pg_restore --dbname="$DATABASE_URL" crm.dump\n',
    'saying how to back it up with pg_dump and restore it',
  )

  t.same(
    readdirSync(dir).filter((name) => !name.startsWith('crm.sqlite')),
    ['existing.sqlite'],
    'none of them writes a file, not even a temporary one',
  )
})

t.test('backupDatabase() never writes a backup that is not whole and right, nor over the live database', async (t) => {
  const dir = tempFolder(t, 'backup')
  const live = join(dir, 'crm.sqlite')
  const db = connect(live)
  await migrateToLatest(db)
  await db.destroy()
  /** Files a backup to `b.sqlite` may leave: the backup, or a temporary copy (`.NAME.RANDOM.tmp`) with its journals. */
  const leftovers = () => readdirSync(dir).filter((name) => name.startsWith('b.sqlite') || name.startsWith('.'))

  for (const destination of [live, `${live}-wal`, `${live}-journal`, relative(process.cwd(), live)]) {
    await t.rejects(
      backupDatabase(live, destination, { force: true }),
      refused(`The backup file ${destination} is the live database ${live} or one of its files; choose another name`),
      `${destination} is refused even with force`,
    )
  }
  const alias = join(dir, 'alias.sqlite')
  linkSync(live, alias)
  await t.rejects(
    backupDatabase(live, alias, { force: true }),
    refused(`The backup file ${alias} is the live database ${live} or one of its files; choose another name`),
    'so is another name of the same file (a hard link)',
  )
  rmSync(join(dir, 'alias.sqlite'))

  writeFileSync(join(dir, 'stale.sqlite-wal'), 'a journal left behind')
  await t.rejects(
    backupDatabase(live, join(dir, 'stale.sqlite')),
    refused(
      `${join(dir, 'stale.sqlite-wal')} exists (a database by that name is open or was not closed cleanly); ` +
        'choose another name',
    ),
    'a name with a journal beside it is refused: SQLite would replay it into the backup',
  )
  rmSync(join(dir, 'stale.sqlite-wal'))

  await t.rejects(
    backupDatabase(join(dir, 'sub'), join(dir, 'b.sqlite')),
    refused(`The database file ${join(dir, 'sub')} does not exist (DATABASE_URL); nothing to back up`),
    'a missing source is refused',
  )
  await t.rejects(
    backupDatabase(dir, join(dir, 'b.sqlite')),
    refused(`The database path ${dir} is not a file (DATABASE_URL)`),
    'so is a folder',
  )
  await t.rejects(
    backupDatabase(':memory:', join(dir, 'b.sqlite')),
    refused(
      'DATABASE_URL is :memory: — an in-memory database lives only inside the server process; there is no file to back up',
    ),
    'and :memory:',
  )

  const text = join(dir, 'notes.txt')
  writeFileSync(text, 'not a database, but long enough to look like a header of one. '.repeat(20))
  await t.rejects(
    backupDatabase(text, join(dir, 'b.sqlite')),
    { code: 'SQLITE_NOTADB', message: exactly('file is not a database') },
    'a source that is not SQLite fails',
  )
  t.same(leftovers(), [], 'and leaves no file behind')
  rmSync(text)

  const orphaned = join(dir, 'orphaned.sqlite')
  copyFileSync(live, orphaned)
  const sqlite = new SQLite(orphaned)
  sqlite.pragma('foreign_keys = OFF')
  sqlite.exec(`insert into products (name, name_key, price_cents, purchased, warranty, customerid, created, updated)
               values ('Kettle', 'kettle', 100, '2026-01-01', 2, 999, 'x', 'x')`)
  sqlite.close()
  await t.rejects(
    backupDatabase(orphaned, join(dir, 'b.sqlite')),
    refused('The copy failed foreign_key_check (1 row(s): products row 1 → customers), so no backup was written'),
    'a copy failing foreign_key_check is not kept',
  )
  t.same(leftovers(), [], 'nor any temporary file')
  rmSync(orphaned)

  // An index whose declared order (NOCASE) is not the order its entries were written in (binary).
  const misindexed = join(dir, 'misindexed.sqlite')
  const broken = new SQLite(misindexed)
  broken.exec(`create table t (a text); create index t_a on t (a); insert into t values ('B'), ('a'), ('C'), ('d')`)
  broken.unsafeMode(true).pragma('writable_schema = ON')
  broken.exec(`update sqlite_schema set sql = 'CREATE INDEX t_a ON t (a COLLATE NOCASE)' where name = 't_a'`)
  broken.close()
  await t.rejects(
    backupDatabase(misindexed, join(dir, 'b.sqlite')),
    refused('The copy failed integrity_check, so no backup was written: row 2 missing from index t_a'),
    'a copy failing integrity_check is not kept',
  )
  t.same(leftovers(), [], 'nor any temporary file')

  writeFileSync(join(dir, 'b.sqlite'), 'an older backup')
  const replaced = await backupDatabase(live, join(dir, 'b.sqlite'), { force: true })
  t.same(
    rowsOf(join(dir, 'b.sqlite'), 'kysely_migration'),
    rowsOf(live, 'kysely_migration'),
    'with force, an older file is replaced by the backup',
  )
  t.equal(replaced.restarts, 0, 'which took no restart, nothing writing meanwhile')
  rmSync(join(dir, 'b.sqlite'))

  const signal = AbortSignal.abort(new BackupError('Interrupted'))
  await t.rejects(
    backupDatabase(live, join(dir, 'b.sqlite'), { signal }),
    refused('Interrupted'),
    'an interrupted backup stops',
  )
  t.same(leftovers(), [], 'and leaves nothing')

  const raced = join(dir, 'raced.sqlite')
  const pending = backupDatabase(live, raced, { pagesPerStep: 1 })
  writeFileSync(raced, 'written by someone else meanwhile')
  await t.rejects(
    pending,
    refused(`The backup file ${raced} already exists; choose another name, or pass --force to replace it`),
    'a file that appears under the name during the copy is not replaced',
  )
  t.equal(readFileSync(raced, 'utf8'), 'written by someone else meanwhile', 'it is left as it was')
  t.same(leftovers(), [], 'and the copy is removed')
})
