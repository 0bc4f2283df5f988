// Request ids, rate limits, security headers, the pressure valve, the probes, and what the logs keep out.
import { once } from 'node:events'
import { connect } from 'node:net'
import t from 'tap'
import { JSON_BODY_LIMIT } from '../src/app.js'
import { createKey } from '../src/services/keys.js'
import { build, client, newCustomer, PROBLEM_JSON, problemBody, serve, TEST_KEY } from './helper.js'

/** The content security policy every answer carries: Swagger UI's and the page's own needs, nothing from elsewhere. */
const POLICY = [
  "default-src 'self'",
  "base-uri 'self'",
  "font-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'self'",
  "img-src 'self' data:",
  "object-src 'none'",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self' 'unsafe-inline'",
].join(';')

t.test('every response carries X-Request-Id: a sane incoming one is kept, and problems and logs name it', async (t) => {
  const app = await build(t)
  const given = await app.inject({ url: '/api/get/customer?id=9', headers: { 'x-request-id': 'trace-42.a:b' } })
  t.equal(given.headers['x-request-id'], 'trace-42.a:b', 'kept')
  t.equal(given.json().instance, 'urn:request:trace-42.a%3Ab', 'the problem names it as its instance')
  t.same(
    app
      .logs()
      .filter((line) => line.req ?? line.res)
      .map((line) => line.reqId),
    ['trace-42.a:b', 'trace-42.a:b'],
    'every request log line has the request id',
  )
  t.same(
    app
      .logs()
      .filter((line) => line.reqId === 'trace-42.a:b')
      .map((line) => line.msg),
    ['incoming request', 'request completed'],
    'the logs name it',
  )

  for (const insane of ['a b', 'x'.repeat(129), '<script>', '']) {
    const res = await app.inject({ url: '/api/get/customer?id=9', headers: { 'x-request-id': insane } })
    t.match(
      res.headers['x-request-id'],
      /^[0-9a-f-]{36}$/,
      `${JSON.stringify(insane.slice(0, 10))} is replaced by a new UUID`,
    )
  }
  const fresh = await app.inject({ url: '/health' })
  t.match(fresh.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'a request without one gets one, public routes too')
  const unknown = await app.inject({ url: '/nowhere' })
  t.same(unknown.json(), problemBody(unknown, 404, 'No route matches GET /nowhere.'), 'and unknown routes')
  t.equal(unknown.json().instance, `urn:request:${String(unknown.headers['x-request-id'])}`)
})

t.test('keys and Authorization headers never reach the logs', async (t) => {
  const app = await build(t, { LOG_LEVEL: 'trace' })
  const { key } = await createKey(app.db, 'reader', 'reader')
  await app.injectAs({ url: '/api/get/customer?id=1', headers: { authorization: `Bearer ${key}` } })
  await app.injectAs({ url: '/api/get/customer?id=1', headers: { 'x-api-key': key } })
  await app.injectAs({ url: '/api/get/customer?id=1', headers: { authorization: `Bearer ${TEST_KEY}` } })
  const text = JSON.stringify(app.logs())
  t.notMatch(text, key, 'a stored key is not logged')
  t.notMatch(text, TEST_KEY, 'API_KEY is not logged')
  t.same(
    app
      .logs()
      .filter((line) => line.msg === 'authenticated')
      .map(({ key: prefix, role }) => ({ key: prefix, role })),
    [
      { key: key.slice(0, 12), role: 'reader' },
      { key: key.slice(0, 12), role: 'reader' },
      { key: 'API_KEY', role: 'admin' },
    ],
    'its prefix names it',
  )
})

t.test('rate limits: per key and per address, with RateLimit headers and a 429 problem with Retry-After', async (t) => {
  const app = await build(t, { RATE_LIMIT_PER_MINUTE: 3 })
  const { key } = await createKey(app.db, 'other', 'reader')
  const api = client(app)
  const first = await api.get('/api/get/customer', { query: { id: 1 } })
  t.equal(first.headers['ratelimit-limit'], '3')
  t.equal(first.headers['ratelimit-remaining'], '2')
  // The seconds left of the minute: timing decides whether one has passed already.
  t.ok(Number(first.headers['ratelimit-reset']) > 0, 'RateLimit-Reset in seconds')
  t.ok(Number(first.headers['ratelimit-reset']) <= 60, 'of the minute')
  await api.get('/api/get/customer', { query: { id: 1 } })
  await api.get('/api/get/customer', { query: { id: 1 } })
  const limited = await api.post('/api/add/customer', newCustomer())
  t.equal(limited.status, 429, 'the fourth request in a minute is refused')
  t.equal(limited.headers['content-type'], PROBLEM_JSON)
  const after = /^Too many requests: 3 a minute are allowed; try again in (\d+ seconds?|1 minute)\.$/
  t.match(limited.body.detail, after)
  t.same(limited.body, problemBody(limited, 429, limited.body.detail))
  t.ok(Number(limited.headers['retry-after']) > 0, 'with Retry-After')
  t.ok(Number(limited.headers['retry-after']) <= 60, 'at most the rest of the minute')
  t.equal(
    await app.db
      .selectFrom('customers')
      .selectAll()
      .execute()
      .then((rows) => rows.length),
    0,
    'nothing stored',
  )

  const otherKey = await app.injectAs({ url: '/api/get/customer?id=1', headers: { 'x-api-key': key } })
  t.equal(otherKey.statusCode, 404, 'another key has its own count')
  for (let i = 0; i < 3; i++) await app.injectAs({ url: '/api/get/customer?id=1', remoteAddress: '10.0.0.7' })
  const address = await app.injectAs({ url: '/api/get/customer?id=1', remoteAddress: '10.0.0.7' })
  t.equal(address.statusCode, 429, 'without a key, requests count per address (401s too)')
  const probe = await app.injectAs({ url: '/health', remoteAddress: '10.0.0.7' })
  t.equal(probe.statusCode, 200, 'the probes are not limited')
})

t.test('security headers on every answer, with a policy Swagger UI and the page live with', async (t) => {
  const app = await build(t)
  for (const url of ['/', '/docs/', '/api/get/customer?id=1', '/openapi.json']) {
    const res = await app.inject({ url })
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${url}: nosniff`)
    t.equal(res.headers['x-frame-options'], 'SAMEORIGIN', `${url}: no framing by other sites`)
    const policy = String(res.headers['content-security-policy'])
    t.equal(policy, POLICY, `${url}: a content security policy`)
    t.equal(
      policy.split(';').find((directive) => directive.startsWith('form-action ')),
      "form-action 'self'",
      `${url}: forms post only here`,
    )
    t.notMatch(policy, /upgrade-insecure-requests/, `${url}: plain HTTP is not upgraded`)
  }
})

t.test('a saturated event loop answers 503 with Retry-After; /health still answers', async (t) => {
  const app = await build(t, { MAX_EVENT_LOOP_DELAY_MS: 20 })
  const until = Date.now() + 400
  const block = () => {
    while (Date.now() < until) {
      // Busy: the event loop cannot turn.
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 50))
  block()
  await new Promise((resolve) => setTimeout(resolve, 30))
  const res = await app.inject({ url: '/api/get/customer?id=1' })
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '10')
  // How late the event loop ran is measured, not known; Infinity when it was blocked for a whole sample.
  const detail = String(res.json().detail)
  t.match(
    detail,
    /^The server is too busy to take this request \(eventLoopDelay (\d+|Infinity)\); try again shortly\.$/,
  )
  t.same(res.json(), problemBody(res, 503, detail))
  t.equal((await app.inject({ url: '/health' })).statusCode, 200, 'the process is alive')
})

t.test('/health says the process lives; /ready says the database answers', async (t) => {
  const app = await build(t)
  t.same((await app.injectAs({ url: '/health' })).json(), { status: 'ok' })
  t.same((await app.injectAs({ url: '/ready' })).json(), { status: 'ready' })
  await app.db.destroy()
  const down = await app.injectAs({ url: '/ready' })
  t.equal(down.statusCode, 503, 'not ready once the database is gone')
  t.equal(down.headers['retry-after'], '5')
  t.same(down.json(), problemBody(down, 503, 'The database does not answer.'))
})

t.test('a JSON body over the limit is a 413 problem; every string field has a maximum length', async (t) => {
  const app = await build(t)
  const big = await client(app).post('/api/add/customer', newCustomer({ address: 'x'.repeat(70 * 1024) }))
  t.equal(big.status, 413)
  t.same(big.body, problemBody(big, 413, `The request body is larger than the limit of ${JSON_BODY_LIMIT} bytes.`))
  const document = (await app.inject({ url: '/openapi.json' })).json()
  const unbounded: string[] = []
  const visit = (schema: unknown, path: string) => {
    if (!schema || typeof schema !== 'object') return
    const s = schema as Record<string, unknown>
    const types = [s.type].flat()
    // A pattern without open-ended repetition (the date's) bounds the length as well.
    const boundedPattern = typeof s.pattern === 'string' && !/[*+]|\{\d+,\}/.test(s.pattern)
    const bounded = s.maxLength !== undefined || s.enum !== undefined || boundedPattern || s.format === 'binary'
    if (types.includes('string') && !bounded) unbounded.push(path)
    for (const [key, value] of Object.entries(s)) {
      if (key !== 'example' && key !== 'examples') visit(value, `${path}/${key}`)
    }
  }
  for (const [path, methods] of Object.entries(document.paths as Record<string, Record<string, any>>)) {
    for (const [method, operation] of Object.entries(methods)) {
      visit(operation.requestBody, `${method} ${path} body`)
      for (const parameter of operation.parameters ?? []) visit(parameter.schema, `${method} ${path} ${parameter.name}`)
    }
  }
  t.same(unbounded, [], 'every string a client sends has a maxLength')
})

t.test('TRUST_PROXY: behind a proxy, the client address is the forwarded one', async (t) => {
  const app = await build(t, { TRUST_PROXY: 'true', RATE_LIMIT_PER_MINUTE: 1 })
  const first = await app.injectAs({ url: '/api/get/customer?id=1', headers: { 'x-forwarded-for': '198.51.100.1' } })
  const second = await app.injectAs({ url: '/api/get/customer?id=1', headers: { 'x-forwarded-for': '198.51.100.2' } })
  t.same([first.statusCode, second.statusCode], [401, 401], 'clients behind one proxy are counted apart')
  const again = await app.injectAs({ url: '/api/get/customer?id=1', headers: { 'x-forwarded-for': '198.51.100.1' } })
  t.equal(again.statusCode, 429, 'each by its own address')
  const untrusted = await build(t, { RATE_LIMIT_PER_MINUTE: 1 })
  const forwarded = await untrusted.injectAs({
    url: '/api/get/customer?id=1',
    headers: { 'x-forwarded-for': '198.51.100.1' },
  })
  const other = await untrusted.injectAs({
    url: '/api/get/customer?id=1',
    headers: { 'x-forwarded-for': '198.51.100.2' },
  })
  t.same([forwarded.statusCode, other.statusCode], [401, 429], 'without it, X-Forwarded-For is not believed')
})

t.test('Swagger UI calls the server that served it, whatever Host and X-Forwarded-Proto say', async (t) => {
  for (const TRUST_PROXY of ['true', undefined]) {
    const app = await build(t, { TRUST_PROXY })
    const docs = await app.injectAs({
      url: '/docs/json',
      headers: { host: 'crm.example.com', 'x-forwarded-proto': 'https' },
    })
    t.same(
      docs.json().servers,
      [{ url: '/', description: 'This server' }],
      `TRUST_PROXY ${TRUST_PROXY ?? 'unset'}: a server relative to the page, named by no header`,
    )
  }
})

t.test('a shutdown does not wait for a client that went away, nor for a connection that sends nothing', async (t) => {
  const { app, port } = await serve(t)
  // A client that sends half a body and goes away.
  await new Promise<void>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        `POST /api/add/customer HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TEST_KEY}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"na`,
      )
      setTimeout(() => {
        socket.destroy()
        resolve()
      }, 100)
    })
  })
  // And one that connects and sends nothing at all.
  const silent = connect(port, '127.0.0.1')
  await once(silent, 'connect')
  silent.on('error', () => undefined) // the server may reset it: that is the point
  const started = Date.now()
  await app.close()
  t.ok(Date.now() - started < 1000, `closed in ${Date.now() - started} ms`)
})
