// Idempotency keys: a retried change gets its first answer and changes nothing; one key names one
// request (422 for another); a request in flight holds its key (409); failures that changed nothing
// are kept, refusals and server errors are not; keys expire, are scoped to their API key, and the
// stored answers are sealed. Last, a server killed with keyed writes in flight keeps each answer
// stored together with its change, or neither.
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import t, { type Test } from 'tap'
import type { Db } from '../src/db/connect.js'
import { createKey } from '../src/services/keys.js'
import {
  AS_ADMIN,
  build,
  type Client,
  client,
  newCustomer,
  newProduct,
  PROBLEM_JSON,
  problemBody,
  type Reply,
  serve,
  tempFolder,
  TEST_KEY,
  type TestApp,
  until,
  upload,
} from './helper.js'
import { postgresSchema, TEST_DATABASE_URL } from './postgres.js'
import { killWithKeyedWritesInFlight } from './idempotency-kill.js'

const KEY = 'idempotency-key'
const REPLAYED = 'idempotent-replayed'

/** The options of a call that sends `key` as its Idempotency-Key, with `headers` besides. */
const keyed = (key: string, headers: Record<string, string> = {}) => ({ headers: { [KEY]: key, ...headers } })

/** A fresh key for each request that needs its own. */
let keys = 0
const freshKey = (what: string) => `${what.replace(/[^\x21-\x7E]/g, '_')}-${++keys}-${randomBytes(6).toString('hex')}`

/** The detail of the 409 a request gets while another with its key is being carried out. */
const inFlight = (key: string) =>
  `A request with the Idempotency-Key ${key} is still being carried out; retry after a moment to get its answer.`

/** The detail of the 422 a request gets when its key was used for another request. */
const reused = (key: string) =>
  `The Idempotency-Key ${key} was used for another request (method, path, parameters or file); ` +
  'a key names one request. Send a new key for a new request.'

/** Every table of the database. */
const TABLES = [
  'customers',
  'products',
  'feedback',
  'product_feedback',
  'customer_requests',
  'upload_reports',
  'export_records',
  'api_keys',
  'events',
  'idempotency_keys',
] as const

/** Every row of every table (each table's rows as sorted JSON): equal snapshots mean nothing changed. */
async function snapshot(db: Db): Promise<Record<string, string[]>> {
  const tables: Record<string, string[]> = {}
  for (const table of TABLES) {
    const rows = await db
      .selectFrom(table as 'customers')
      .selectAll()
      .execute()
    tables[table] = rows.map((row) => JSON.stringify(row)).sort()
  }
  return tables
}

/** The rows of a table, counted. */
async function count(db: Db, table: (typeof TABLES)[number]): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*) as n from ${sql.table(table)}`.execute(db)
  return Number(rows[0]!.n)
}

/** The stored row of an Idempotency-Key, if any (there is one scope per API key; these tests name keys apart). */
const keyRow = (db: Db, key: string) =>
  db.selectFrom('idempotency_keys').selectAll().where('key', '=', key).executeTakeFirst()

/** The customers with this e-mail address. */
const customersWith = (db: Db, email: string) =>
  db.selectFrom('customers').select(['id', 'email']).where('email', '=', email).execute()

/** Checks that `again` is `first` replayed: the same status, body text, content type and ETag, marked as a replay. */
function sameAnswer(t: Test, again: Reply, first: Reply, what: string) {
  t.equal(again.status, first.status, `${what}: the replay has the first answer's status (${first.status})`)
  t.equal(again.text, first.text, `${what}: the replay has the first answer's body, byte for byte`)
  t.equal(again.headers['content-type'], first.headers['content-type'], `${what}: and its content type`)
  t.equal(again.headers.etag, first.headers.etag, `${what}: and its ETag (or none, as the first)`)
  t.equal(again.headers[REPLAYED], 'true', `${what}: the replay says so: Idempotent-Replayed: true`)
}

interface ReplayCase {
  what: string
  send: () => Promise<Reply>
  status: number
  /** Whether the answer carries an ETag. */
  etag?: boolean
}

/**
 * Sends a request, then the same again: the first is carried out with `status`, the second gets
 * the first's answer and changes no row of any table. Returns the first answer.
 */
async function checkReplay(t: Test, app: TestApp, { what, send, status, etag = false }: ReplayCase): Promise<Reply> {
  const first = await send()
  t.equal(first.status, status, `${what}: carried out (${status})`)
  t.equal(first.headers[REPLAYED], undefined, `${what}: the first answer is no replay`)
  t.equal(typeof first.headers.etag, etag ? 'string' : 'undefined', `${what}: ${etag ? 'with' : 'without'} an ETag`)
  const before = await snapshot(app.db)
  const again = await send()
  sameAnswer(t, again, first, what)
  t.same(await snapshot(app.db), before, `${what}: the replay changes no row of any table`)
  return first
}

/** Checks that `res` is the problem answer with `status` and `detail`. */
function isProblem(t: Test, res: Reply, status: number, detail: string, what: string) {
  t.equal(res.status, status, `${what}: ${status}`)
  t.equal(res.headers['content-type'], PROBLEM_JSON, `${what}: a problem answer`)
  t.same(res.body, problemBody(res, status, detail), `${what}: the whole problem`)
}

/** Checks that `res` is the 409 of a key whose request is still being carried out. */
function isInFlight(t: Test, res: Reply, key: string, what: string) {
  isProblem(t, res, 409, inFlight(key), what)
  t.equal(res.headers['retry-after'], '1', `${what}: Retry-After: 1`)
  t.equal(res.headers[REPLAYED], undefined, `${what}: no replay`)
}

/** `rows` customer lines of a CSV file (no header): `Name N,PREFIX.N@example.com,Address N`. */
const customerCsv = (prefix: string, rows: number) =>
  Array.from({ length: rows }, (_, i) => `Name ${i + 1},${prefix}.${i + 1}@example.com,Address ${i + 1}`).join('\n')

/**
 * Holds the next transaction of `db` before it begins until `release` is called: a request that
 * changes data then stays in flight, its key claimed (the claim is one statement, outside any
 * transaction), for as long as the test needs. Later transactions go ahead. `held` says whether
 * the transaction has come and is waiting.
 */
function holdNextTransaction(db: Db) {
  const original = db.transaction.bind(db)
  let release!: () => void
  const gate = new Promise<void>((resolve) => (release = resolve))
  let held = false
  db.transaction = () => {
    db.transaction = original
    const builder = original()
    return Object.assign(Object.create(builder), {
      execute: async (work: Parameters<typeof builder.execute>[0]) => {
        held = true
        await gate
        return builder.execute(work)
      },
    })
  }
  return { held: () => held, release }
}

t.test(
  '20 identical requests with one key at once: one customer, every answer the 201 or a 409 to retry',
  async (t) => {
    /** Checks the answers to 20 identical adds: `retry` sends the request again after a 409. */
    async function checkBurst(t: Test, app: TestApp, answers: Reply[], key: string, retry: () => Promise<Reply>) {
      const created = answers.filter((res) => res.status === 201)
      const busy = answers.filter((res) => res.status === 409)
      t.equal(created.length + busy.length, 20, 'every answer is a 201 or a 409')
      const original = created.filter((res) => res.headers[REPLAYED] === undefined)
      t.equal(original.length, 1, 'exactly one 201 is the original, carried out')
      for (const res of created) {
        t.equal(res.text, original[0]!.text, 'every 201 has the same body')
        t.equal(res.headers.etag, original[0]!.headers.etag, 'and the same ETag')
      }
      t.equal(
        created.filter((res) => res.headers[REPLAYED] === 'true').length,
        created.length - 1,
        'every other 201 is a replay',
      )
      for (const res of busy) isInFlight(t, res, key, 'a request that came while the first was being carried out')
      t.comment(`${created.length} answers 201 (${created.length - 1} replayed), ${busy.length} answers 409`)
      const retried = await Promise.all(
        busy.map(async (res) => {
          await sleep(Number(res.headers['retry-after']) * 1000)
          return retry()
        }),
      )
      for (const res of retried) sameAnswer(t, res, original[0]!, 'a 409 retried after Retry-After')
      t.same(
        (await customersWith(app.db, 'ada@example.com')).map((row) => row.id),
        [original[0]!.body.id],
        'exactly one customer is stored, the one answered',
      )
      t.equal(await count(app.db, 'events'), 1, 'with one event: the request was carried out once')
    }

    t.test('through inject', async (t) => {
      const app = await build(t)
      const api = client(app)
      const key = freshKey('burst')
      const send = () => api.post('/api/add/customer', newCustomer(), keyed(key))
      const answers = await Promise.all(Array.from({ length: 20 }, send))
      await checkBurst(t, app, answers, key, send)
    })

    t.test('over HTTP, 20 connections', async (t) => {
      const { app, base } = await serve(t)
      const key = freshKey('burst')
      const send = async (): Promise<Reply> => {
        const res = await fetch(`${base}/api/add/customer`, {
          method: 'POST',
          headers: { ...AS_ADMIN, 'content-type': 'application/json', [KEY]: key },
          body: JSON.stringify(newCustomer()),
        })
        const text = await res.text()
        const headers = Object.fromEntries(res.headers)
        return { status: res.status, headers, text, body: JSON.parse(text) }
      }
      const answers = await Promise.all(Array.from({ length: 20 }, send))
      await checkBurst(t, app, answers, key, send)
    })
  },
)

t.test('every change replays its first answer and changes nothing', async (t) => {
  const app = await build(t)
  const api = client(app)
  const ada = (await api.post('/api/add/customer', newCustomer())).body
  const check = (what: string, status: number, send: (key: string) => Promise<Reply>, etag = false) => {
    const key = freshKey(what)
    return checkReplay(t, app, { what, status, etag, send: () => send(key) })
  }

  const grace = await check(
    'addCustomer',
    201,
    (key) => api.post('/api/add/customer', newCustomer({ email: 'grace@example.com' }), keyed(key)),
    true,
  )
  t.equal((await customersWith(app.db, 'grace@example.com')).length, 1, 'addCustomer: one customer stored')
  await check(
    'updateCustomer',
    200,
    (key) => api.post('/api/update/customer', { id: grace.body.id, status: 'inactive' }, keyed(key)),
    true,
  )
  const product = await check(
    'addProduct',
    201,
    (key) => api.post('/api/add/product', newProduct(ada.id), keyed(key)),
    true,
  )
  await check(
    'updateProduct',
    200,
    (key) => api.post('/api/update/product', { id: product.body.id, warranty: 3 }, keyed(key)),
    true,
  )
  await check('addBrandFeedback', 201, (key) =>
    api.post('/api/add/brand/feedback', { customerid: ada.id, heading: 'Great', body: 'Quick.', nps: 9 }, keyed(key)),
  )
  await check('addProductFeedback', 201, (key) =>
    api.post(
      '/api/add/product/feedback',
      { productid: product.body.id, customerid: ada.id, heading: 'Loud', body: 'Noisy.', nps: 7 },
      keyed(key),
    ),
  )
  const ticket = await check(
    'openTicket',
    201,
    (key) => api.post('/api/open/customer/request', { customerid: ada.id, request: 'It leaks.' }, keyed(key)),
    true,
  )
  await check(
    'closeTicket',
    200,
    (key) =>
      api.post('/api/close/customer/request', { id: ticket.body.id, resolved: true, resolution: 'Fixed.' }, keyed(key)),
    true,
  )
  await check('deleteProduct', 200, (key) => api.post('/api/delete/product', { id: product.body.id }, keyed(key)))

  for (const [method, how] of [
    ['DELETE', 'query'],
    ['GET', 'query'],
    ['POST', 'body'],
  ] as const) {
    const email = `delete.${method.toLowerCase()}@example.com`
    const { id } = (await api.post('/api/add/customer', newCustomer({ email }))).body
    const first = await check(`deleteCustomer (${method})`, 200, (key) =>
      how === 'body'
        ? api.post('/api/delete/customer', { id }, keyed(key))
        : api.call(method, '/api/delete/customer', { query: { id }, ...keyed(key) }),
    )
    t.same(first.body, { deleted: [id] }, `deleteCustomer (${method}): the first answer names the deleted customer`)
    t.same(await customersWith(app.db, email), [], `deleteCustomer (${method}): the customer is gone`)
  }

  const made = await check('addKey', 201, (key) =>
    api.post('/api/add/key', { name: 'Accounts office', role: 'editor' }, keyed(key)),
  )
  t.equal(await count(app.db, 'api_keys'), 1, 'addKey: one key made')
  await check('revokeKey', 200, (key) => api.post('/api/revoke/key', { id: made.body.id }, keyed(key)))

  await check('uploadCustomers', 201, (key) =>
    upload(app, '/upload/customers', { filename: 'customers.csv', content: customerCsv('upload', 3) }, keyed(key)),
  )
  t.equal(await count(app.db, 'upload_reports'), 1, 'uploadCustomers: one report stored')
  await check('uploadCustomers (mode=upsert as a form field)', 201, (key) =>
    upload(
      app,
      '/upload/customers',
      { filename: 'customers.csv', content: customerCsv('upload', 4), fields: { mode: 'upsert' } },
      keyed(key),
    ),
  )
  await check('uploadProducts', 201, (key) =>
    upload(
      app,
      '/upload/products',
      { filename: 'products.csv', content: `Kettle,19.99,2024-01-01,2,${ada.id}\nToaster,29.99,2024-01-02,1` },
      keyed(key),
    ),
  )
  await check('uploadCustomers answered as a page', 201, (key) =>
    upload(
      app,
      '/upload/customers',
      { filename: 'customers.csv', content: customerCsv('page', 2) },
      keyed(key, { accept: 'text/html' }),
    ),
  )
})

t.test('a failure that changed nothing is stored and replayed as it was', async (t) => {
  t.test('404: an update of a missing customer stays a 404 after that customer exists', async (t) => {
    const app = await build(t)
    const api = client(app)
    const key = freshKey('missing')
    const update = () => api.post('/api/update/customer', { id: 1, name: 'Grace Hopper' }, keyed(key))
    const first = await update()
    isProblem(t, first, 404, 'Customer 1 does not exist.', 'the update of customer 1, who is not there')
    const ada = await api.post('/api/add/customer', newCustomer())
    t.equal(ada.body.id, 1, 'customer 1 is then added')
    const before = await snapshot(app.db)
    sameAnswer(t, await update(), first, 'the update retried with its key')
    t.same(await snapshot(app.db), before, 'the retry changes nothing: customer 1 keeps the name Ada Lovelace')
  })

  t.test('409: a duplicate e-mail address stays a 409 after the other customer changed theirs', async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = await api.post('/api/add/customer', newCustomer())
    const key = freshKey('duplicate')
    const add = () => api.post('/api/add/customer', newCustomer({ name: 'Ada Byron' }), keyed(key))
    const first = await add()
    t.equal(first.status, 409, 'a second customer with the e-mail address: 409')
    t.equal(first.headers['content-type'], PROBLEM_JSON)
    await api.post('/api/update/customer', { id: ada.body.id, email: 'countess@example.com' })
    const before = await snapshot(app.db)
    sameAnswer(t, await add(), first, 'the add retried with its key')
    t.same(await snapshot(app.db), before, 'the retry changes nothing: no customer is added')
  })

  t.test('412: a stale If-Match stays a 412, and the customer unchanged', async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = await api.post('/api/add/customer', newCustomer())
    const key = freshKey('stale')
    const first = await checkReplay(t, app, {
      what: 'an update with a stale If-Match',
      status: 412,
      send: () =>
        api.post('/api/update/customer', { id: ada.body.id, status: 'inactive' }, keyed(key, { 'if-match': '"old"' })),
    })
    t.equal(first.headers['content-type'], PROBLEM_JSON, 'a problem answer')
    t.equal((await api.get('/api/get/customer', { query: { id: ada.body.id } })).body.status, 'active', 'unchanged')
  })
})

t.test('one key names one request: another request with it is a 422 and changes nothing', async (t) => {
  const app = await build(t)
  const api = client(app)

  /** Sends `other` with the key of `first` (already sent): 422, nothing changed, and `first` still replays. */
  async function refused(t: Test, what: string, key: string, first: () => Promise<Reply>, other: () => Promise<Reply>) {
    const answer = await first()
    const before = await snapshot(app.db)
    isProblem(t, await other(), 422, reused(key), what)
    t.same(await snapshot(app.db), before, `${what}: nothing changes`)
    sameAnswer(t, await first(), answer, `${what}: the first request, sent again`)
  }

  const key = freshKey('body')
  const add = () => api.post('/api/add/customer', newCustomer(), keyed(key))
  await refused(t, 'another body', key, add, () =>
    api.post('/api/add/customer', newCustomer({ name: 'Ada Byron' }), keyed(key)),
  )
  await refused(t, 'another path', key, add, () => api.post('/api/add/product', newProduct(1), keyed(key)))

  const reordered = Object.fromEntries(Object.entries(newCustomer()).reverse())
  t.not(JSON.stringify(reordered), JSON.stringify(newCustomer()), 'the same fields in another order')
  sameAnswer(
    t,
    await api.post('/api/add/customer', reordered, keyed(key)),
    await add(),
    'the same body with its fields in another order is the same request',
  )

  const ids: number[] = []
  for (const email of ['one@example.com', 'two@example.com']) {
    ids.push((await api.post('/api/add/customer', newCustomer({ email }))).body.id)
  }
  const viaGet = freshKey('method')
  await refused(
    t,
    'the GET form, then the POST form of a deletion',
    viaGet,
    () => api.get('/api/delete/customer', { query: { id: ids[0]! }, ...keyed(viaGet) }),
    () => api.post('/api/delete/customer', { id: ids[0]! }, keyed(viaGet)),
  )
  const viaDelete = freshKey('method')
  await refused(
    t,
    'the DELETE form, then the GET form of a deletion',
    viaDelete,
    () => api.delete('/api/delete/customer', { query: { id: ids[1]! }, ...keyed(viaDelete) }),
    () => api.get('/api/delete/customer', { query: { id: ids[1]! }, ...keyed(viaDelete) }),
  )
  const otherId = freshKey('query')
  await refused(
    t,
    'another id in the query string',
    otherId,
    () => api.delete('/api/delete/customer', { query: { id: 1 }, ...keyed(otherId) }),
    () => api.delete('/api/delete/customer', { query: { id: 2 }, ...keyed(otherId) }),
  )

  const content = customerCsv('file', 5)
  const changed = content.replace('Name 3', 'Name 4')
  t.equal(changed.length, content.length, 'one byte changed')
  const sendFile =
    (fileKey: string, file: { filename?: string; content?: string; fields?: Record<string, string> }) => () =>
      upload(app, '/upload/customers', { filename: 'customers.csv', content, ...file }, keyed(fileKey))
  const uploads = [
    ['another file, one byte changed', { content: changed }],
    ['another file name', { filename: 'clients.csv' }],
    ['another mode (a form field)', { fields: { mode: 'upsert' } }],
  ] as const
  for (const [what, file] of uploads) {
    const uploadKey = freshKey('upload')
    await refused(t, `an upload of ${what}`, uploadKey, sendFile(uploadKey, {}), sendFile(uploadKey, file))
  }
  const queryMode = freshKey('upload')
  await refused(t, 'an upload with another mode (the query string)', queryMode, sendFile(queryMode, {}), () =>
    upload(app, '/upload/customers?mode=upsert', { filename: 'customers.csv', content }, keyed(queryMode)),
  )
})

t.test('a request sent while another with its key is carried out gets a 409 and changes nothing', async (t) => {
  t.test('held in flight: 409 until its answer is stored, then the answer', async (t) => {
    const app = await build(t)
    const api = client(app)
    const key = freshKey('held')
    const hold = holdNextTransaction(app.db)
    const add = () => api.post('/api/add/customer', newCustomer(), keyed(key))
    const first = add()
    t.ok(await until(() => hold.held()), 'the first request is held in its transaction')
    const row = await keyRow(app.db, key)
    t.equal(row?.status, null, 'the first has claimed its key and is being carried out')
    isInFlight(t, await add(), key, 'the same request meanwhile')
    t.equal(await count(app.db, 'customers'), 0, 'and stored nothing')
    hold.release()
    const answer = await first
    t.equal(answer.status, 201, 'the first is answered 201 once let go')
    sameAnswer(t, await add(), answer, 'the second, retried')
    t.equal(await count(app.db, 'customers'), 1, 'one customer is stored')
  })

  t.test('a claim is renewed while its request runs, beyond its lease', async (t) => {
    const LEASE = 1000
    const app = await build(t, { IDEMPOTENCY_LEASE_MS: LEASE })
    const api = client(app)
    const key = freshKey('renewed')
    const hold = holdNextTransaction(app.db)
    const add = () => api.post('/api/add/customer', newCustomer(), keyed(key))
    const first = add()
    t.ok(await until(() => hold.held()), 'the first request is held in its transaction')
    const claimed = await keyRow(app.db, key)
    await sleep(LEASE * 2.5)
    const renewed = await keyRow(app.db, key)
    t.ok(renewed!.lockeduntil > claimed!.lockeduntil, 'the claim has been renewed')
    t.ok(renewed!.lockeduntil > new Date().toISOString(), 'and holds, 2.5 leases after it was made')
    isInFlight(t, await add(), key, 'the same request meanwhile')
    hold.release()
    t.equal((await first).status, 201, 'the first is answered 201')
    t.equal(await count(app.db, 'customers'), 1, 'one customer is stored')
  })

  t.test('a 20,000-row upload and the same upload sent while it is being stored: carried out once', async (t) => {
    const app = await build(t)
    const key = freshKey('slow')
    const file = { filename: 'customers.csv', content: customerCsv('slow', 20_000) }
    const send = () => upload(app, '/upload/customers', file, keyed(key))
    const first = send()
    t.ok(await until(async () => (await keyRow(app.db, key)) !== undefined), 'the first request has claimed the key')
    const second = await send()
    const answer = await first
    t.equal(answer.status, 201, 'the first is answered 201')
    t.equal(answer.body.inserted, 20_000, 'with every row inserted')
    // On PostgreSQL the second's claim is one statement beside the upload's transaction: a 409. On
    // SQLite, whose one connection the upload's transaction holds, it waits for it, then replays.
    if (second.status === 409) isInFlight(t, second, key, 'the second, sent while the first ran')
    else sameAnswer(t, second, answer, 'the second, sent while the first ran, waited for its answer')
    t.comment(`the second upload was answered ${second.status}${second.headers[REPLAYED] ? ' (replayed)' : ''}`)
    sameAnswer(t, await send(), answer, 'the upload sent again once the first is done')
    t.equal(await count(app.db, 'upload_reports'), 1, 'one upload report is stored')
    t.equal(await count(app.db, 'customers'), 20_000, 'and each row once')
  })

  t.test('a claim whose lease lapsed (its instance died) is taken over by the retry, which runs afresh', async (t) => {
    // The request's fingerprint, as another database with the same API key stores it.
    const probe = await build(t)
    const key = freshKey('lapsed')
    const body = newCustomer()
    t.equal((await client(probe).post('/api/add/customer', body, keyed(key))).status, 201, 'carried out elsewhere')
    const { scope, fingerprint } = (await keyRow(probe.db, key))!

    const app = await build(t)
    const api = client(app)
    const time = new Date().toISOString()
    const claim = {
      scope,
      key,
      fingerprint,
      token: 'the-instance-that-died',
      lockeduntil: new Date(Date.now() + 3_600_000).toISOString(),
      status: null,
      contenttype: null,
      etag: null,
      body: null,
      created: time,
      expires: new Date(Date.now() + 86_400_000).toISOString(),
    }
    await app.db.insertInto('idempotency_keys').values(claim).execute()
    isInFlight(t, await api.post('/api/add/customer', body, keyed(key)), key, 'while the claim holds')
    t.same(await keyRow(app.db, key), claim, 'the claim is left as it was')
    t.equal(await count(app.db, 'customers'), 0, 'nothing is stored')

    await app.db
      .updateTable('idempotency_keys')
      .set({ lockeduntil: new Date(Date.now() - 1000).toISOString() })
      .where('key', '=', key)
      .execute()
    const retried = await api.post('/api/add/customer', body, keyed(key))
    t.equal(retried.status, 201, 'once the lease has lapsed, the retry is carried out: 201')
    t.equal(retried.headers[REPLAYED], undefined, 'no replay')
    const taken = await keyRow(app.db, key)
    t.not(taken?.token, claim.token, 'the retry took the claim over')
    t.equal(taken?.status, 201, 'and stored its answer')
    sameAnswer(t, await api.post('/api/add/customer', body, keyed(key)), retried, 'a third request')
    t.equal(await count(app.db, 'customers'), 1, 'one customer is stored')
  })

  t.test('a request whose claim was taken over while it ran stores nothing: its change is undone', async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = (await api.post('/api/add/customer', newCustomer())).body
    const key = freshKey('overtaken')
    const feedback = { customerid: ada.id, heading: 'Great', body: 'Quick.', nps: 9 }
    const add = () => api.post('/api/add/brand/feedback', feedback, keyed(key))
    const hold = holdNextTransaction(app.db)
    const first = add()
    t.ok(await until(() => hold.held()), 'the first request is held in its transaction')
    // As if its instance had stopped renewing the claim: the lease lapses, and a retry takes it over.
    await app.db
      .updateTable('idempotency_keys')
      .set({ lockeduntil: new Date(Date.now() - 1000).toISOString() })
      .where('key', '=', key)
      .execute()
    const second = await add()
    t.equal(second.status, 201, 'the retry takes the lapsed claim over and is carried out: 201')
    hold.release()
    const overtaken = await first
    isProblem(
      t,
      overtaken,
      409,
      `The claim on the Idempotency-Key ${key} lapsed and another request took it over; nothing was changed ` +
        'by this one. Retry to get the answer of that one.',
      'the first, let go after the retry took its claim',
    )
    t.equal(overtaken.headers['retry-after'], '1', 'with Retry-After: 1')
    t.equal(await count(app.db, 'feedback'), 1, 'one feedback is stored: the first undid its own')
    sameAnswer(t, await add(), second, 'a third request')
  })
})

t.test('a stored answer is kept IDEMPOTENCY_TTL_HOURS; an expired key is carried out afresh', async (t) => {
  const app = await build(t, { IDEMPOTENCY_TTL_HOURS: 2 })
  const api = client(app)
  const key = freshKey('ttl')
  const add = () => api.post('/api/add/customer', newCustomer(), keyed(key))
  const before = Date.now()
  const first = await add()
  const after = Date.now()
  t.equal(first.status, 201, 'carried out: 201')
  const row = (await keyRow(app.db, key))!
  const created = Date.parse(row.created)
  t.ok(created >= before && created <= after, 'the key is stored when the request is made')
  const TTL = 2 * 3_600_000
  t.ok(Date.parse(row.expires) >= created + TTL, 'to expire IDEMPOTENCY_TTL_HOURS after it is stored')
  t.ok(Date.parse(row.expires) <= after + TTL, 'not later')
  sameAnswer(t, await add(), first, 'the same request within the time')

  await app.db
    .updateTable('idempotency_keys')
    .set({ expires: new Date(Date.now() - 1000).toISOString() })
    .where('key', '=', key)
    .execute()
  const afresh = await add()
  t.equal(afresh.status, 409, 'once expired, the request is carried out again: the customer exists (409)')
  t.equal(afresh.headers[REPLAYED], undefined, 'no replay')
  t.equal((await keyRow(app.db, key))?.status, 409, 'the key now holds that answer')
  sameAnswer(t, await add(), afresh, 'the same request again')
  t.equal(await count(app.db, 'customers'), 1, 'one customer is stored')

  t.test('expired keys are removed when a server starts', async (t) => {
    const url = TEST_DATABASE_URL ? await postgresSchema(t) : `${tempFolder(t, 'idempotency')}/crm.sqlite`
    const earlier = await build(t, { DATABASE_URL: url })
    const old = freshKey('old')
    const kept = freshKey('kept')
    await client(earlier).post('/api/add/customer', newCustomer(), keyed(old))
    await client(earlier).post('/api/add/customer', newCustomer({ email: 'b@example.com' }), keyed(kept))
    await earlier.db
      .updateTable('idempotency_keys')
      .set({ expires: new Date(Date.now() - 1000).toISOString() })
      .where('key', '=', old)
      .execute()
    await earlier.close()
    const second = await build(t, { DATABASE_URL: url })
    t.equal(await keyRow(second.db, old), undefined, 'the expired key is gone')
    t.equal((await keyRow(second.db, kept))?.status, 201, 'the other is kept')
  })
})

t.test('401, 403, 429, a 400 from validation and a 500 are not stored: the key stays free for a retry', async (t) => {
  t.test('401 and 403 leave no key', async (t) => {
    const app = await build(t)
    const reader = await createKey(app.db, 'Reader', 'reader')
    const key = freshKey('refused')
    const wrong = await client(app, { authorization: 'Bearer not-a-key-0123456789abcdefghijklmnop' }).post(
      '/api/add/customer',
      newCustomer(),
      keyed(key),
    )
    t.equal(wrong.status, 401, 'a key that is not valid: 401')
    const denied = await client(app, { authorization: `Bearer ${reader.key}` }).post(
      '/api/add/customer',
      newCustomer(),
      keyed(key),
    )
    t.equal(denied.status, 403, 'a reader key on a change: 403')
    t.equal(await count(app.db, 'idempotency_keys'), 0, 'no key is stored')
    t.equal(await count(app.db, 'customers'), 0, 'nor a customer')
  })

  t.test('429 leaves no key', async (t) => {
    const app = await build(t, { RATE_LIMIT_PER_MINUTE: 1 })
    const api = client(app)
    t.equal((await api.get('/api/get/customer', { query: { id: 1 } })).status, 404, 'the one request of the minute')
    const key = freshKey('limited')
    t.equal((await api.post('/api/add/customer', newCustomer(), keyed(key))).status, 429, 'the next: 429')
    t.equal(await count(app.db, 'idempotency_keys'), 0, 'no key is stored')
  })

  t.test('a 400 from validation does not use up the key: the corrected request is carried out', async (t) => {
    const app = await build(t)
    const api = client(app)
    const key = freshKey('invalid')
    const invalid = await api.post('/api/add/customer', newCustomer({ email: 'not an address' }), keyed(key))
    t.equal(invalid.status, 400, 'an invalid e-mail address: 400')
    t.equal(await keyRow(app.db, key), undefined, 'no key is stored')
    const corrected = await api.post('/api/add/customer', newCustomer(), keyed(key))
    t.equal(corrected.status, 201, 'the corrected request with the same key: 201')
    t.equal(corrected.headers[REPLAYED], undefined, 'carried out, no replay')
    t.equal(await count(app.db, 'customers'), 1, 'one customer is stored')
  })

  t.test('a 500 leaves no key: the retry is carried out', async (t) => {
    const app = await build(t, { LOG_LEVEL: 'silent' })
    const api = client(app)
    const key = freshKey('failed')
    await sql`alter table events rename to events_away`.execute(app.db)
    const failed = await api.post('/api/add/customer', newCustomer(), keyed(key))
    t.equal(failed.status, 500, 'the change cannot record its event: 500')
    t.equal(await keyRow(app.db, key), undefined, 'no key is stored')
    await sql`alter table events_away rename to events`.execute(app.db)
    const retried = await api.post('/api/add/customer', newCustomer(), keyed(key))
    t.equal(retried.status, 201, 'the retry with the same key is carried out: 201')
    t.equal(retried.headers[REPLAYED], undefined, 'no replay')
    t.equal(await count(app.db, 'customers'), 1, 'one customer is stored')
  })
})

t.test('a key is scoped to the API key that sends it', async (t) => {
  const app = await build(t)
  const editor = await createKey(app.db, 'Editor', 'editor')
  const admin = await createKey(app.db, 'Admin', 'admin')
  const key = freshKey('shared')
  const callers: [string, Client][] = [
    ['API_KEY', client(app)],
    ['a stored editor key', client(app, { authorization: `Bearer ${editor.key}` })],
    ['a stored admin key', client(app, { authorization: `Bearer ${admin.key}` })],
  ]
  const answers: Reply[] = []
  for (const [who, api] of callers) {
    const res = await api.post('/api/add/customer', newCustomer({ email: `${answers.length}@example.com` }), keyed(key))
    t.equal(res.status, 201, `${who}: its own request with the key is carried out (201)`)
    t.equal(res.headers[REPLAYED], undefined, `${who}: no replay`)
    answers.push(res)
  }
  t.equal(await count(app.db, 'customers'), 3, 'three customers are stored')
  t.equal(await count(app.db, 'idempotency_keys'), 3, 'under three keys')
  for (const [i, [who, api]] of callers.entries()) {
    const again = await api.post('/api/add/customer', newCustomer({ email: `${i}@example.com` }), keyed(key))
    sameAnswer(t, again, answers[i]!, `${who}: its own request again`)
  }
  const byHeader = await client(app, { 'x-api-key': editor.key }).post(
    '/api/add/customer',
    newCustomer({ email: '1@example.com' }),
    keyed(key),
  )
  sameAnswer(t, byHeader, answers[1]!, 'the editor key sent as X-API-Key: the same scope')
})

t.test("stored answers are sealed: the database never holds a new key's plaintext", async (t) => {
  const app = await build(t)
  const api = client(app)
  const key = freshKey('sealed')
  const add = () => api.post('/api/add/key', { name: 'Accounts office', role: 'editor' }, keyed(key))
  const made = await add()
  t.equal(made.status, 201, 'a key is made')
  const secret: string = made.body.key
  const rows = await app.db.selectFrom('idempotency_keys').selectAll().execute()
  t.equal(rows.length, 1, 'its answer is stored')
  const stored = JSON.stringify(rows)
  t.notOk(stored.includes(secret), 'no column holds the new key')
  t.notOk(stored.includes(secret.slice(12)), 'nor its secret part')
  t.notOk(stored.includes(TEST_KEY), 'nor the API key the answer was sealed with')
  t.notOk(stored.includes('Accounts office'), 'nor any of the answer in the clear')
  const again = await add()
  sameAnswer(t, again, made, 'the request again')
  t.equal(again.body.key, secret, 'the replay holds the new key, intact')
  const works = await client(app, { authorization: `Bearer ${secret}` }).post(
    '/api/add/customer',
    newCustomer(),
    keyed(key),
  )
  t.equal(works.status, 201, 'which works, and has a scope of its own for the same Idempotency-Key')
})

t.test(
  'an Idempotency-Key that is not 1 to 255 visible ASCII characters is a 400, and nothing is stored',
  async (t) => {
    const app = await build(t)
    const api = client(app)
    const before = await snapshot(app.db)
    for (const [what, key] of [
      ['empty', ''],
      ['256 characters', 'k'.repeat(256)],
      ['with a space', 'my key'],
      ['with a tab', 'my\tkey'],
      ['not ASCII', 'clé'],
    ] as const) {
      const res = await api.post('/api/add/customer', newCustomer(), keyed(key))
      t.equal(res.status, 400, `${what}: 400`)
      t.equal(res.headers['content-type'], PROBLEM_JSON, `${what}: a problem answer`)
      t.same(
        res.body.errors?.map((error: { field: string }) => error.field),
        ['idempotency-key'],
        `${what}: naming the header`,
      )
      const upload400 = await upload(
        app,
        '/upload/customers',
        { filename: 'customers.csv', content: customerCsv('bad', 1) },
        keyed(key),
      )
      t.equal(upload400.status, 400, `${what}, on an upload: 400`)
    }
    t.same(await snapshot(app.db), before, 'nothing is stored')
    const longest = '!'.repeat(100) + '~'.repeat(155)
    const res = await api.post('/api/add/customer', newCustomer(), keyed(longest))
    t.equal(res.status, 201, '255 visible characters, from ! to ~: carried out')
    t.equal((await keyRow(app.db, longest))?.status, 201, 'and stored')
  },
)

t.test(
  'SIGKILL with 200 keyed adds in flight: each key has its answer stored exactly when its customer is',
  async (t) => {
    await killWithKeyedWritesInFlight(t)
  },
)
