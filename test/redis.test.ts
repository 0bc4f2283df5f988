// Rate limits across instances: with REDIS_URL every instance counts in one Redis, without it each
// counts alone; a Redis that is gone lets requests through uncounted, says so once, and /ready tells.
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { type AddressInfo, connect, createServer, type Socket } from 'node:net'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { RATE_LIMIT_NAMESPACE } from '../src/plugins/protection.js'
import { build, client, newCustomer, PROBLEM_JSON, problemBody, type TestApp } from './helper.js'

/** The Redis the suite runs on. */
const REDIS_PORT = 6379

/** A port nothing listens on: connections to it are refused at once. */
const CLOSED_PORT = 1

const UNAVAILABLE = 'rate limit store unavailable: requests are not counted'
const AVAILABLE_AGAIN = 'rate limit store available again: requests are counted'

/**
 * A key prefix of the test's own in the shared Redis, and the keys under it: test files (and runs
 * of the suite) in parallel count apart. ioredis reads `keyPrefix` from the URL's query (see
 * `redisUrl`). The keys are deleted when the test ends.
 */
function ownKeys(t: Test) {
  const prefix = `crm-test-${randomUUID()}:`
  const redis = new Redis(REDIS_PORT, '127.0.0.1')
  const keys = () => redis.keys(`${prefix}*`)
  t.teardown(async () => {
    const left = await keys()
    if (left.length > 0) await redis.del(...left)
    redis.disconnect()
  })
  return { prefix, keys }
}

/** REDIS_URL for Redis on `port` of 127.0.0.1, with every key under `prefix`. */
const redisUrl = (prefix: string, port = REDIS_PORT) =>
  `redis://127.0.0.1:${port}/?keyPrefix=${encodeURIComponent(prefix)}`

/** A request the rate limit counts (an admin's, for a customer that does not exist: 404). */
const lookUp = (app: TestApp) => client(app).get('/api/get/customer', { query: { id: 1 } })

/** `lookUp`, with how long its answer took in milliseconds. */
async function timedLookUp(app: TestApp) {
  const started = performance.now()
  const reply = await lookUp(app)
  return { reply, ms: performance.now() - started }
}

/** The RateLimit headers of an answer. */
const rateLimitHeaders = (reply: { headers: Record<string, unknown> }) => ({
  limit: reply.headers['ratelimit-limit'],
  remaining: reply.headers['ratelimit-remaining'],
  reset: reply.headers['ratelimit-reset'],
})

/** What a request not counted carries: the rate limit plugin's headers when its store fails. */
const UNCOUNTED = { limit: '5', remaining: '5', reset: '0' }

/** The log lines about the rate limit store, by level and message. */
const storeLines = (app: TestApp) =>
  app
    .logs()
    .filter((line) => String(line.msg).startsWith('rate limit store'))
    .map(({ level, msg }) => ({ level, msg }))

/**
 * Checks that `/ready` answers 200 and names the store unavailable: the instance still serves (the
 * limiter fails open), so it stays in its load balancer.
 */
async function answersNotReady(t: Test, app: TestApp) {
  const ready = await app.injectAs({ url: '/ready' })
  t.equal(ready.statusCode, 200, '/ready: still ready')
  t.same(ready.json(), { status: 'ready', rateLimitStore: 'unavailable' }, '/ready: the store is unavailable')
}

/** Checks that `/ready` answers 200 and names the store ok. */
async function answersReady(t: Test, app: TestApp) {
  const answer = await app.injectAs({ url: '/ready' })
  t.equal(answer.statusCode, 200, '/ready: ready')
  t.same(answer.json(), { status: 'ready', rateLimitStore: 'ok' })
}

/**
 * A TCP proxy on 127.0.0.1 (on `port`, or a free one) to the suite's Redis: `close` cuts it off
 * with every connection through it, as a Redis that goes away; a new one on the same port brings it back.
 */
async function redisProxy(t: Test, port = 0) {
  const sockets = new Set<Socket>()
  const server = createServer((incoming) => {
    const outgoing = connect(REDIS_PORT, '127.0.0.1')
    for (const [socket, other] of [
      [incoming, outgoing],
      [outgoing, incoming],
    ] as const) {
      sockets.add(socket)
      socket.on('error', () => socket.destroy())
      socket.on('close', () => {
        sockets.delete(socket)
        other.destroy()
      })
    }
    incoming.pipe(outgoing).pipe(incoming)
  })
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  const close = async () => {
    const closed = new Promise((resolve) => server.close(resolve))
    for (const socket of sockets) socket.destroy()
    await closed
  }
  t.teardown(close)
  return { port: (server.address() as AddressInfo).port, close }
}

t.test(
  'with REDIS_URL, instances count a key together: its 6th request of the minute, on either, is a 429',
  async (t) => {
    const { prefix, keys } = ownKeys(t)
    const config = { REDIS_URL: redisUrl(prefix), RATE_LIMIT_PER_MINUTE: 5 }
    const apps = [await build(t, config), await build(t, config)] as const
    t.equal(apps[0].rateLimitStore?.status, 'ready', 'connected when the app has started')

    const answers = []
    for (let i = 0; i < 5; i++) answers.push(await lookUp(apps[i % 2]!))
    t.same(
      answers.map((answer) => answer.status),
      [404, 404, 404, 404, 404],
      'five requests served, taking turns',
    )
    t.same(
      answers.map((answer) => answer.headers['ratelimit-remaining']),
      ['4', '3', '2', '1', '0'],
      'each counted by both',
    )
    t.same(
      answers.map((answer) => answer.headers['ratelimit-limit']),
      ['5', '5', '5', '5', '5'],
    )
    t.equal(answers[0]!.headers['ratelimit-reset'], '60', 'RateLimit-Reset: a new count has the whole minute left')

    const limited = await client(apps[1]).post('/api/add/customer', newCustomer())
    t.equal(limited.status, 429, 'the sixth request is refused')
    t.equal(limited.headers['content-type'], PROBLEM_JSON)
    t.match(limited.body.detail, /^Too many requests: 5 a minute are allowed; try again in (\d+ seconds?|1 minute)\.$/)
    t.same(limited.body, problemBody(limited, 429, limited.body.detail))
    t.equal(limited.headers['ratelimit-limit'], '5')
    t.equal(limited.headers['ratelimit-remaining'], '0')
    t.ok(Number(limited.headers['retry-after']) > 0, 'with Retry-After')
    t.ok(Number(limited.headers['retry-after']) <= 60, 'at most the rest of the minute')
    t.equal((await lookUp(apps[0])).status, 429, 'and on the other instance too')
    t.same(await keys(), [`${prefix}${RATE_LIMIT_NAMESPACE}key API_KEY`], 'one count in Redis, in its namespace')

    await answersReady(t, apps[0])
    t.same(storeLines(apps[0]), [], 'nothing to say about the store')

    const store = apps[0].rateLimitStore!
    const ended = once(store, 'end')
    await apps[0].close()
    await ended
    t.equal(store.status, 'end', 'the client is closed with the app')
    t.same(storeLines(apps[0]), [], 'closing it is no outage')
  },
)

t.test('without REDIS_URL, each instance counts alone: two allow the limit each', async (t) => {
  const apps = [await build(t, { RATE_LIMIT_PER_MINUTE: 5 }), await build(t, { RATE_LIMIT_PER_MINUTE: 5 })] as const
  t.equal(apps[0].rateLimitStore, null, 'no store')
  const answers = []
  for (let i = 0; i < 10; i++) answers.push(await lookUp(apps[i % 2]!))
  t.same(
    answers.map((answer) => answer.status),
    Array(10).fill(404),
    'ten requests served, taking turns',
  )
  t.same(
    answers.map((answer) => answer.headers['ratelimit-remaining']),
    ['4', '4', '3', '3', '2', '2', '1', '1', '0', '0'],
    'each instance counts its own',
  )
  for (const app of apps) {
    const limited = await lookUp(app)
    t.equal(limited.status, 429, 'the sixth on each is refused')
    t.same(limited.body, problemBody(limited, 429, limited.body.detail))
  }
  t.same((await apps[0].injectAs({ url: '/ready' })).json(), { status: 'ready' }, '/ready names no store')
})

t.test(
  'a Redis that does not answer: requests are served at once, uncounted; one warning; /ready names it',
  async (t) => {
    const app = await build(t, { REDIS_URL: `redis://127.0.0.1:${CLOSED_PORT}`, RATE_LIMIT_PER_MINUTE: 5 })
    const store = app.rateLimitStore!
    t.not(store.status, 'ready', 'the app started without it')

    for (let i = 0; i < 7; i++) {
      const { reply, ms } = await timedLookUp(app)
      t.equal(reply.status, 404, `request ${i + 1}: served, beyond the limit too`)
      t.same(rateLimitHeaders(reply), UNCOUNTED, `request ${i + 1}: not counted`)
      t.ok(ms < 500, `request ${i + 1}: answered in ${Math.round(ms)} ms, without waiting for Redis`)
    }

    // Two more attempts to reconnect, each failing: the outage is still the one logged.
    await once(store, 'error')
    await once(store, 'error')
    t.same(storeLines(app), [{ level: 40, msg: UNAVAILABLE }], 'a single warning')
    const warning = app.logs().find((line) => line.msg === UNAVAILABLE)
    t.match(warning?.err, { message: `connect ECONNREFUSED 127.0.0.1:${CLOSED_PORT}` }, 'naming why')
    await answersNotReady(t, app)
  },
)

t.test(
  'a Redis that goes away and comes back: served uncounted meanwhile, /ready names it, then counted again',
  async (t) => {
    const { prefix } = ownKeys(t)
    const proxy = await redisProxy(t)
    const app = await build(t, { REDIS_URL: redisUrl(prefix, proxy.port), RATE_LIMIT_PER_MINUTE: 5 })
    const store = app.rateLimitStore!
    t.same(rateLimitHeaders(await lookUp(app)), { limit: '5', remaining: '4', reset: '60' }, 'counted')
    t.equal((await lookUp(app)).headers['ratelimit-remaining'], '3')
    await answersReady(t, app)

    const lost = once(store, 'close')
    await proxy.close()
    await lost
    for (let i = 0; i < 3; i++) {
      const { reply, ms } = await timedLookUp(app)
      t.equal(reply.status, 404, `while it is gone, request ${i + 1}: served`)
      t.same(rateLimitHeaders(reply), UNCOUNTED, `request ${i + 1}: not counted`)
      t.ok(ms < 500, `request ${i + 1}: answered in ${Math.round(ms)} ms`)
    }
    await answersNotReady(t, app)
    t.same(storeLines(app), [{ level: 40, msg: UNAVAILABLE }], 'a single warning')

    const back = once(store, 'ready')
    await redisProxy(t, proxy.port)
    await back
    await answersReady(t, app)
    t.equal((await lookUp(app)).headers['ratelimit-remaining'], '2', 'counted again, from the count kept in Redis')
    t.same(
      storeLines(app),
      [
        { level: 40, msg: UNAVAILABLE },
        { level: 30, msg: AVAILABLE_AGAIN },
      ],
      'and said so',
    )
  },
)
