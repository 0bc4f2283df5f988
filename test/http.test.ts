// The HTTP layer below the routes: bounds on slow clients, answers to requests that cannot be read, and keys kept out of logged URLs and headers.
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { createKey } from '../src/services/keys.js'
import { AS_ADMIN, build, newCustomer, PROBLEM_JSON, problemBody, serve, TEST_KEY } from './helper.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** Small bounds, so that a slow client is cut off within a test's patience. */
const BOUNDS = { HEADERS_TIMEOUT_MS: 500, REQUEST_TIMEOUT_MS: 1500, KEEP_ALIVE_TIMEOUT_MS: 1000 }

/** How long a test waits for the server to close a connection before concluding it never will. */
const PATIENCE = 5000

interface Exchange {
  /** Whether the server closed the connection within `PATIENCE`. */
  closed: boolean
  /** Milliseconds from the connection to its closing (or to giving up). */
  after: number
  /** Everything the server sent. */
  text: string
}

/**
 * Connects to `port`, lets `talk` write to the connection, and waits until the server closes it
 * (or `PATIENCE` runs out): what the server sent, and when.
 */
async function exchange(port: number, talk: (socket: Socket) => void): Promise<Exchange> {
  const socket = connect(port, '127.0.0.1')
  // A write after the server has closed the connection fails: that is what is being tested.
  socket.on('error', () => undefined)
  await once(socket, 'connect')
  const started = Date.now()
  let text = ''
  socket.on('data', (chunk: Buffer) => (text += chunk.toString()))
  talk(socket)
  const closed = await Promise.race([once(socket, 'close').then(() => true), sleep(PATIENCE).then(() => false)])
  socket.destroy()
  return { closed, after: Date.now() - started, text }
}

/** Writes `text` to `socket` in `pieces` equal parts, one every `every` ms, until it is written or the socket closes. */
function trickle(socket: Socket, text: string, every: number, pieces = text.length) {
  const size = Math.ceil(text.length / pieces)
  let at = 0
  const timer = setInterval(() => {
    if (socket.destroyed || at >= text.length) return clearInterval(timer)
    socket.write(text.slice(at, (at += size)))
  }, every)
  socket.once('close', () => clearInterval(timer))
}

/** One HTTP response as sent: status, headers (names in lower case) and body. */
function response(text: string) {
  const end = text.indexOf('\r\n\r\n')
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n')
  const headers = Object.fromEntries(
    lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
  )
  return { statusLine, headers, body: text.slice(end + 4) }
}

/** Checks that `text` is one whole problem+json answer with `status` and `detail`, closing the connection. */
function isProblem(t: Test, text: string, status: number, detail: string) {
  const { statusLine, headers, body } = response(text)
  t.match(statusLine, new RegExp(`^HTTP/1\\.1 ${status} `), `answered ${status}`)
  t.equal(headers['content-type'], PROBLEM_JSON, 'as problem+json')
  t.equal(headers.connection, 'close', 'closing the connection')
  t.equal(Number(headers['content-length']), Buffer.byteLength(body), 'the whole body')
  t.match(headers['x-request-id'], UUID, 'with a request id')
  t.same(JSON.parse(body), problemBody({ headers }, status, detail), 'the problem, naming the request id')
  return headers
}

const customerJson = JSON.stringify(newCustomer())
const postCustomer = (length = Buffer.byteLength(customerJson)) =>
  `POST /api/add/customer HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TEST_KEY}\r\n` +
  `content-type: application/json\r\ncontent-length: ${length}\r\n\r\n`

t.test('headers that arrive too slowly get a 408 problem once HEADERS_TIMEOUT_MS has passed', async (t) => {
  const { port } = await serve(t, BOUNDS)
  const slow = await exchange(port, (socket) => {
    socket.write('GET /health HTTP/1.1\r\nhost: x\r\n')
    trickle(socket, `x-slow: ${'a'.repeat(200)}\r\n\r\n`, 50)
  })
  t.ok(slow.closed, `closed after ${slow.after} ms`)
  t.ok(slow.after >= BOUNDS.HEADERS_TIMEOUT_MS, 'not before the headers were due')
  t.ok(slow.after < BOUNDS.REQUEST_TIMEOUT_MS, 'by the bound on the headers, not the one on the whole request')
  isProblem(t, slow.text, 408, 'The request headers did not arrive within 0.5 seconds.')

  const silent = await exchange(port, () => undefined)
  t.ok(silent.closed, `a connection that sends nothing is closed too, after ${silent.after} ms`)
  isProblem(t, silent.text, 408, 'The request headers did not arrive within 0.5 seconds.')
})

t.test('a body that arrives too slowly gets a 408 problem once REQUEST_TIMEOUT_MS has passed', async (t) => {
  const { app, port } = await serve(t, BOUNDS)
  const slow = await exchange(port, (socket) => {
    socket.write(postCustomer())
    trickle(socket, customerJson, 100)
  })
  t.ok(slow.closed, `closed after ${slow.after} ms`)
  t.ok(slow.after >= BOUNDS.REQUEST_TIMEOUT_MS, 'not before the whole request was due')
  const headers = isProblem(t, slow.text, 408, 'The request did not arrive in full within 1.5 seconds.')
  const logged = app.logs().filter((line) => line.reqId === headers['x-request-id'])
  t.same(
    logged.map(({ msg, res }) => ({ msg, res })),
    [
      { msg: 'incoming request', res: undefined },
      { msg: 'request cut off', res: { statusCode: 408 } },
    ],
    'the problem names the request as the logs do',
  )
  t.same(await app.db.selectFrom('customers').selectAll().execute(), [], 'nothing stored')
})

t.test('a body announced by Content-Length that never comes gets a 408 problem', async (t) => {
  const { app, port } = await serve(t, BOUNDS)
  const upload = await exchange(port, (socket) => {
    socket.write(
      `POST /upload/customers HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TEST_KEY}\r\n` +
        'content-type: multipart/form-data; boundary=b\r\ncontent-length: 100000\r\n\r\n',
    )
  })
  t.ok(upload.closed, `closed after ${upload.after} ms`)
  t.ok(upload.after >= BOUNDS.REQUEST_TIMEOUT_MS, 'not before the whole request was due')
  isProblem(t, upload.text, 408, 'The request did not arrive in full within 1.5 seconds.')

  // Answered already (it has no key), and kept alive for a body that never comes: closed, with nothing more said.
  const answered = await exchange(port, (socket) =>
    socket.write(
      'POST /api/add/customer HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n',
    ),
  )
  t.ok(answered.closed, `closed after ${answered.after} ms`)
  t.ok(answered.after >= BOUNDS.REQUEST_TIMEOUT_MS, 'once the whole request was due')
  t.equal(response(answered.text).statusLine, 'HTTP/1.1 401 Unauthorized', 'the one answer')
  t.equal(answered.text.match(/HTTP\/1\.1/g)?.length, 1, 'and no other')
  const id = response(answered.text).headers['x-request-id']
  t.same(
    app
      .logs()
      .filter((line) => line.reqId === id)
      .map(({ msg, res }) => ({ msg, res })),
    [
      { msg: 'incoming request', res: undefined },
      { msg: 'request completed', res: { statusCode: 401 } },
      { msg: 'request cut off', res: undefined },
    ],
    'the logs say it was cut off, and answered only once',
  )
})

t.test(
  'a slow request within the bounds is served; an idle connection closes after KEEP_ALIVE_TIMEOUT_MS',
  async (t) => {
    const { port } = await serve(t, BOUNDS)
    const slow = await exchange(port, (socket) => {
      socket.write(postCustomer())
      // Longer than the headers may take, shorter than the whole request may.
      trickle(socket, customerJson, 100, 8)
    })
    const first = response(slow.text)
    t.equal(first.statusLine, 'HTTP/1.1 201 Created', 'the customer is added')
    t.equal(first.headers['keep-alive'], 'timeout=1', 'the answer says how long the connection may idle')
    t.ok(slow.closed, `then the idle connection is closed, after ${slow.after} ms`)
    t.ok(slow.after >= 800 + BOUNDS.KEEP_ALIVE_TIMEOUT_MS, 'not before it was idle for that long')
    t.equal(slow.text.match(/HTTP\/1\.1/g)?.length, 1, 'without another word')
  },
)

t.test('the bounds default to what a 50 MB upload on a slow line needs', async (t) => {
  const app = await build(t)
  t.same(
    {
      headers: app.server.headersTimeout,
      request: app.server.requestTimeout,
      keepAlive: app.server.keepAliveTimeout,
    },
    { headers: 10_000, request: 600_000, keepAlive: 72_000 },
  )
})

t.test('headers too large or a request that is not HTTP get a problem, not a bare answer', async (t) => {
  const { port } = await serve(t)
  const large = await exchange(port, (socket) =>
    socket.write(`GET /health HTTP/1.1\r\nhost: x\r\nx-large: ${'a'.repeat(20 * 1024)}\r\n\r\n`),
  )
  t.ok(large.closed)
  isProblem(t, large.text, 431, 'The request headers are larger than the limit of 16384 bytes.')
  const garbled = await exchange(port, (socket) => socket.write('HELLO THERE\r\n\r\n'))
  t.ok(garbled.closed)
  isProblem(t, garbled.text, 400, 'The request is not well-formed HTTP/1.1.')
})

t.test('a key in a URL or a logged header is logged as its prefix only', async (t) => {
  const app = await build(t)
  const { key } = await createKey(app.db, 'reader', 'reader')
  const prefix = key.slice(0, 12)
  const secret = key.slice(12)
  await app.injectAs({ url: `/api/get/customer?id=1&api_key=${key}` })
  await app.injectAs({ url: `/api/get/customer?id=1&key=${TEST_KEY}` })
  await app.inject({ url: `/api/${key}/customer`, headers: AS_ADMIN })
  await app.injectAs({ url: '/health', headers: { host: `${key}.example.com`, 'accept-version': key } })
  const ids = await app.injectAs({ url: '/health', headers: { 'x-request-id': key } })
  t.match(ids.headers['x-request-id'], UUID, 'a key sent as the request id is replaced by a new one')

  t.same(
    app
      .logs()
      .filter((line) => line.msg === 'incoming request')
      .map(({ req }: any) => ({ url: req.url, host: req.host, version: req.version })),
    [
      { url: `/api/get/customer?id=1&api_key=${prefix}[Redacted]`, host: 'localhost:80', version: undefined },
      { url: '/api/get/customer?id=1&key=[Redacted]', host: 'localhost:80', version: undefined },
      { url: `/api/${prefix}[Redacted]/customer`, host: 'localhost:80', version: undefined },
      { url: '/health', host: `${prefix}[Redacted].example.com`, version: `${prefix}[Redacted]` },
      { url: '/health', host: 'localhost:80', version: undefined },
    ],
    'each key in the URL, the Host and Accept-Version keeps its prefix and loses the rest',
  )
  const text = JSON.stringify(app.logs())
  t.notOk(text.includes(secret), 'what follows the prefix is in no log line')
  t.notOk(text.includes(TEST_KEY), 'nor is API_KEY')
})
