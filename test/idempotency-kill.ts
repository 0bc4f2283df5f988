// A server killed with keyed writes in flight, then restarted: each Idempotency-Key holds its answer
// exactly when its change was committed, and every retry gets one answer (test/idempotency.test.ts).
import { randomBytes } from 'node:crypto'
import { Agent, type IncomingHttpHeaders, request } from 'node:http'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import { connect, type Db } from '../src/db/connect.js'
import { newCustomer, tempFolder } from './helper.js'
import { postgresSchema, TEST_DATABASE_URL } from './postgres.js'
import { startServer } from './process.js'

/** The admin key the child servers accept (API_KEY). */
const API_KEY = randomBytes(30).toString('base64url')

/** Keyed adds sent at once, and how many answers come before the kill. */
const REQUESTS = 200
const KILL_AFTER = 20

interface Outcome {
  status?: number
  headers?: IncomingHttpHeaders
  text?: string
  error?: string
}

/** The i-th request: its Idempotency-Key and its customer, each its own. */
const keyOf = (i: number) => `kill-${i}`
const emailOf = (i: number) => `kill.${i}@example.com`
const bodyOf = (i: number) => JSON.stringify(newCustomer({ name: `Killed ${i}`, email: emailOf(i) }))

/** Sends the i-th add with its key; never rejects: a request cut off by the kill ends with its error. */
function send(port: number, i: number, agent: Agent): Promise<Outcome> {
  const payload = bodyOf(i)
  return new Promise((resolve) => {
    const req = request({
      port,
      method: 'POST',
      path: '/api/add/customer',
      agent,
      headers: {
        authorization: `Bearer ${API_KEY}`,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(payload),
        'idempotency-key': keyOf(i),
      },
    })
    req.once('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }))
    req.once('response', (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.once('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }))
      res.once('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }))
    })
    req.end(payload)
  })
}

/** Sends the i-th add until it is not a 409, waiting Retry-After seconds after each 409. */
async function retry(port: number, i: number, agent: Agent): Promise<Outcome> {
  for (let attempt = 1; ; attempt++) {
    const outcome = await send(port, i, agent)
    if (outcome.status !== 409 || attempt === 20) return outcome
    await sleep(Number(outcome.headers?.['retry-after'] ?? 1) * 1000)
  }
}

/** Runs `work` over 0..n-1, `concurrency` at a time; the results in order. */
async function pooled<R>(n: number, concurrency: number, work: (i: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(n)
  let next = 0
  const worker = async () => {
    while (next < n) {
      const i = next++
      results[i] = await work(i)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return results
}

/** The customers and the keys of the requests, as the database holds them. */
async function stored(db: Db) {
  const customers = await db.selectFrom('customers').select(['id', 'email']).where('email', 'like', 'kill.%').execute()
  const keys = await db
    .selectFrom('idempotency_keys')
    .select(['key', 'status'])
    .where('key', 'like', 'kill-%')
    .execute()
  return { customers, keys: new Map(keys.map((row) => [row.key, row.status])) }
}

/** Whether a request holds its key's claim and has not stored its answer yet: it is being carried out. */
const claimInFlight = async (db: Db) =>
  (await db
    .selectFrom('idempotency_keys')
    .select('key')
    .where('key', 'like', 'kill-%')
    .where('status', 'is', null)
    .executeTakeFirst()) !== undefined

/**
 * Starts a server (on a SQLite file, or a PostgreSQL schema under `npm run test:pg`), sends
 * REQUESTS keyed adds at once, SIGKILLs it while one is being carried out (after KILL_AFTER answers), and checks what the database
 * holds: for each key, a stored answer exactly when its customer exists. Then restarts it and
 * retries every request with its key: each gets its 201 (a replay when it was stored) and each
 * customer is stored once.
 */
export async function killWithKeyedWritesInFlight(t: Test) {
  const url = TEST_DATABASE_URL ? await postgresSchema(t) : join(tempFolder(t, 'idempotency-kill'), 'crm.sqlite')
  const env = {
    DATABASE_URL: url,
    LOG_LEVEL: 'info',
    API_KEY,
    RATE_LIMIT_PER_MINUTE: '1000000',
    MAX_EVENT_LOOP_DELAY_MS: '60000',
    // A claim left by the killed server lapses half a second after its last renewal.
    IDEMPOTENCY_LEASE_MS: '500',
  }
  const agent = new Agent({ keepAlive: false, maxSockets: REQUESTS })
  t.teardown(() => agent.destroy())

  // The test reads the database beside the server (SQLite's write-ahead log lets it read while the server writes).
  const db = connect(url)
  t.teardown(() => db.destroy())

  const server = await startServer(t, env)
  let answered = 0
  let allAnswered = false
  const sending = Promise.all(
    Array.from({ length: REQUESTS }, async (_, i) => {
      const outcome = await send(server.port, i, agent)
      if (outcome.status !== undefined) answered++
      return outcome
    }),
  ).finally(() => (allAnswered = true))
  // The kill comes once KILL_AFTER answers have come and, as it is read, a request is being carried
  // out: its key claimed, its change not committed.
  let caught = false
  while (!allAnswered && !caught) {
    caught = answered >= KILL_AFTER && (await claimInFlight(db))
    if (!caught) await sleep(1)
  }
  server.child.kill('SIGKILL')
  const outcomes = await sending
  t.same(await server.ended, { code: null, signal: 'SIGKILL' }, 'the server is killed')
  const acknowledged = outcomes.flatMap((outcome, i) => (outcome.status === undefined ? [] : [i]))
  t.same(
    outcomes.filter((outcome) => outcome.status !== undefined && outcome.status !== 201),
    [],
    'every answer that came before the kill is a 201',
  )

  const before = await stored(db)
  const exists = new Set(before.customers.map((customer) => customer.email))
  const mismatched = Array.from({ length: REQUESTS }, (_, i) => i)
    .map((i) => ({ i, customer: exists.has(emailOf(i)), answer: before.keys.get(keyOf(i)) ?? 'no key' }))
    .filter(({ customer, answer }) => customer !== (typeof answer === 'number'))
  t.same(mismatched, [], 'each customer exists exactly when its key holds a stored answer')
  t.same(
    acknowledged.filter((i) => before.keys.get(keyOf(i)) !== 201),
    [],
    'every request answered before the kill has its answer stored',
  )
  const inFlight = [...before.keys.values()].filter((status) => status === null).length
  t.comment(
    `killed ${caught ? 'with a request seen in flight' : 'after every request was answered'}; ` +
      `${acknowledged.length} of ${REQUESTS} answered before the kill; in the database: ${exists.size} customers, ` +
      `${before.keys.size - inFlight} answers stored, ${inFlight} keys claimed by requests cut off before their ` +
      `commit, ${REQUESTS - before.keys.size} keys not claimed yet`,
  )

  const restarted = await startServer(t, env)
  const retried = await pooled(REQUESTS, 20, (i) => retry(restarted.port, i, agent))
  t.same(
    retried.flatMap((outcome, i) => (outcome.status === 201 ? [] : [{ i, ...outcome }])),
    [],
    'every request retried with its key after the restart is answered 201',
  )
  t.same(
    retried.flatMap((outcome, i) => {
      const replayed = outcome.headers?.['idempotent-replayed'] === 'true'
      return replayed === (before.keys.get(keyOf(i)) === 201) ? [] : [{ i, replayed }]
    }),
    [],
    'a replay exactly for those whose answer was stored; the others are carried out',
  )
  t.same(
    acknowledged.filter((i) => retried[i]!.text !== outcomes[i]!.text),
    [],
    'those answered before the kill get the same answer again',
  )
  const after = await stored(db)
  t.equal(after.customers.length, REQUESTS, `${REQUESTS} customers are stored`)
  t.equal(new Set(after.customers.map((customer) => customer.email)).size, REQUESTS, 'one for each e-mail address')
  t.same(
    [...after.keys.values()].filter((status) => status !== 201),
    [],
    'and every key holds its 201',
  )
  restarted.child.kill('SIGTERM')
  t.same(await restarted.ended, { code: 0, signal: null }, 'the restarted server stops cleanly')
}
