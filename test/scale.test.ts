// Two server processes (as `npm start` runs them) on one PostgreSQL database and one Redis, given
// conflicting work at the same moment: every rule holds across instances, and nothing is lost.
import { existsSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import t, { type Test } from 'tap'
import { connect } from '../src/db/connect.js'
import { migrateToLatest } from '../src/db/migrate.js'
import { createKey, hashKey } from '../src/services/keys.js'
import { undocumented } from './documented.js'
import { formData, MIGRATIONS, newCustomer } from './helper.js'
import { postgresSchema } from './postgres.js'
import { logged, root, type Run, startServer } from './process.js'

const REDIS_URL = 'redis://127.0.0.1:6379'
/** Requests a minute per key on both instances; the work below sends fewer than this with its key. */
const LIMIT = 400

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

type Server = Run & { port: number }

/** A connection of the test's own to `url`, closed when `t` ends. */
async function connection(t: Test, url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(() => client.end())
  return client
}

/** The rows of a query on the test's connection. */
async function rowsOf<R extends pg.QueryResultRow = Record<string, any>>(
  db: pg.Client,
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  return (await db.query<R>(text, values)).rows
}

/** The one row of a query on the test's connection. */
async function rowOf<R extends pg.QueryResultRow = Record<string, any>>(
  db: pg.Client,
  text: string,
  values: unknown[] = [],
): Promise<R> {
  const rows = await rowsOf<R>(db, text, values)
  if (rows.length !== 1) throw new Error(`${rows.length} rows from ${text}`)
  return rows[0]!
}

/** The backends waiting for a lock that the backend `pid` holds, directly or behind another waiting one. */
const WAITING_BEHIND = `
  with recursive waiting(pid) as (
    select pid from (select distinct pid from pg_locks where not granted) candidate
    where $1::int = any(pg_blocking_pids(candidate.pid))
    union
    select candidate.pid from (select distinct pid from pg_locks where not granted) candidate
    join waiting on waiting.pid = any(pg_blocking_pids(candidate.pid))
  )
  select count(*)::int as count from waiting`

/**
 * Makes work arrive in the database at one moment: `holder` takes `lock` in a transaction, each
 * group of `groups` sends its requests (each one backend's wait: a statement or a transaction) once
 * those of the groups before it wait, and the lock is let go once all of them wait for it (directly,
 * or queued behind one that does), or have answered instead; then they race. `waited` is how many
 * were waiting together when the lock went: every request, when each was under way at that moment.
 */
async function atOnce<T>(
  db: { holder: pg.Client; watch: pg.Client },
  lock: string,
  ...groups: (() => Promise<T>[])[]
): Promise<{ results: T[]; waited: number }> {
  const { pid } = await rowOf<{ pid: number }>(db.holder, 'select pg_backend_pid() as pid')
  const pending: Promise<T>[] = []
  let settled = 0
  let waited = 0
  await db.holder.query('begin')
  try {
    await db.holder.query(lock)
    for (const group of groups) {
      for (const work of group()) {
        const tracked = work.finally(() => settled++)
        // Handled here, so that a failure while the lock is held is reported below, not as unhandled.
        tracked.catch(() => undefined)
        pending.push(tracked)
      }
      // A bound only for a server that never sends the work: the loop ends as soon as all of it waits.
      const deadline = Date.now() + 30_000
      do {
        waited = (await rowOf<{ count: number }>(db.watch, WAITING_BEHIND, [pid])).count
        if (waited + settled >= pending.length) break
        await sleep(10)
      } while (Date.now() < deadline)
    }
  } finally {
    await db.holder.query('commit')
  }
  return { results: await Promise.all(pending), waited }
}

/** The tables the racing writes go to, locked against writes (reads go on) while a race's requests arrive. */
const HOLD_WRITES = 'lock table customers, products, customer_requests, upload_reports in exclusive mode'

/** Every answer the servers gave: which instance, the request, the status, and what breaks the document, if anything. */
interface Sent {
  instance: number
  method: string
  path: string
  status: number
  undocumented: string | undefined
}

interface Answer {
  status: number
  headers: Headers
  body: any
  text: string
}

/** A client of one instance sending one key; every answer is kept in `sent`. */
function clientOf(sent: Sent[], servers: Server[], instance: number, key: string) {
  const call = async (
    method: 'GET' | 'POST',
    path: string,
    { json, form }: { json?: unknown; form?: { payload: Buffer; contentType: string } } = {},
  ): Promise<Answer> => {
    const headers: Record<string, string> = { authorization: `Bearer ${key}` }
    let body: RequestInit['body']
    if (json !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(json)
    } else if (form) {
      headers['content-type'] = form.contentType
      body = new Uint8Array(form.payload)
    }
    const response = await fetch(`http://127.0.0.1:${servers[instance]!.port}${path}`, { method, headers, body })
    const text = await response.text()
    const contentType = response.headers.get('content-type') ?? undefined
    sent.push({
      instance,
      method,
      path,
      status: response.status,
      undocumented: undocumented(method, path, { status: response.status, contentType, body: text }),
    })
    const parsed = contentType?.includes('json') && text !== '' ? JSON.parse(text) : text
    return { status: response.status, headers: response.headers, body: parsed, text }
  }
  return {
    get: (path: string) => call('GET', path),
    post: (path: string, json: unknown) => call('POST', path, { json }),
    upload: (path: string, form: { payload: Buffer; contentType: string }) => call('POST', path, { form }),
  }
}

/** The environment of each instance: one database, one Redis; the pressure valve is not what is tested here. */
const serverEnv = (url: string, more: Record<string, string> = {}) => ({
  DATABASE_URL: url,
  REDIS_URL,
  LOG_LEVEL: 'info',
  // Two servers and the test share this machine's cores: a slow moment must not be answered 503
  // (the valve is tested on its own in test/limits.test.ts, as build() in test/helper.ts does).
  MAX_EVENT_LOOP_DELAY_MS: '60000',
  ...more,
})

/** The log lines of a server at error level or above. */
const errorLines = (server: Server) => server.logs().filter((line) => Number(line.level) >= 50)

/**
 * The first admin key of an instance on PostgreSQL goes to data/first-admin-key.txt under the
 * working directory (the project's folder here): any file already there is put aside, and put back
 * when `t` ends, after the servers are gone.
 */
function keepKeyFile(t: Test): string {
  const folder = join(root, 'data')
  const file = join(folder, 'first-admin-key.txt')
  const folderExisted = existsSync(folder)
  const aside = `${file}.scale-test-${process.pid}`
  const fileExisted = existsSync(file)
  if (fileExisted) renameSync(file, aside)
  t.teardown(() => {
    rmSync(file, { force: true })
    if (fileExisted) renameSync(aside, file)
    if (!folderExisted && existsSync(folder) && readdirSync(folder).length === 0) rmdirSync(folder)
  })
  return file
}

t.test(
  'two instances started together on a fresh schema migrate it once and make the first admin key once',
  async (t) => {
    t.setTimeout(45_000)
    const url = await postgresSchema(t)
    const keyFile = keepKeyFile(t)
    const db = { holder: await connection(t, url), watch: await connection(t, url) }
    // Both start while the test holds the schema's transaction lock (src/db/connect.ts: every
    // transaction takes it as it begins), so that both migration runs are under way at once.
    const started = await atOnce(db, `select pg_advisory_xact_lock(${0x43524d}, hashtext(current_schema()))`, () =>
      [1, 2].map(() => startServer(t, serverEnv(url))),
    )
    t.equal(started.waited, 2, 'both instances were waiting to migrate at the same moment')
    const servers = started.results

    const applied = await rowsOf(db.watch, 'select name from kysely_migration order by name')
    t.strictSame(
      applied.map((row) => row.name),
      MIGRATIONS,
      'each migration is recorded once',
    )
    const lines = servers.flatMap((server) => logged(server, 'migration applied'))
    t.strictSame(
      lines.map((line) => line.migration).sort(),
      MIGRATIONS,
      'together the two logs apply each migration once',
    )
    t.strictSame(
      lines.map((line) => line.status),
      MIGRATIONS.map(() => 'Success'),
      'each one successfully',
    )

    const keys = await rowsOf(db.watch, 'select id::int, name, role, prefix, hash, revoked from api_keys')
    t.equal(keys.length, 1, 'exactly one key is made')
    const [stored] = keys
    t.match(stored, { name: 'First admin key', role: 'admin', revoked: null })
    const message = 'made the first admin key and wrote it to a file only its owner can read'
    const made = servers.map((server) => logged(server, message))
    t.strictSame(
      made.map((found) => found.length).sort(),
      [0, 1],
      'only one of the two logs says it made the first admin key',
    )
    t.strictSame(made.flat(), [{ level: 40, key: stored?.prefix, file: 'data/first-admin-key.txt', msg: message }])
    const key = /^crm_[\w-]{43}(?=\n)/.exec(readFileSync(keyFile, 'utf8'))?.[0] ?? 'no key in the file'
    t.equal(hashKey(key), stored?.hash, 'the file holds the key that was stored')
    t.equal(statSync(keyFile).mode & 0o777, 0o600, 'readable by its owner only')
    for (const server of servers) t.notMatch(server.stdout() + server.stderr(), key, 'the key is in no log')

    const sent: Sent[] = []
    for (const instance of [0, 1]) {
      const listed = await clientOf(sent, servers, instance, key).get('/api/get/keys')
      t.equal(listed.status, 200, `the first admin key works on instance ${instance + 1}`)
      t.strictSame(listed.body, [
        {
          id: stored?.id,
          name: 'First admin key',
          role: 'admin',
          prefix: stored?.prefix,
          created: listed.body[0]?.created,
          revoked: null,
        },
      ])
    }
    t.strictSame(
      sent.filter((answer) => answer.undocumented),
      [],
      'every answer is documented',
    )
    t.strictSame(servers.flatMap(errorLines), [], 'no error is logged')
  },
)

t.test('two instances on one PostgreSQL database and one Redis, given conflicting work at once', async (t) => {
  t.setTimeout(90_000)
  const url = await postgresSchema(t)
  // The schema is migrated and the keys made before the servers start: a stored key exists, so
  // neither makes a first admin key; every key has a prefix of its own, and so its own rate-limit count.
  const setup = connect(url)
  await migrateToLatest(setup)
  const admin = await createKey(setup, 'Scale test', 'admin')
  const counted = await createKey(setup, 'Rate limit', 'reader')
  await setup.destroy()

  const env = serverEnv(url, { RATE_LIMIT_PER_MINUTE: String(LIMIT) })
  const servers = await Promise.all([1, 2].map(() => startServer(t, env)))
  const db = { holder: await connection(t, url), watch: await connection(t, url) }
  const sent: Sent[] = []
  const api = [0, 1].map((instance) => clientOf(sent, servers, instance, admin.key))
  const [one, two] = api as [(typeof api)[0], (typeof api)[0]]
  const query = (text: string, values?: unknown[]) => rowsOf(db.watch, text, values)
  const single = (text: string, values?: unknown[]) => rowOf(db.watch, text, values)

  /** What the answers say the database holds: customers (id to e-mail) and products (id to owner). */
  const customers = new Map<number, string>()
  const products = new Map<number, { owner: number | null; cents: number }>()

  await t.test('the same e-mail address added through both at once: one 201, one 409, one row', async (t) => {
    for (let round = 0; round < 4; round++) {
      // Five addresses a round, each sent to both: ten inserts waiting at once, five on each instance.
      const addresses = [0, 1, 2, 3, 4].map((k) => round * 5 + k)
      const requests = addresses.map((n) => {
        const email = `twice-${n}@example.com`
        // Every other address differs in case between the two: addresses ignore case.
        const other = n % 2 === 0 ? email : email.toUpperCase()
        return [
          { email, instance: one },
          { email: other, instance: two },
        ]
      })
      const { results, waited } = await atOnce(db, HOLD_WRITES, () =>
        requests
          .flat()
          .map(({ email, instance }) => instance.post('/api/add/customer', newCustomer({ name: 'Twice', email }))),
      )
      t.equal(waited, 10, `round ${round + 1}: all ten inserts were waiting at once`)
      for (const [k, n] of addresses.entries()) {
        const pair = [results[2 * k]!, results[2 * k + 1]!]
        const sentAs = requests[k]!.map((request) => request.email)
        t.strictSame(pair.map((answer) => answer.status).sort(), [201, 409], `twice-${n}: one 201, one 409`)
        const winner = pair.findIndex((answer) => answer.status === 201)
        const loser = 1 - winner
        t.equal(
          pair[loser]?.body.detail,
          `A customer with the e-mail address ${sentAs[loser]} already exists (e-mail addresses ignore case).`,
        )
        const rows = await query('select id::int, email from customers where email_key = $1', [
          `twice-${n}@example.com`,
        ])
        t.strictSame(rows, [{ id: pair[winner]?.body.id, email: sentAs[winner] }], `twice-${n}: one row, the 201's`)
        if (pair[winner]) customers.set(pair[winner].body.id, sentAs[winner]!)
      }
    }
  })

  // Shared by the parts below: customers made one at a time, alternating between the instances.
  let turn = 0
  const addCustomer = async (t: Test, name: string, email: string) => {
    const answer = await api[turn++ % 2]!.post('/api/add/customer', newCustomer({ name, email }))
    t.equal(answer.status, 201, `${email} added`)
    customers.set(answer.body.id, email)
    return answer.body.id as number
  }

  await t.test('products transferred through both at once: one owner each, every revenue exact', async (t) => {
    const [ada, grace, alan] = [
      await addCustomer(t, 'Ada Lovelace', 'ada@example.com'),
      await addCustomer(t, 'Grace Hopper', 'grace@example.com'),
      await addCustomer(t, 'Alan Turing', 'alan@example.com'),
    ] as [number, number, number]
    // Prices whose sums binary floating point gets wrong (0.1 + 0.2), and the largest allowed.
    const prices = [0.1, 0.2, 19.99, 1234.56, 9_999_999.99]
    const ids: number[] = []
    for (const [k, price] of prices.entries()) {
      const product = { name: `Kettle ${k}`, price, purchased: '2026-01-15', customerid: ada, warranty: 2 }
      const made = await api[k % 2]!.post('/api/add/product', product)
      t.equal(made.status, 201)
      ids.push(made.body.id)
      products.set(made.body.id, { owner: ada, cents: Math.round(price * 100) })
    }

    const check = async (round: number, targets: [number, number]) => {
      // Each product to one customer through the first instance and to another through the second.
      const { results, waited } = await atOnce(db, HOLD_WRITES, () =>
        ids.flatMap((id) => [
          one.post('/api/update/product', { id, changeto: targets[0] }),
          two.post('/api/update/product', { id, changeto: targets[1] }),
        ]),
      )
      t.equal(waited, 2 * ids.length, `round ${round}: all ${2 * ids.length} transfers were waiting at once`)
      for (const [k, id] of ids.entries()) {
        const pair = [results[2 * k]!, results[2 * k + 1]!]
        t.strictSame(
          pair.map((answer) => answer.status),
          [200, 200],
          `product ${id}: both transfers are made, one after the other`,
        )
        t.strictSame(
          pair.map((answer) => answer.body.customerid),
          targets,
          'each answer names the owner it gave',
        )
        const row = await single('select customerid::int, updated from products where id = $1', [id])
        t.ok(targets.includes(row.customerid), `product ${id} has one owner, one of the two`)
        // The transfer made last is the one the database holds, and its answer said so.
        const last = pair.find((answer) => answer.body.customerid === row.customerid)
        t.equal(last?.body.updated, row.updated, 'the answer naming that owner is the later one')
        t.ok(
          pair.every((answer) => answer.body.updated <= row.updated),
          'no answer is later than the change stored',
        )
        products.get(id)!.owner = row.customerid
        for (const client of api) {
          const read = await client.get(`/api/get/product?id=${id}`)
          t.equal(read.body.customerid, row.customerid, 'both instances read that owner')
        }
      }
      for (const customer of [ada, grace, alan]) {
        const cents = [...products.values()]
          .filter((product) => product.owner === customer)
          .reduce((sum, product) => sum + product.cents, 0)
        const { total } = await single(
          'select coalesce(sum(price_cents), 0)::bigint as total from products where customerid = $1',
          [customer],
        )
        t.equal(Number(total), cents, `customer ${customer}: the database sums the products the answers say`)
        for (const client of api) {
          const read = await client.get(`/api/get/customer?id=${customer}`)
          t.equal(read.status, 200)
          t.equal(read.body.revenue, cents / 100, `customer ${customer}: revenue ${cents / 100}, exact`)
        }
      }
    }
    await check(1, [grace, alan])
    await check(2, [ada, grace])
  })

  await t.test('a customer deleted through one while a product is added to them through the other', async (t) => {
    const outcomes: string[] = []
    for (let round = 0; round < 8; round++) {
      const id = await addCustomer(t, `Doomed ${round}`, `doomed-${round}@example.com`)
      const [deleter, adder] = round % 2 === 0 ? [one, two] : [two, one]
      const product = { name: 'Toaster', price: 25.5, purchased: '2026-02-01', customerid: id, warranty: 1 }
      const remove = () => [deleter.post('/api/delete/customer', { id })]
      const add = () => [adder.post('/api/add/product', product)]
      // Both wait at once every time. Which one is under way first (and so goes first) changes every
      // two rounds, and which instance deletes every round: each instance deletes and adds in either order.
      const deleteFirst = Math.floor(round / 2) % 2 === 0
      const { results, waited } = deleteFirst
        ? await atOnce(db, HOLD_WRITES, remove, add)
        : await atOnce(db, HOLD_WRITES, add, remove)
      const [deleted, added] = deleteFirst ? results : [...results].reverse()
      t.equal(waited, 2, `round ${round + 1}: the delete and the add were waiting at once`)
      const statuses = [added!.status, deleted!.status]
      outcomes.push(statuses.join('/'))
      t.ok(
        ['201/409', '404/200'].includes(statuses.join('/')),
        `round ${round + 1}: the add and the delete answer 201 and 409, or 404 and 200 (got ${statuses.join(' and ')})`,
      )
      const [customer] = await query('select id::int from customers where id = $1', [id])
      const owned = await query('select id::int from products where customerid = $1', [id])
      if (added!.status === 201) {
        t.equal(deleted!.body.detail, `Customer ${id} still has 1 product assigned; unassign or delete them first.`)
        t.strictSame(customer, { id }, 'the customer is kept')
        t.strictSame(owned, [{ id: added!.body.id }], 'with the product added')
        products.set(added!.body.id, { owner: id, cents: 2550 })
      } else {
        t.equal(added!.body.detail, `Customer ${id} does not exist.`)
        t.strictSame(deleted!.body, { deleted: [id] })
        t.equal(customer, undefined, 'the customer is gone')
        t.strictSame(owned, [], 'and no product points at them')
        customers.delete(id)
      }
      const { orphans } = await single(
        'select count(*)::int as orphans from products p left join customers c on c.id = p.customerid ' +
          'where p.customerid is not null and c.id is null',
      )
      t.equal(orphans, 0, 'no product points at a missing customer')
    }
    t.comment(`outcomes (add/delete): ${outcomes.join(', ')}`)
  })

  await t.test('the same 2,000 addresses uploaded to both at once: each stored once', async (t) => {
    const addresses = Array.from({ length: 2000 }, (_, n) => `upload-${n}@example.com`)
    const csv = addresses.map((email, n) => `Uploaded ${n},${email},${n} Mill Lane,,,,,active\n`).join('')
    const form = await formData({ filename: 'customers.csv', content: csv })
    const { results, waited } = await atOnce(db, HOLD_WRITES, () => [
      one.upload('/upload/customers', form),
      two.upload('/upload/customers', form),
    ])
    t.equal(waited, 2, 'both uploads were waiting to store at once')
    t.strictSame(
      results.map((answer) => answer.status),
      [201, 201],
      'both uploads are answered with their report',
    )
    const reports = results.map((answer) => answer.body)
    for (const report of reports) {
      t.match(report, { kind: 'customers', mode: 'insert', filename: 'customers.csv', rows: 2000, updated: 0 })
      t.equal(report.inserted + report.skipped, 2000, 'every row is inserted or skipped')
      t.equal(report.errors.length, Math.min(report.skipped, 1000), 'the first 1,000 skipped rows are listed')
      const reasons = report.errors.filter(
        (error: { row: number; reason: string }) =>
          !/^Email upload-\d+@example\.com belongs to a customer already stored \(id \d+\)$/.test(error.reason) ||
          !error.reason.includes(`upload-${error.row - 1}@`),
      )
      t.strictSame(reasons, [], 'each skipped because the other upload stored its address')
    }
    t.equal(reports[0].inserted + reports[1].inserted, 2000, 'the two reports insert 2,000 together')
    t.comment(`inserted: ${reports.map((report) => report.inserted).join(' and ')}`)
    const rows = await query(
      "select count(*)::int as count, count(distinct email_key)::int as distinct from customers where email like 'upload-%'",
    )
    t.strictSame(rows, [{ count: 2000, distinct: 2000 }], 'each address is stored once')
    for (const [k, report] of reports.entries()) {
      const again = await api[1 - k]!.get(`/upload/report?id=${report.id}`)
      t.strictSame(again.body, report, 'each report is kept, and the other instance reads it')
    }
  })

  await t.test('a ticket closed through both at once: one 200, one 409', async (t) => {
    const customerid = await addCustomer(t, 'Ticket Holder', 'tickets@example.com')
    const tickets: number[] = []
    for (let n = 0; n < 6; n++) {
      const opened = await api[n % 2]!.post('/api/open/customer/request', { customerid, request: `Problem ${n}` })
      t.equal(opened.status, 201)
      tickets.push(opened.body.id)
    }
    const closings = [
      { resolved: true, resolution: 'Closed through the first instance.' },
      { resolved: false, resolution: 'Closed through the second instance.' },
    ]
    const { results, waited } = await atOnce(db, HOLD_WRITES, () =>
      tickets.flatMap((id) => [
        one.post('/api/close/customer/request', { id, ...closings[0] }),
        two.post('/api/close/customer/request', { id, ...closings[1] }),
      ]),
    )
    t.equal(waited, 12, 'all twelve closes were waiting at once')
    for (const [k, id] of tickets.entries()) {
      const pair = [results[2 * k]!, results[2 * k + 1]!]
      t.strictSame(pair.map((answer) => answer.status).sort(), [200, 409], `ticket ${id}: one 200, one 409`)
      const winner = pair.findIndex((answer) => answer.status === 200)
      const closed = pair[winner]?.body
      t.match(closed, { id, customerid, ...closings[winner], closed: ISO })
      t.equal(
        pair[1 - winner]?.body.detail,
        `Ticket ${id} was already closed at ${closed?.closed}; a closed ticket cannot be closed again.`,
      )
      const rows = await query('select resolved::int, resolution, closed from customer_requests where id = $1', [id])
      t.strictSame(
        rows,
        [
          {
            resolved: closings[winner]!.resolved ? 1 : 0,
            resolution: closings[winner]!.resolution,
            closed: closed?.closed,
          },
        ],
        'the database holds the close that was answered 200',
      )
    }
  })

  await t.test('a key revoked on one instance is refused at once on the other', async (t) => {
    const [someone] = customers.keys()
    for (const [maker, revoker, other] of [
      [one, one, two],
      [two, two, one],
      [one, two, one],
    ] as const) {
      const made = await maker.post('/api/add/key', { name: 'Short-lived', role: 'reader' })
      t.equal(made.status, 201)
      const [here, there] = [0, 1].map((instance) => clientOf(sent, servers, instance, made.body.key))
      for (const client of [here!, there!]) t.equal((await client.get(`/api/get/customer?id=${someone}`)).status, 200)
      const revoked = await revoker.post('/api/revoke/key', { id: made.body.id })
      t.equal(revoked.status, 200)
      t.match(revoked.body, { id: made.body.id, revoked: ISO })
      // The other instance first, straight after the revocation's answer.
      const otherClient = other === one ? here! : there!
      const sameClient = other === one ? there! : here!
      const refused = await otherClient.get(`/api/get/customer?id=${someone}`)
      t.equal(refused.status, 401, 'the other instance refuses it at once')
      t.equal(refused.body.detail, 'The API key is not valid, or it has been revoked.')
      t.equal(
        (await sameClient.get(`/api/get/customer?id=${someone}`)).status,
        401,
        'and so does the instance that revoked it',
      )
    }
  })

  await t.test(`the rate limit is counted once across both: request ${LIMIT + 1} gets 429`, async (t) => {
    const [someone] = customers.keys()
    const clients = [0, 1].map((instance) => clientOf(sent, servers, instance, counted.key))
    const wrong: string[] = []
    for (let n = 1; n <= LIMIT; n++) {
      const answer = await clients[n % 2]!.get(`/api/get/customer?id=${someone}`)
      const remaining = answer.headers.get('ratelimit-remaining')
      const limit = answer.headers.get('ratelimit-limit')
      if (answer.status !== 200 || limit !== String(LIMIT) || remaining !== String(LIMIT - n)) {
        wrong.push(
          `request ${n} (instance ${(n % 2) + 1}): ${answer.status}, RateLimit-Limit ${limit}, RateLimit-Remaining ${remaining}`,
        )
      }
    }
    t.strictSame(wrong.slice(0, 10), [], `requests 1 to ${LIMIT}, alternating, pass and count down together`)
    const over = await clients[(LIMIT + 1) % 2]!.get(`/api/get/customer?id=${someone}`)
    t.equal(over.status, 429, `request ${LIMIT + 1} is refused`)
    t.match(over.headers.get('retry-after'), /^\d+$/, 'with Retry-After')
    t.match(over.body.detail, new RegExp(`^Too many requests: ${LIMIT} a minute are allowed; try again in .+\\.$`))
    const next = await clients[LIMIT % 2]!.get(`/api/get/customer?id=${someone}`)
    t.equal(next.status, 429, 'and so is the next one, on the other instance')
  })

  await t.test('afterwards: nothing lost, every constraint holds, no answer was a 5xx', async (t) => {
    const storedCustomers = await query(
      "select id::int, email from customers where email not like 'upload-%' order by id",
    )
    t.strictSame(
      storedCustomers,
      [...customers].sort(([a], [b]) => a - b).map(([id, email]) => ({ id, email })),
      'every customer answered 201 is stored, but for those answered deleted',
    )
    const { uploaded } = await single("select count(*)::int as uploaded from customers where email like 'upload-%'")
    t.equal(uploaded, 2000, 'the uploaded addresses, once each')
    const storedProducts = await query('select id::int, customerid::int, price_cents::int from products order by id')
    t.strictSame(
      storedProducts,
      [...products]
        .sort(([a], [b]) => a - b)
        .map(([id, { owner, cents }]) => ({ id, customerid: owner, price_cents: cents })),
      'every product answered 201 is stored, with the owner the answers say',
    )
    const integrity = await single(`
      select
        (select count(*)::int from products p left join customers c on c.id = p.customerid
          where p.customerid is not null and c.id is null) as orphan_products,
        (select count(*)::int from customer_requests r left join customers c on c.id = r.customerid
          where c.id is null) as orphan_tickets,
        (select count(*)::int - count(distinct email_key)::int from customers) as repeated_emails,
        (select count(*)::int from customer_requests where closed is null) as open_tickets,
        (select count(*)::int from upload_reports) as reports`)
    t.strictSame(
      integrity,
      { orphan_products: 0, orphan_tickets: 0, repeated_emails: 0, open_tickets: 0, reports: 2 },
      'no product or ticket points at a missing customer, no e-mail address twice, every ticket closed, two reports',
    )
    const keys = await query('select role, revoked is not null as revoked from api_keys order by id')
    t.strictSame(
      keys,
      [
        { role: 'admin', revoked: false },
        { role: 'reader', revoked: false },
        { role: 'reader', revoked: true },
        { role: 'reader', revoked: true },
        { role: 'reader', revoked: true },
      ],
      'the two keys made first, and the three revoked ones',
    )

    const statuses = new Map<string, number>()
    for (const { status } of sent) statuses.set(String(status), (statuses.get(String(status)) ?? 0) + 1)
    t.comment(`${sent.length} answers: ${[...statuses].map(([status, n]) => `${n} × ${status}`).join(', ')}`)
    t.strictSame(
      sent.filter((answer) => answer.status >= 500),
      [],
      'no answer was a 5xx',
    )
    t.strictSame(
      sent.filter((answer) => answer.undocumented),
      [],
      'every answer is one the document allows',
    )
    t.strictSame(servers.flatMap(errorLines), [], 'no error is logged')
    t.strictSame(
      servers.map((server) => logged(server, 'migration applied').length),
      [0, 0],
      'the schema was migrated before they started',
    )
    t.strictSame(
      servers.map((server) => server.child.exitCode),
      [null, null],
      'both instances still run',
    )
  })
})
