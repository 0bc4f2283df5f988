// The change feed as Server-Sent Events (GET /api/stream/events), over real HTTP, read as clients
// read it: with the `eventsource` package and with a plain fetch of the body.
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { EventSource } from 'eventsource'
import pg from 'pg'
import t, { type Test } from 'tap'
import { EVENT_TYPES } from '../schemas/event.js'
import { createKey } from '../src/services/keys.js'
import {
  build,
  type Client,
  client,
  escapeRegExp,
  newCustomer,
  newProduct,
  PROBLEM_JSON,
  problemBody,
  serve,
  tempFolder,
  TEST_KEY,
  type TestApp,
  until,
  upload,
} from './helper.js'
import { postgresSchema, TEST_DATABASE_URL } from './postgres.js'

/**
 * How long a test waits for what the contract promises within a second (an event after its
 * commit): generous, so that a loaded machine does not fail the test; nothing is timed closer.
 */
const PATIENCE_MS = 3000

/** The whole feed as GET /api/get/events answers it (up to 1000 events after `after`). */
async function feed(api: Client, query: Record<string, string | number> = {}): Promise<any[]> {
  return (await api.get('/api/get/events', { query: { limit: 1000, ...query } })).body.events as any[]
}

interface Received {
  id: string
  type: string
  data: any
}

/**
 * An EventSource of the `eventsource` package on `url`, sending `key` as a client does (through its
 * `fetch` option), that keeps every event of the feed's types it receives and the headers of each
 * of its requests; closed when `t` ends.
 */
function eventSource(t: Test, url: string, key = TEST_KEY) {
  const requests: Record<string, string>[] = []
  const source = new EventSource(url, {
    fetch: (input, init) => {
      requests.push({ ...init.headers })
      return fetch(input, { ...init, headers: { ...init.headers, authorization: `Bearer ${key}` } })
    },
  })
  t.teardown(() => source.close())
  const received: Received[] = []
  let errors = 0
  let opened = 0
  for (const type of EVENT_TYPES) {
    source.addEventListener(type, (message) =>
      received.push({ id: message.lastEventId, type: message.type, data: JSON.parse(message.data as string) }),
    )
  }
  source.addEventListener('error', () => errors++)
  source.addEventListener('open', () => opened++)
  return {
    source,
    received,
    requests,
    errors: () => errors,
    opened: () => opened,
    /** Waits (boundedly) until `count` events have arrived in all. */
    waitFor: (count: number, ms = PATIENCE_MS) => until(() => received.length >= count, ms),
  }
}

/** An event as a plain reading of the stream sees it: also its lines, as sent. */
interface StreamedEvent extends Received {
  lines: string[]
}

/** One message of a stream: a comment, or an event with its id, type and data (parsed). */
type Message = { comment: string } | StreamedEvent

/** One message of a text/event-stream body (the lines before an empty one). */
function messageOf(block: string): Message {
  const lines = block.split('\n')
  if (lines.every((line) => line.startsWith(':'))) return { comment: lines.map((line) => line.slice(1)).join('\n') }
  const field = (name: string) => lines.find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2)
  return { id: field('id')!, type: field('event')!, data: JSON.parse(field('data') ?? 'null'), lines }
}

const eventsOf = (messages: Message[]) => messages.filter((message): message is StreamedEvent => 'id' in message)

/**
 * A stream read with a plain fetch, as text: the response, the text so far, its messages and
 * whether the body has ended; `close` ends it from the client's side (also when `t` ends).
 */
async function rawStream(t: Test, url: string, headers: Record<string, string> = {}) {
  const controller = new AbortController()
  t.teardown(() => controller.abort())
  const res = await fetch(url, {
    headers: { authorization: `Bearer ${TEST_KEY}`, ...headers },
    signal: controller.signal,
  })
  let text = ''
  let rest = ''
  let ended = false
  const messages: Message[] = []
  const decoder = new TextDecoder()
  const reader = res.body!.getReader()
  void (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        const chunk = decoder.decode(value, { stream: true })
        text += chunk
        const blocks = (rest + chunk).split('\n\n')
        rest = blocks.pop()! // not a whole message yet
        messages.push(...blocks.map(messageOf))
      }
    } catch {
      // Aborted by the client: the stream has ended all the same.
    }
    ended = true
  })()
  const events = () => eventsOf(messages)
  return {
    res,
    text: () => text,
    ended: () => ended,
    messages: () => messages,
    events,
    close: () => controller.abort(),
    /** Waits (boundedly) until `count` events have arrived in all. */
    waitFor: (count: number, ms = PATIENCE_MS) => until(() => events().length >= count, ms),
  }
}

/** The events of the feed as a stream carries them: id as text, type as the event's name, the event as data. */
const asStreamed = (events: any[]) => events.map((event) => ({ id: String(event.id), type: event.type, data: event }))

/** The received events without the raw lines a plain reading keeps. */
const withoutLines = (events: Received[]) => events.map(({ id, type, data }) => ({ id, type, data }))

/** Makes `count` changes: new customers with e-mail addresses from `tag`. */
async function addCustomers(api: Client, tag: string, count: number) {
  for (let i = 0; i < count; i++) {
    const res = await api.post(
      '/api/add/customer',
      newCustomer({ name: `${tag} ${i}`, email: `${tag}${i}@example.com` }),
    )
    if (res.status !== 201) throw new Error(`customer ${tag} ${i}: ${res.status} ${res.text}`)
  }
}

t.test('an EventSource gets the events made before it connected, then each new one as it is made', async (t) => {
  const { app, base } = await serve(t)
  const api = client(app)
  const ada = (await api.post('/api/add/customer', newCustomer())).body
  await api.post('/api/add/product', newProduct(ada.id))
  await api.post('/api/update/customer', { id: ada.id, name: 'Ada King' })
  const history = await feed(api)
  t.equal(history.length, 3, 'three events before connecting')

  const stream = eventSource(t, `${base}/api/stream/events?after=0`)
  t.ok(await stream.waitFor(3), 'the history arrives')
  t.equal(stream.source.readyState, EventSource.OPEN, 'the EventSource is open')
  t.strictSame(stream.received, asStreamed(history), 'first the history: lastEventId = id, name = type, data = event')

  const ticket = (await api.post('/api/open/customer/request', { customerid: ada.id, request: 'It hums' })).body
  t.ok(await stream.waitFor(4), 'a new change arrives while the stream is open')
  t.equal(stream.received[3]?.type, 'ticket.opened')
  await api.post('/api/close/customer/request', { id: ticket.id, resolved: true, resolution: 'Fixed' })
  await api.post('/api/add/brand/feedback', { customerid: ada.id, heading: 'Good', body: 'Quick fix', nps: 10 })
  t.ok(await stream.waitFor(6), 'and the next ones')
  await sleep(300)
  t.strictSame(
    stream.received,
    asStreamed(await feed(api)),
    'every event once, in order, exactly as GET /api/get/events shows it',
  )
  t.equal(stream.errors(), 0, 'no error, no reconnection')
  t.equal(stream.requests.length, 1)
})

t.test('without after, a stream starts at the beginning of the feed', async (t) => {
  const { app, base } = await serve(t)
  const api = client(app)
  await addCustomers(api, 'early', 2)
  const raw = await rawStream(t, `${base}/api/stream/events`)
  t.equal(raw.res.status, 200)
  t.equal(raw.res.headers.get('content-type'), 'text/event-stream; charset=utf-8', 'content-type text/event-stream')
  t.equal(raw.res.headers.get('cache-control'), 'no-store', 'not stored by caches')
  t.ok(await raw.waitFor(2), 'both events')
  t.strictSame(raw.messages()[0], { comment: ' the change feed' }, 'a comment opens the stream')
  const [first] = raw.events()
  t.strictSame(
    first!.lines.map((line) => line.split(': ')[0]),
    ['id', 'event', 'data'],
    'each event: an id line, an event line, a data line',
  )
  t.strictSame(withoutLines(raw.events()), asStreamed(await feed(api)))
})

t.test('resuming: after Last-Event-ID or after, nothing lost and nothing repeated', async (t) => {
  const { app, base } = await serve(t)
  const api = client(app)
  await addCustomers(api, 'a', 3)
  const url = `${base}/api/stream/events`

  const first = await rawStream(t, url)
  t.ok(await first.waitFor(3), 'three events on the first connection')
  first.close()
  t.ok(await until(first.ended, PATIENCE_MS), 'the client closed it')
  const lastSeen = first.events().at(-1)!.id

  await addCustomers(api, 'b', 2)
  const resumed = await rawStream(t, url, { 'last-event-id': lastSeen })
  t.ok(await resumed.waitFor(2), 'the events made while away')
  await addCustomers(api, 'c', 1)
  t.ok(await resumed.waitFor(3), 'then the new one')
  await sleep(300)
  const all = await feed(api)
  t.equal(all.length, 6)
  t.strictSame(
    withoutLines([...first.events(), ...resumed.events()]),
    asStreamed(all),
    'the two connections together: every event exactly once',
  )

  const afterQuery = await rawStream(t, `${url}?after=${all[1].id}`)
  t.ok(await afterQuery.waitFor(4), '?after= resumes the same way')
  await sleep(300)
  t.strictSame(withoutLines(afterQuery.events()), asStreamed(all.slice(2)), 'the events after it, and only those')

  const both = await rawStream(t, `${url}?after=0`, { 'last-event-id': String(all[4].id) })
  t.ok(await both.waitFor(1), 'with both')
  await sleep(300)
  t.strictSame(withoutLines(both.events()), asStreamed(all.slice(5)), 'Last-Event-ID wins over after')

  const past = await rawStream(t, url, { 'last-event-id': String(all[5].id) })
  await sleep(300)
  t.strictSame(past.events(), [], 'resuming after the newest: nothing until something happens')
  await addCustomers(api, 'd', 1)
  t.ok(await past.waitFor(1), 'then that')
  t.equal(past.events()[0]?.data.data.email, 'd0@example.com')
})

t.test('a backlog of several pages of the stream (1000 events each) arrives whole, then the live events', async (t) => {
  const { app, base } = await serve(t)
  const api = client(app)
  const rows = Array.from({ length: 2500 }, (_, i) => `Person ${i},person${i}@example.com,Street ${i}`)
  const report = await upload(app, '/upload/customers', { filename: 'many.csv', content: rows.join('\n') })
  t.equal(report.body.inserted, 2500, '2500 customers, 2500 events')
  const raw = await rawStream(t, `${base}/api/stream/events`)
  t.ok(await raw.waitFor(2500), 'the whole backlog, with nothing new to wake the stream')
  await addCustomers(api, 'live', 1)
  t.ok(await raw.waitFor(2501), 'then a new event')
  await sleep(300)
  const all: any[] = []
  for (;;) {
    const page = await feed(api, { after: all.at(-1)?.id ?? 0 })
    if (page.length === 0) break
    all.push(...page)
  }
  t.equal(all.length, 2501)
  t.strictSame(
    raw.events().map((event) => Number(event.id)),
    all.map((event) => event.id),
    'every event once, in id order',
  )
  t.strictSame(withoutLines(raw.events()), asStreamed(all), 'each exactly as the feed shows it')
})

t.test('an EventSource that loses its connection reconnects by itself and resumes where it was', async (t) => {
  const { app, base } = await serve(t)
  const api = client(app)
  await addCustomers(api, 'before', 2)
  const stream = eventSource(t, `${base}/api/stream/events`)
  t.ok(await stream.waitFor(2), 'the first two')
  t.strictSame(stream.requests, [{ Accept: 'text/event-stream' }], 'the first request has no Last-Event-ID')

  // The connection drops (a proxy, the network): the server stays up.
  app.server.closeAllConnections()
  t.ok(await until(() => stream.errors() > 0, PATIENCE_MS), 'the EventSource sees the connection go')
  await addCustomers(api, 'away', 2)
  // `eventsource` waits 3 s before reconnecting, as the server sends no `retry:`.
  t.ok(await stream.waitFor(4, 3000 + PATIENCE_MS), 'after reconnecting, the events made while it was away')
  await addCustomers(api, 'back', 1)
  t.ok(await stream.waitFor(5), 'and the new ones')
  await sleep(300)
  t.strictSame(stream.received, asStreamed(await feed(api)), 'every event exactly once, in order')
  t.strictSame(
    stream.requests,
    [{ Accept: 'text/event-stream' }, { Accept: 'text/event-stream', 'Last-Event-ID': stream.received[1]!.id }],
    'it reconnected once, sending the id of the last event it had',
  )
  t.equal(stream.opened(), 2, 'two connections opened')
})

t.test('the filters apply to a stream: type (and groups), entity and entityid', async (t) => {
  const { app, base } = await serve(t)
  const api = client(app)
  const ada = (await api.post('/api/add/customer', newCustomer())).body
  const bob = (await api.post('/api/add/customer', newCustomer({ name: 'Bob', email: 'bob@example.com' }))).body
  const adaTicket = (await api.post('/api/open/customer/request', { customerid: ada.id, request: 'One' })).body

  const tickets = eventSource(t, `${base}/api/stream/events?type=ticket.*`)
  const history = await rawStream(t, `${base}/api/stream/events?entity=customer&entityid=${bob.id}`)
  const created = await rawStream(t, `${base}/api/stream/events?type=customer.created,product.created`)
  t.ok(await tickets.waitFor(1), 'the ticket opened before')
  t.ok(await history.waitFor(1), "Bob's creation")
  t.ok(await created.waitFor(2), 'both customers created')

  await api.post('/api/update/customer', { id: bob.id, phone: '555' })
  await api.post('/api/update/customer', { id: ada.id, phone: '556' })
  const bobTicket = (await api.post('/api/open/customer/request', { customerid: bob.id, request: 'Two' })).body
  await api.post('/api/close/customer/request', { id: adaTicket.id, resolved: false, resolution: 'No' })
  await api.post('/api/add/product', newProduct(bob.id))
  t.ok(await tickets.waitFor(3), 'the new ticket events')
  t.ok(await history.waitFor(2), "Bob's update")
  t.ok(await created.waitFor(3), 'the product created')
  await sleep(300)

  const all = await feed(api)
  t.strictSame(
    tickets.received,
    asStreamed(all.filter((event) => event.entity === 'ticket')),
    'type=ticket.*: opened, opened, closed',
  )
  t.strictSame(
    tickets.received.map((event) => [event.type, event.data.entityid]),
    [
      ['ticket.opened', adaTicket.id],
      ['ticket.opened', bobTicket.id],
      ['ticket.closed', adaTicket.id],
    ],
  )
  t.strictSame(
    withoutLines(history.events()),
    asStreamed(all.filter((event) => event.entity === 'customer' && event.entityid === bob.id)),
    "entity=customer&entityid: Bob's history and nothing else",
  )
  t.strictSame(
    withoutLines(created.events()).map((event) => event.type),
    ['customer.created', 'customer.created', 'product.created'],
    'a list of types',
  )
})

t.test('a comment line keeps an idle stream alive every STREAM_HEARTBEAT_MS', async (t) => {
  const { base } = await serve(t, { STREAM_HEARTBEAT_MS: 200 })
  const raw = await rawStream(t, `${base}/api/stream/events`)
  const beats = () => raw.messages().filter((message) => 'comment' in message && message.comment === ' still here')
  t.ok(await until(() => beats().length >= 3, PATIENCE_MS), 'comment lines keep coming while nothing happens')
  t.match(raw.text(), /^: the change feed\n\n(: still here\n\n)+$/, 'and nothing else: comments only, each whole')
  t.strictSame(raw.events(), [], 'no event')
})

t.test('bad input is a problem, not a stream; the feed needs a key', async (t) => {
  const { app, base } = await serve(t)
  const url = `${base}/api/stream/events`
  const { key: reader } = await createKey(app.db, 'stream reader', 'reader')
  const cases: [string, Record<string, string>, number, string][] = [
    [
      '?type=customer.exploded',
      {},
      400,
      'The request has 1 invalid field: type names customer.exploded, which is no event type',
    ],
    ['?entityid=3', {}, 400, 'The request has 1 invalid field: entityid needs `entity` too.'],
    ['?limit=5', {}, 400, 'The request has 1 invalid field'],
    ['?after=-1', {}, 400, 'The request has 1 invalid field: after must be >= 0.'],
    ['', { 'last-event-id': 'latest' }, 400, 'The request has 1 invalid field'],
  ]
  for (const [query, headers, status, detail] of cases) {
    const res = await fetch(`${url}${query}`, { headers: { authorization: `Bearer ${TEST_KEY}`, ...headers } })
    t.equal(res.status, status, `${query} ${JSON.stringify(headers)}: ${status}`)
    t.equal(res.headers.get('content-type'), PROBLEM_JSON, 'a problem, not text/event-stream')
    const body = await res.json()
    t.match(body, { type: 'about:blank', status, detail: new RegExp(`^${escapeRegExp(detail)}`) }, detail)
  }

  const anonymous = await fetch(url)
  t.equal(anonymous.status, 401, 'no key: 401')
  t.equal(anonymous.headers.get('content-type'), PROBLEM_JSON)
  t.strictSame(
    await anonymous.json(),
    problemBody(
      { headers: { 'x-request-id': anonymous.headers.get('x-request-id') } },
      401,
      'This request needs an API key: send Authorization: Bearer <key>.',
    ),
  )
  const refused = eventSource(t, url, 'crm_not-a-key')
  t.ok(
    await until(() => refused.source.readyState === EventSource.CLOSED, PATIENCE_MS),
    'an EventSource with a bad key gives up',
  )
  t.equal(refused.received.length, 0)

  const asReader = await fetch(url, { headers: { authorization: `Bearer ${reader}` } })
  t.equal(asReader.status, 200, 'a reader key may follow the feed')
  t.equal(asReader.headers.get('content-type'), 'text/event-stream; charset=utf-8')
  await asReader.body?.cancel()
})

/** A database two apps share: a SQLite file, or one PostgreSQL schema. */
const sharedDatabase = async (t: Test) =>
  TEST_DATABASE_URL ? postgresSchema(t) : join(tempFolder(t, 'stream'), 'crm.sqlite')

t.test('a stream on one instance gets the events another instance makes on the same database', async (t) => {
  const database = await sharedDatabase(t)
  const { app: a, base } = await serve(t, { DATABASE_URL: database })
  const b: TestApp = await build(t, { DATABASE_URL: database })
  const onA = client(a)
  const onB = client(b)
  await addCustomers(onA, 'a', 1)
  const stream = eventSource(t, `${base}/api/stream/events`)
  t.ok(await stream.waitFor(1), "A's own event")

  const ada = (await onB.post('/api/add/customer', newCustomer())).body
  t.ok(await stream.waitFor(2), "B's change reaches the stream open on A")
  await onB.post('/api/add/product', newProduct(ada.id))
  await onA.post('/api/update/customer', { id: ada.id, name: 'Ada King' })
  await onB.post('/api/open/customer/request', { customerid: ada.id, request: 'Hello from B' })
  t.ok(await stream.waitFor(5), 'changes on both instances')
  await sleep(400)
  t.strictSame(stream.received, asStreamed(await feed(onB)), 'every event of both, once, in id order')
  t.strictSame(
    stream.received.map((event) => event.type),
    ['customer.created', 'customer.created', 'product.created', 'customer.updated', 'ticket.opened'],
  )
})

t.test('closing the server ends the open streams at once', async (t) => {
  const { app, base } = await serve(t)
  await addCustomers(client(app), 'x', 1)
  const raw = await rawStream(t, `${base}/api/stream/events`)
  const stream = eventSource(t, `${base}/api/stream/events`)
  t.ok(await raw.waitFor(1), 'a plain reader is streaming')
  t.ok(await stream.waitFor(1), 'an EventSource is streaming')

  const started = Date.now()
  const closed = await Promise.race([app.close().then(() => true), sleep(1500).then(() => false)])
  t.ok(
    closed,
    `app.close() resolves within 1.5 s, long before the 2 s a shutdown waits for requests (${Date.now() - started} ms)`,
  )
  t.ok(await until(raw.ended, 500), "the plain reader's body ends")
  stream.source.close()
})

t.test('a stream still starting when the server begins to close is ended too: the close does not hang', async (t) => {
  // On PostgreSQL whatever the suite runs on: a lock held on `events` keeps the stream's first
  // query (its check of the filters) waiting while the server begins to close.
  const database = await postgresSchema(t)
  const { app, base } = await serve(t, { DATABASE_URL: database })
  const locker = new pg.Client({ connectionString: database })
  await locker.connect()
  t.teardown(() => locker.end())
  await locker.query('begin')
  await locker.query('lock table events in access exclusive mode')

  const controller = new AbortController()
  t.teardown(() => controller.abort())
  const response = fetch(`${base}/api/stream/events`, {
    headers: { authorization: `Bearer ${TEST_KEY}` },
    signal: controller.signal,
  }).catch(() => undefined)
  const waiting = async () =>
    Number(
      (await locker.query(`select count(*) as n from pg_locks where not granted and relation = 'events'::regclass`))
        .rows[0].n,
    )
  let blocked = 0
  for (let i = 0; i < 300 && blocked === 0; i++) {
    blocked = await waiting()
    if (blocked === 0) await sleep(10)
  }
  t.equal(blocked, 1, "the stream's first query waits for the lock")

  const closing = app.close().then(() => true)
  await sleep(100)
  await locker.query('rollback')
  const closed = await Promise.race([closing, sleep(3500).then(() => false)])
  t.ok(closed, 'app.close() resolves (within the 2 s a shutdown waits for requests, and a little more)')
  // The answer: a stream (which must end), a refusal, or none at all (the connection closed).
  const res = await Promise.race([response, sleep(1000).then(() => undefined)])
  let ended = res?.status !== 200
  if (res?.body) {
    const reader = res.body.getReader()
    ended = await Promise.race([
      (async () => {
        for (;;) if ((await reader.read()).done) return true
      })().catch(() => true),
      sleep(500).then(() => false),
    ])
  }
  t.ok(ended, 'the stream is not left open')
  // Lets the server finish closing, when the stream was left open, so that the test ends.
  controller.abort()
  await closing
})
