// Webhooks: managing them (admins only, the secret shown once), the urls refused, every event of
// the types taken delivered signed as Standard Webhooks says, retries, redirects and timeouts,
// secret rotation, the disabling of a webhook that only fails, idempotent management, and an
// attempt cut off when the server closes and made again after its lease lapses.
// Receivers are real HTTP servers on 127.0.0.1; no webhook url names another host than this one.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Webhook, WebhookVerificationError } from 'standardwebhooks'
import t, { type Test } from 'tap'
import type { Config } from '../src/config.js'
import { SERVER } from '../src/changes.js'
import { createKey } from '../src/services/keys.js'
import { createWebhook } from '../src/services/webhooks.js'
import {
  build,
  type Client,
  client,
  newCustomer,
  newProduct,
  PROBLEM_JSON,
  problemBody,
  type Reply,
  tempFolder,
  type TestApp,
  until as within,
} from './helper.js'
import { postgresSchema, TEST_DATABASE_URL } from './postgres.js'

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const SECRET = /^whsec_[A-Za-z0-9+/]{43}=$/
const EVERY_GROUP = ['customer.*', 'product.*', 'feedback.*', 'ticket.*']

/** Receivers on this machine allowed, retried quickly: the settings of most tests here. */
const LOCAL: Partial<Config> = {
  WEBHOOK_ALLOW_PRIVATE: 'true',
  WEBHOOK_RETRY_DELAYS_MS: '50,50,50',
  WEBHOOK_TIMEOUT_MS: 2000,
}

interface Received {
  headers: IncomingHttpHeaders
  body: string
  at: number
}

type Answer = (count: number, request: IncomingMessage, response: ServerResponse) => void

const noContent: Answer = (_count, _request, response) => response.writeHead(204).end()

/**
 * A webhook receiver: an HTTP server on 127.0.0.1 that keeps every request it gets and answers the
 * `count`th as `answer` says (204 unless told); closed, with any connection left hanging, when `t` ends.
 */
async function receiver(t: Test, answer: Answer = noContent) {
  const received: Received[] = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks).toString(), at: Date.now() })
      answer(received.length, request, response)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  return { url: `http://127.0.0.1:${port}/hook`, port, received, server }
}

/** Long enough for the dispatcher to have looked twice (it looks every 250 ms): what it has not sent by then it does not send. */
const QUIET_MS = 600

/** Waits until `check` holds, looking every 20 ms; fails after `ms`. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 8000) {
  if (!(await within(check, ms, 20))) throw new Error(`timed out waiting until ${what}`)
}

/** Verifies a delivery with `secret` as a receiver would (the standardwebhooks package): its parsed body. */
const verify = (secret: string, delivery: Received) =>
  new Webhook(secret).verify(delivery.body, delivery.headers as Record<string, string>) as {
    type: string
    timestamp: string
    data: Record<string, unknown>
  }

/** The whole feed after `after`. */
async function events(api: Client, after = 0): Promise<any[]> {
  const page = await api.get('/api/get/events', { query: { after, limit: 1000 } })
  if (page.status !== 200) throw new Error(`the feed answered ${page.status}`)
  return page.body.events as any[]
}

/** The id of the newest event, 0 when none. */
const newestEvent = async (api: Client) => (await events(api)).at(-1)?.id ?? 0

const attempts = async (api: Client, id: number): Promise<any[]> => {
  const log = await api.get('/api/get/webhook/deliveries', { query: { id } })
  if (log.status !== 200) throw new Error(`the log answered ${log.status}`)
  return log.body as any[]
}

const rowsOf = async (app: TestApp, table: 'webhook_deliveries' | 'webhook_attempts', webhookid: number) =>
  app.db.selectFrom(table).selectAll().where('webhookid', '=', webhookid).execute()

const webhookRow = (app: TestApp, id: number) =>
  app.db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirstOrThrow()

function isProblem(t: Test, res: Reply, status: number, detail: string, message: string) {
  t.equal(res.status, status, `${message}: ${status}`)
  t.equal(res.headers['content-type'], PROBLEM_JSON, `${message}: a problem`)
  t.strictSame(res.body, problemBody(res, status, detail), `${message}: the problem`)
}

/** A 400 for one invalid field: `message` about `field` (a pattern: the message matches it). */
function isInvalid(t: Test, res: Reply, field: string, message: string | RegExp, what: string) {
  t.equal(res.status, 400, `${what}: 400`)
  t.equal(res.headers['content-type'], PROBLEM_JSON, `${what}: a problem`)
  if (typeof message === 'string') {
    const detail = `The request has 1 invalid field: ${field} ${message}.`
    t.strictSame(res.body, problemBody(res, 400, detail, [{ field, message }]), `${what}: the problem`)
  } else {
    t.match(res.body.errors, [{ field, message }], `${what}: ${String(res.body.detail)}`)
    t.equal(res.body.errors?.length, 1, `${what}: one field`)
  }
}

t.test('management: add, list, update, delete; 404s, 400s, and only admins', async (t) => {
  const app = await build(t, LOCAL)
  const api = client(app)
  const [first, second] = [await receiver(t), await receiver(t)]

  const added = await api.post('/api/add/webhook', { url: first.url, description: 'Sync to the shop' })
  t.equal(added.status, 201, 'added: 201')
  const { secret, ...shown } = added.body
  t.match(secret, SECRET, 'the secret: whsec_ and base64')
  t.equal(Buffer.from(String(secret).slice(6), 'base64').length, 32, 'of 32 bytes')
  t.match(shown.created, ISO)
  const id = shown.id as number
  t.strictSame(
    shown,
    {
      id,
      url: first.url,
      types: EVERY_GROUP,
      description: 'Sync to the shop',
      enabled: true,
      disabledreason: null,
      created: shown.created,
      updated: shown.created,
    },
    'the webhook as added: every group of types when none named',
  )
  const other = await api.post('/api/add/webhook', { url: first.url })
  t.equal(other.status, 201)
  t.not(other.body.secret, secret, 'each webhook has a secret of its own')
  t.equal(other.body.description, null, 'no description: null')

  const list = await api.get('/api/get/webhooks')
  t.equal(list.status, 200)
  t.strictSame(list.body, [shown, (({ secret: _, ...rest }) => rest)(other.body)], 'listed oldest first, as shown')
  t.notOk(list.text.includes(String(secret).slice(6)), 'no secret in the listing')
  t.notOk(list.text.includes('secret'), 'no secret field in the listing')
  t.equal((await api.post('/api/delete/webhook', { id: other.body.id })).status, 200)

  // Delivered to the url as it is now.
  const c1 = await api.post('/api/add/customer', newCustomer())
  await until('the first receiver has the customer', () => first.received.length === 1)
  const moved = await api.post('/api/update/webhook', { id, url: second.url })
  t.equal(moved.status, 200, 'the url changed')
  t.strictSame(moved.body, { ...shown, url: second.url, updated: moved.body.updated }, 'only the url changed')
  t.ok(moved.body.updated >= shown.updated, 'updated set')
  await api.post('/api/update/customer', { id: c1.body.id, phone: '+44 20 7946 0000' })
  await until('the second receiver has the change', () => second.received.length === 1)
  t.equal(JSON.parse(second.received[0]!.body).type, 'customer.updated', 'the change went to the new url')
  t.equal(first.received.length, 1, 'and not to the old one')

  const typed = await api.post('/api/update/webhook', { id, types: ['ticket.*'] })
  t.strictSame(typed.body.types, ['ticket.*'], 'types changed')
  const described = await api.post('/api/update/webhook', { id, description: 'Tickets to the help desk' })
  t.strictSame(
    described.body,
    {
      ...shown,
      url: second.url,
      types: ['ticket.*'],
      description: 'Tickets to the help desk',
      updated: described.body.updated,
    },
    'description changed, the rest kept',
  )
  const c2 = await api.post('/api/add/customer', newCustomer({ email: 'c2@example.com' }))
  const ticket = await api.post('/api/open/customer/request', { customerid: c2.body.id, request: 'It leaks.' })
  t.equal(ticket.status, 201)
  await until('the ticket arrives', () => second.received.length === 2)
  t.equal(JSON.parse(second.received[1]!.body).type, 'ticket.opened', 'a type taken arrives; the customer did not')

  const off = await api.post('/api/update/webhook', { id, enabled: false })
  t.equal(off.body.enabled, false, 'disabled')
  t.equal(off.body.disabledreason, null, 'by an admin: no reason given by the server')
  await api.post('/api/open/customer/request', { customerid: c2.body.id, request: 'Still leaks.' })
  await sleep(QUIET_MS)
  t.equal(second.received.length, 2, 'nothing sent while disabled')
  t.equal((await rowsOf(app, 'webhook_deliveries', id)).length, 3, 'three deliveries: two customers, one ticket')
  t.equal((await rowsOf(app, 'webhook_attempts', id)).length, 3, 'three attempts')

  // Refusals: what is wrong, and nothing changed.
  const before = (await api.get('/api/get/webhooks')).body
  isInvalid(
    t,
    await api.post('/api/add/webhook', { url: first.url, types: ['customer.*', 'customer.nope'] }),
    'types',
    'must name event types (such as customer.created) or groups (customer.*, product.*, feedback.*, ticket.*)',
    'a type that is none',
  )
  for (const [body, what] of [
    [{ url: first.url, types: ['Customer'] }, 'types not of the form group.type'],
    [{ url: first.url, types: [] }, 'no types'],
    [{ url: first.url, secret: 'whsec_mine' }, 'an unknown field'],
    [{}, 'no url'],
    [{ url: '' }, 'an empty url'],
  ] as const) {
    const res = await api.post('/api/add/webhook', body)
    t.equal(res.status, 400, `${what}: 400`)
    t.equal(res.headers['content-type'], PROBLEM_JSON)
  }
  isInvalid(
    t,
    await api.post('/api/add/webhook', { url: 'not a url' }),
    'url',
    'must be an absolute http or https URL',
    'not a url',
  )
  isInvalid(
    t,
    await api.post('/api/update/webhook', { id }),
    '(body)',
    'must set at least one of url, types, description, enabled',
    'an update that changes nothing',
  )
  isInvalid(
    t,
    await api.post('/api/update/webhook', { id, url: 'ftp://127.0.0.1/hook' }),
    'url',
    'must be an http or https URL',
    'an update to an ftp url',
  )
  isInvalid(
    t,
    await api.post('/api/update/webhook', { id, url: `http://user:pw@127.0.0.1:${first.port}/` }),
    'url',
    'must not hold a user name or password',
    'an update to a url with credentials',
  )
  isInvalid(
    t,
    await api.post('/api/update/webhook', { id, types: ['ticket.none'] }),
    'types',
    'must name event types (such as customer.created) or groups (customer.*, product.*, feedback.*, ticket.*)',
    'an update to a type that is none',
  )
  t.strictSame((await api.get('/api/get/webhooks')).body, before, 'nothing changed by the refusals')

  // No such webhook, or event.
  const missing = 'Webhook 9999 does not exist.'
  isProblem(t, await api.post('/api/update/webhook', { id: 9999, description: 'x' }), 404, missing, 'update')
  isProblem(t, await api.post('/api/delete/webhook', { id: 9999 }), 404, missing, 'delete')
  isProblem(t, await api.post('/api/rotate/webhook/secret', { id: 9999 }), 404, missing, 'rotate')
  isProblem(t, await api.get('/api/get/webhook/deliveries', { query: { id: 9999 } }), 404, missing, 'deliveries')
  isProblem(t, await api.post('/api/redeliver/webhook', { id: 9999, eventid: 1 }), 404, missing, 'redeliver')
  isProblem(
    t,
    await api.post('/api/redeliver/webhook', { id, eventid: 99_999 }),
    404,
    'Event 99999 does not exist.',
    'redeliver of no event',
  )

  // Only admins.
  for (const role of ['editor', 'reader'] as const) {
    const { key } = await createKey(app.db, `${role} key`, role)
    const as = client(app, { authorization: `Bearer ${key}` })
    for (const [method, url, body] of [
      ['POST', '/api/add/webhook', { url: first.url }],
      ['GET', '/api/get/webhooks', undefined],
      ['POST', '/api/update/webhook', { id, enabled: true }],
      ['POST', '/api/rotate/webhook/secret', { id }],
      ['GET', `/api/get/webhook/deliveries?id=${id}`, undefined],
      ['POST', '/api/redeliver/webhook', { id, eventid: 1 }],
      ['POST', '/api/delete/webhook', { id }],
    ] as const) {
      const res = await as.call(method, url, body === undefined ? {} : { body })
      t.equal(res.status, 403, `${role}: ${method} ${url} is refused`)
    }
  }
  t.strictSame((await api.get('/api/get/webhooks')).body, before, 'nothing changed by them')

  const deleted = await api.post('/api/delete/webhook', { id })
  t.equal(deleted.status, 200)
  t.strictSame(deleted.body, { deleted: [id] }, 'deleted')
  t.strictSame((await api.get('/api/get/webhooks')).body, [], 'gone from the list')
  isProblem(t, await api.post('/api/delete/webhook', { id }), 404, `Webhook ${id} does not exist.`, 'deleted again')
  isProblem(
    t,
    await api.get('/api/get/webhook/deliveries', { query: { id } }),
    404,
    `Webhook ${id} does not exist.`,
    'its log',
  )
  t.equal((await rowsOf(app, 'webhook_deliveries', id)).length, 0, 'its deliveries are gone')
  t.equal((await rowsOf(app, 'webhook_attempts', id)).length, 0, 'and its log')

  const logs = JSON.stringify(app.logs())
  t.notOk(logs.includes(String(secret).slice(6)), 'no secret in the logs')
  t.notOk(logs.includes(String(other.body.secret).slice(6)), 'not the other one either')
})

t.test('urls on this machine are refused unless WEBHOOK_ALLOW_PRIVATE=true', async (t) => {
  const refusing = await build(t, { WEBHOOK_RETRY_DELAYS_MS: '50' })
  const api = client(refusing)
  const hook = await receiver(t)
  for (const [url, address] of [
    [hook.url, '127.0.0.1'],
    [`http://localhost:${hook.port}/hook`, /^(127\.0\.0\.1|::1)$/],
    [`http://[::1]:${hook.port}/hook`, '::1'],
    [`http://127.0.0.2:${hook.port}/hook`, '127.0.0.2'],
  ] as const) {
    const res = await api.post('/api/add/webhook', { url })
    const named = /^resolves to (\S+), a loopback/.exec(res.body.errors?.[0]?.message)?.[1]
    if (typeof address === 'string') {
      const message = `resolves to ${address}, a loopback, private, link-local or unspecified address (set WEBHOOK_ALLOW_PRIVATE=true to allow it)`
      isInvalid(t, res, 'url', message, url)
    } else {
      isInvalid(
        t,
        res,
        'url',
        /^resolves to \S+, a loopback, private, link-local or unspecified address \(set WEBHOOK_ALLOW_PRIVATE=true to allow it\)$/,
        url,
      )
      t.match(named, address, `${url}: names the address (${named})`)
    }
  }
  isInvalid(
    t,
    await api.post('/api/add/webhook', { url: 'ftp://127.0.0.1/' }),
    'url',
    'must be an http or https URL',
    'ftp',
  )
  isInvalid(
    t,
    await api.post('/api/add/webhook', { url: 'javascript:alert(1)' }),
    'url',
    'must be an http or https URL',
    'javascript:',
  )
  t.strictSame((await api.get('/api/get/webhooks')).body, [], 'nothing stored')

  // A webhook saved while allowed (made here by the service) is checked again when it is changed,
  // and its deliveries fail at connect time without reaching the receiver.
  const local = await createWebhook(
    refusing.db,
    { url: `http://localhost:${hook.port}/hook`, types: ['customer.*'] },
    true,
    SERVER,
  )
  const literal = await createWebhook(refusing.db, { url: hook.url, types: ['customer.*'] }, true, SERVER)
  isInvalid(
    t,
    await api.post('/api/update/webhook', { id: local.id, url: `http://[::1]:${hook.port}/other` }),
    'url',
    'resolves to ::1, a loopback, private, link-local or unspecified address (set WEBHOOK_ALLOW_PRIVATE=true to allow it)',
    'an update to a local url',
  )
  t.equal((await webhookRow(refusing, local.id)).url, `http://localhost:${hook.port}/hook`, 'the url kept')
  await api.post('/api/add/customer', newCustomer())
  await until('both deliveries have failed', async () => {
    const logs = [await attempts(api, local.id), await attempts(api, literal.id)]
    return logs.every((log) => log[0]?.status === 'failed')
  })
  const [byName, byAddress] = [await attempts(api, local.id), await attempts(api, literal.id)]
  t.match(
    byName[0].error,
    /^localhost resolves to (127\.0\.0\.1|::1), a private address$/,
    'a name: refused at connect time',
  )
  t.equal(byAddress[0].error, '127.0.0.1 is a private address', 'an address: refused before connecting')
  t.equal(hook.received.length, 0, 'the receiver never reached')

  const allowing = await build(t, LOCAL)
  const allowed = client(allowing)
  for (const url of [hook.url, `http://localhost:${hook.port}/hook`, `http://[::1]:${hook.port}/hook`]) {
    const res = await allowed.post('/api/add/webhook', { url })
    t.equal(res.status, 201, `${url} is accepted with WEBHOOK_ALLOW_PRIVATE=true`)
  }
  t.equal((await allowed.post('/api/add/webhook', { url: 'ftp://127.0.0.1/' })).status, 400, 'ftp is not')
  t.equal((await allowed.get('/api/get/webhooks')).body.length, 3)
})

t.test('delivery: every event of the types taken, signed, as the feed shows it; none made before', async (t) => {
  const app = await build(t, LOCAL)
  const api = client(app)
  const some = await receiver(t)
  const all = await receiver(t)

  const early = await api.post('/api/add/customer', newCustomer({ email: 'early@example.com' }))
  const earlyProduct = await api.post('/api/add/product', newProduct(early.body.id))
  const before = await newestEvent(api)
  const picky = (await api.post('/api/add/webhook', { url: some.url, types: ['customer.*', 'ticket.closed'] })).body
  const every = (await api.post('/api/add/webhook', { url: all.url })).body

  // A scripted sequence of changes of every kind.
  const ada = (await api.post('/api/add/customer', newCustomer())).body
  await api.post('/api/update/customer', { id: ada.id, address: '1 New Road' })
  const product = (await api.post('/api/add/product', newProduct(ada.id))).body
  await api.post('/api/update/product', { id: product.id, warranty: 3 })
  await api.post('/api/update/product', { id: earlyProduct.body.id, changeto: ada.id })
  await api.post('/api/add/brand/feedback', { customerid: ada.id, heading: 'Great', body: 'Thanks.', nps: 9 })
  await api.post('/api/add/product/feedback', {
    customerid: ada.id,
    productid: product.id,
    heading: 'Leaks',
    body: 'A little.',
  })
  const open = (await api.post('/api/open/customer/request', { customerid: ada.id, request: 'It leaks.' })).body
  await api.post('/api/open/customer/request', { customerid: early.body.id, request: 'Mine too.' })
  await api.post('/api/close/customer/request', { id: open.id, resolved: true, resolution: 'New gasket.' })
  await api.post('/api/delete/product', { id: product.id })
  await api.post('/api/delete/product', { id: earlyProduct.body.id })
  const deleted = await api.post('/api/delete/customer', { id: ada.id })
  t.equal(deleted.status, 200, 'the script ran')

  const made = await events(api, before)
  const taken = made.filter(({ type }: { type: string }) => type.startsWith('customer.') || type === 'ticket.closed')
  t.ok(taken.length >= 4 && taken.length < made.length, `some events taken (${taken.length} of ${made.length})`)
  t.ok(new Set(made.map((event) => event.entity)).size === 4, 'events of every kind were made')
  await until(
    'every delivery has arrived',
    () => some.received.length >= taken.length && all.received.length >= made.length,
  )
  await sleep(QUIET_MS)
  t.equal(some.received.length, taken.length, 'the picky webhook got as many as it takes, no more')
  t.equal(all.received.length, made.length, 'the other got every event made after it was added, no more')

  for (const [hook, webhook, expected] of [
    [some, picky, taken],
    [all, every, made],
  ] as const) {
    const got = hook.received
      .map((delivery) => ({ delivery, payload: verify(webhook.secret, delivery) }))
      .sort((a, b) => Number(a.payload.data.id) - Number(b.payload.data.id))
    t.strictSame(
      got.map(({ payload }) => payload),
      expected.map((event) => ({ type: event.type, timestamp: event.time, data: event })),
      `webhook ${webhook.id}: each payload is {type, timestamp, data: the event as the feed shows it}`,
    )
    got.forEach(({ delivery }, i) => {
      const event = expected[i]!
      t.equal(delivery.headers['webhook-id'], `msg_${event.id}_${webhook.id}`, `webhook-id of event ${event.id}`)
      const stamp = Number(delivery.headers['webhook-timestamp'])
      t.ok(Math.abs(stamp - delivery.at / 1000) < 5, 'webhook-timestamp: Unix seconds, now')
      t.match(delivery.headers['webhook-signature'], /^v1,[A-Za-z0-9+/]{43}=$/, 'one signature')
      t.equal(delivery.headers['content-type'], 'application/json')
      t.equal(delivery.headers['user-agent'], 'CRM-API-Webhooks/1')
      t.equal(delivery.body, JSON.stringify(JSON.parse(delivery.body)), 'the body is JSON')
    })
    t.notOk(
      got.some(({ payload }) => Number(payload.data.id) <= before),
      `webhook ${webhook.id}: nothing made before it was added (events up to ${before})`,
    )
  }
  t.throws(
    () => verify(every.secret, some.received[0]!),
    WebhookVerificationError,
    'another webhook’s secret does not verify',
  )
  const tampered = { ...some.received[0]!, body: some.received[0]!.body.replace('"type"', '"tipe"') }
  t.throws(() => verify(picky.secret, tampered), WebhookVerificationError, 'a changed body does not verify')

  const log = await attempts(api, picky.id)
  t.equal(log.length, taken.length, 'one attempt per delivery')
  t.ok(
    log.every((attempt) => attempt.status === 'delivered' && attempt.code === 204 && attempt.attempt === 1),
    'each delivered at the first attempt, 204',
  )
  t.strictSame(
    log.map((attempt) => attempt.eventid).sort((a, b) => a - b),
    taken.map((event) => event.id),
    'the log names each event',
  )
  t.equal((await api.get('/api/get/webhook/deliveries', { query: { id: picky.id, limit: 2 } })).body.length, 2, 'limit')
})

t.test('retries: the same webhook-id, redirects not followed, timeouts, redelivery', async (t) => {
  const app = await build(t, { ...LOCAL, WEBHOOK_TIMEOUT_MS: 300 })
  const api = client(app)
  const flaky = await receiver(t, (count, _request, response) => response.writeHead(count <= 3 ? 503 : 204).end())
  const redirecting = await receiver(t, (_count, _request, response) =>
    response.writeHead(302, { location: redirecting.url }).end(),
  )
  // Never answers.
  const hanging = await receiver(t, () => undefined)
  const add = async (url: string) =>
    (await api.post('/api/add/webhook', { url, types: ['customer.created'] })).body as { id: number; secret: string }
  const [toFlaky, toRedirecting, toHanging] = [await add(flaky.url), await add(redirecting.url), await add(hanging.url)]

  const customer = await api.post('/api/add/customer', newCustomer())
  const eventid = await newestEvent(api)
  await until('the flaky receiver has it', () => flaky.received.length === 4)
  await until(
    'the others have given up',
    async () =>
      (await attempts(api, toRedirecting.id))[0]?.status === 'failed' &&
      (await attempts(api, toHanging.id))[0]?.status === 'failed',
  )
  await sleep(QUIET_MS)

  t.equal(flaky.received.length, 4, 'three failures, then the delivery')
  t.strictSame(
    new Set(flaky.received.map((delivery) => delivery.headers['webhook-id'])),
    new Set([`msg_${eventid}_${toFlaky.id}`]),
    'the same webhook-id on every attempt',
  )
  for (const delivery of flaky.received) verify(toFlaky.secret, delivery)
  t.pass('each attempt is signed')
  const flakyLog = await attempts(api, toFlaky.id)
  t.strictSame(
    flakyLog.map(({ eventid: event, attempt, status, code, error }) => ({
      eventid: event,
      attempt,
      status,
      code,
      error,
    })),
    [
      { eventid, attempt: 4, status: 'delivered', code: 204, error: null },
      { eventid, attempt: 3, status: 'pending', code: 503, error: 'HTTP 503' },
      { eventid, attempt: 2, status: 'pending', code: 503, error: 'HTTP 503' },
      { eventid, attempt: 1, status: 'pending', code: 503, error: 'HTTP 503' },
    ],
    'four attempts, newest first',
  )
  t.equal(flakyLog[0].next_attempt, null, 'no attempt after the delivery')
  for (const attempt of flakyLog.slice(1)) {
    t.match(attempt.next_attempt, ISO, `attempt ${attempt.attempt}: the next one is scheduled`)
    t.ok(attempt.next_attempt > attempt.time, 'after it')
  }
  t.ok(
    flakyLog.every((attempt, i) => i === 0 || attempt.time <= flakyLog[i - 1].time),
    'times newest first',
  )
  t.ok(flakyLog.every((attempt) => ISO.test(attempt.time) && Number.isInteger(attempt.duration_ms)))

  t.equal(redirecting.received.length, 4, 'the redirect is not followed: one request per attempt, four attempts')
  const redirectLog = await attempts(api, toRedirecting.id)
  t.strictSame(
    redirectLog.map(({ attempt, status, code, error }) => ({ attempt, status, code, error })),
    [4, 3, 2, 1].map((attempt) => ({
      attempt,
      status: attempt === 4 ? 'failed' : 'pending',
      code: 302,
      error: `redirect to ${redirecting.url} not followed`,
    })),
    'a redirect is a failure; after the last delay, failed',
  )
  t.equal(redirectLog[0].next_attempt, null, 'nothing follows the failed one')

  t.equal(hanging.received.length, 4, 'the silent receiver got four attempts')
  const hangingLog = await attempts(api, toHanging.id)
  t.strictSame(
    hangingLog.map(({ attempt, status, code, error }) => ({ attempt, status, code, error })),
    [4, 3, 2, 1].map((attempt) => ({
      attempt,
      status: attempt === 4 ? 'failed' : 'pending',
      code: null,
      error: 'no answer within 300 ms',
    })),
    'each attempt cut off at WEBHOOK_TIMEOUT_MS',
  )
  t.ok(
    hangingLog.every((attempt) => attempt.duration_ms >= 299 && attempt.duration_ms < 2000),
    `each took the timeout (${hangingLog.map((attempt) => attempt.duration_ms).join(', ')} ms)`,
  )

  // Redelivery: the same event again, the same webhook-id; the log gains an attempt.
  const redelivered = await api.post('/api/redeliver/webhook', { id: toFlaky.id, eventid })
  t.equal(redelivered.status, 202, 'redeliver: 202')
  t.strictSame(redelivered.body, { id: toFlaky.id, eventid, next_attempt: redelivered.body.next_attempt })
  t.match(redelivered.body.next_attempt, ISO)
  await until('the receiver has it again', () => flaky.received.length === 5)
  t.equal(flaky.received[4]!.headers['webhook-id'], `msg_${eventid}_${toFlaky.id}`, 'with the same webhook-id')
  t.strictSame(
    verify(toFlaky.secret, flaky.received[4]!),
    verify(toFlaky.secret, flaky.received[3]!),
    'the same payload',
  )
  await until('the log has it', async () => (await attempts(api, toFlaky.id)).length === 5)
  t.match((await attempts(api, toFlaky.id))[0], { eventid, attempt: 5, status: 'delivered', code: 204 }, 'attempt 5')

  // A failed delivery sent again: retried anew.
  t.equal((await api.post('/api/redeliver/webhook', { id: toRedirecting.id, eventid })).status, 202)
  await until('the redirecting receiver has it again', () => redirecting.received.length === 5)
  await until('its log has it', async () => (await attempts(api, toRedirecting.id)).length === 5)
  t.match((await attempts(api, toRedirecting.id))[0], { attempt: 5, code: 302 }, 'the redelivery is attempt 5')
  t.equal(customer.status, 201)
})

t.test('rotation: two signatures for a day, both secrets verify; then only the new one', async (t) => {
  const app = await build(t, LOCAL)
  const api = client(app)
  const hook = await receiver(t)
  const added = (await api.post('/api/add/webhook', { url: hook.url, types: ['customer.created'] })).body
  const rotated = await api.post('/api/rotate/webhook/secret', { id: added.id })
  t.equal(rotated.status, 200, 'rotated')
  t.match(rotated.body.secret, SECRET, 'a new secret')
  t.not(rotated.body.secret, added.secret, 'not the old one')
  const { secret: _new, ...shown } = rotated.body
  const { secret: _old, ...before } = added
  t.strictSame(shown, { ...before, updated: shown.updated }, 'the webhook otherwise as it was')
  const row = await webhookRow(app, added.id)
  t.equal(row.previoussecret, added.secret, 'the old secret kept')
  const until24h = Date.parse(row.previousuntil!) - Date.now()
  t.ok(until24h > 23.9 * 3_600_000 && until24h <= 24 * 3_600_000, 'for 24 hours')

  await api.post('/api/add/customer', newCustomer())
  await until('the first delivery', () => hook.received.length === 1)
  const both = hook.received[0]!
  t.match(both.headers['webhook-signature'], /^v1,[A-Za-z0-9+/]{43}= v1,[A-Za-z0-9+/]{43}=$/, 'two signatures')
  t.ok(verify(rotated.body.secret, both), 'the new secret verifies')
  t.ok(verify(added.secret, both), 'the old secret verifies')

  await app.db
    .updateTable('webhooks')
    .set({ previousuntil: new Date(Date.now() - 1000).toISOString() })
    .where('id', '=', added.id)
    .execute()
  await api.post('/api/add/customer', newCustomer({ email: 'second@example.com' }))
  await until('the second delivery', () => hook.received.length === 2)
  const one = hook.received[1]!
  t.match(one.headers['webhook-signature'], /^v1,[A-Za-z0-9+/]{43}=$/, 'one signature once the day is over')
  t.ok(verify(rotated.body.secret, one), 'the new secret verifies')
  t.throws(() => verify(added.secret, one), WebhookVerificationError, 'the old one does not')

  const again = await api.post('/api/rotate/webhook/secret', { id: added.id })
  t.equal(
    (await webhookRow(app, added.id)).previoussecret,
    rotated.body.secret,
    'a second rotation keeps the one before it',
  )
  t.not(again.body.secret, rotated.body.secret)
  t.notOk(JSON.stringify(app.logs()).includes(String(again.body.secret).slice(6)), 'no secret in the logs')
})

t.test('a webhook failing for more than 5 days is disabled, and enabled again by an admin', async (t) => {
  const app = await build(t, LOCAL)
  const api = client(app)
  const failing = await receiver(t, (_count, _request, response) => response.writeHead(500).end())
  const added = (await api.post('/api/add/webhook', { url: failing.url, types: ['customer.*'] })).body
  const sixDaysAgo = new Date(Date.now() - 6 * 24 * 3_600_000).toISOString()
  await app.db.updateTable('webhooks').set({ failingsince: sixDaysAgo }).where('id', '=', added.id).execute()

  await api.post('/api/add/customer', newCustomer())
  await until('it is disabled', async () => (await webhookRow(app, added.id)).enabled === 0)
  const [listed] = (await api.get('/api/get/webhooks')).body
  t.equal(listed.enabled, false, 'disabled')
  t.match(
    listed.disabledreason,
    new RegExp(`^Disabled at .+: every delivery since ${sixDaysAgo.replace(/[.]/g, '\\.')} failed; .*HTTP 500`),
    `says why: ${listed.disabledreason}`,
  )
  t.match(listed.disabledreason, /Enable it again with \/api\/update\/webhook\.$/, 'and what to do')
  t.ok(
    app.logs().some((line) => line.msg === 'webhook disabled: its deliveries failed for days'),
    'logged as a warning',
  )

  await api.post('/api/add/customer', newCustomer({ email: 'more@example.com' }))
  await sleep(QUIET_MS)
  t.equal(failing.received.length, 1, 'one attempt, then nothing: no retry, no new event sent')
  t.equal((await attempts(api, added.id)).length, 1, 'one attempt logged')

  const enabled = await api.post('/api/update/webhook', { id: added.id, enabled: true })
  t.equal(enabled.status, 200)
  t.equal(enabled.body.enabled, true, 'enabled again')
  t.equal(enabled.body.disabledreason, null, 'the reason cleared')
  t.equal((await webhookRow(app, added.id)).failingsince, null, 'its failures forgotten')
  await until('deliveries resume', () => failing.received.length > 1)
  await sleep(100)
  t.equal((await webhookRow(app, added.id)).enabled, 1, 'a fresh failure does not disable it at once')
})

t.test('add, update, rotate, delete and redeliver answer a retry with the same Idempotency-Key alike', async (t) => {
  const app = await build(t, LOCAL)
  const api = client(app)
  const hook = await receiver(t)
  const once = (key: string) => ({ headers: { 'idempotency-key': key } })

  const add = [
    await api.post('/api/add/webhook', { url: hook.url, types: ['customer.created'] }, once('add-1')),
    await api.post('/api/add/webhook', { url: hook.url, types: ['customer.created'] }, once('add-1')),
  ]
  t.same(
    add.map((res) => res.status),
    [201, 201],
  )
  t.strictSame(add[1]!.body, add[0]!.body, 'the replay: the same webhook, the same secret')
  t.equal(add[1]!.headers['idempotent-replayed'], 'true', 'marked as a replay')
  t.equal((await api.get('/api/get/webhooks')).body.length, 1, 'one webhook made')
  const { id } = add[0]!.body

  const update = [
    await api.post('/api/update/webhook', { id, description: 'Once' }, once('update-1')),
    await api.post('/api/update/webhook', { id, description: 'Once' }, once('update-1')),
  ]
  t.strictSame(update[1]!.body, update[0]!.body, 'update replayed')
  t.equal(update[1]!.headers['idempotent-replayed'], 'true')
  t.equal(
    (await api.post('/api/update/webhook', { id, description: 'Twice' }, once('update-1'))).status,
    422,
    'another request with the key: 422',
  )

  const rotate = [
    await api.post('/api/rotate/webhook/secret', { id }, once('rotate-1')),
    await api.post('/api/rotate/webhook/secret', { id }, once('rotate-1')),
  ]
  t.strictSame(rotate[1]!.body, rotate[0]!.body, 'rotate replayed: the same new secret')
  t.equal(rotate[1]!.headers['idempotent-replayed'], 'true')
  const row = await webhookRow(app, id)
  t.equal(row.secret, rotate[0]!.body.secret, 'the secret shown is the one in use')
  t.equal(row.previoussecret, add[0]!.body.secret, 'rotated once: the one before is the first')

  await api.post('/api/add/customer', newCustomer())
  const eventid = await newestEvent(api)
  await until('delivered', () => hook.received.length === 1)
  await until('logged', async () => (await attempts(api, id)).length === 1)
  const redeliver = [
    await api.post('/api/redeliver/webhook', { id, eventid }, once('redeliver-1')),
    await api.post('/api/redeliver/webhook', { id, eventid }, once('redeliver-1')),
  ]
  t.same(
    redeliver.map((res) => res.status),
    [202, 202],
  )
  t.strictSame(redeliver[1]!.body, redeliver[0]!.body, 'redeliver replayed')
  t.equal(redeliver[1]!.headers['idempotent-replayed'], 'true')
  await until('sent again', () => hook.received.length === 2)
  await sleep(QUIET_MS)
  t.equal(hook.received.length, 2, 'sent again once, not twice')
  t.equal((await attempts(api, id)).length, 2, 'one attempt more in the log')

  const del = [
    await api.post('/api/delete/webhook', { id }, once('delete-1')),
    await api.post('/api/delete/webhook', { id }, once('delete-1')),
  ]
  t.same(
    del.map((res) => res.status),
    [200, 200],
    'the retry of a delete: the same 200, not a 404',
  )
  t.strictSame(del[1]!.body, { deleted: [id] })
  t.equal(del[1]!.headers['idempotent-replayed'], 'true')
  t.notOk(JSON.stringify(app.logs()).includes(String(rotate[0]!.body.secret).slice(6)), 'no secret in the logs')
})

t.test('closing cuts an attempt off; another instance sends it again once its lease lapses', async (t) => {
  const database = TEST_DATABASE_URL ? await postgresSchema(t) : join(tempFolder(t, 'webhooks'), 'crm.sqlite')
  const hook = await receiver(t, (count, _request, response) => {
    if (count > 1) response.writeHead(204).end()
  })
  const timeout = 1500
  const config = { ...LOCAL, DATABASE_URL: database, WEBHOOK_TIMEOUT_MS: timeout }
  const first = await build(t, config)
  const api = client(first)
  const added = (await api.post('/api/add/webhook', { url: hook.url, types: ['customer.created'] })).body
  await api.post('/api/add/customer', newCustomer())
  const eventid = await newestEvent(api)
  await until('the receiver holds the attempt', () => hook.received.length === 1)

  const started = Date.now()
  await first.close()
  const took = Date.now() - started
  t.ok(took < timeout / 2, `the app closed promptly (${took} ms), not after the ${timeout} ms timeout`)

  const second = await build(t, config)
  const [delivery] = await rowsOf(second, 'webhook_deliveries', added.id)
  t.match(delivery, { eventid, status: 'pending', attempts: 0 }, 'the delivery is left pending, not attempted')
  t.strictSame(await rowsOf(second, 'webhook_attempts', added.id), [], 'no attempt recorded')
  const leaseEnds = Date.parse(delivery!.leaseuntil!)
  t.ok(
    leaseEnds - hook.received[0]!.at >= timeout,
    `the lease outlasts the attempt's timeout (${delivery!.leaseuntil}, the attempt came at ${new Date(hook.received[0]!.at).toISOString()})`,
  )
  await sleep(Math.max(0, Math.min(QUIET_MS, leaseEnds - Date.now() - 300)))
  t.equal(hook.received.length, 1, 'the new instance leaves it while the lease holds')
  t.ok(Date.now() < leaseEnds, 'which it still did')

  const remaining = leaseEnds - Date.now()
  if (remaining > 15_000) {
    // Too long a wait for this file: the lease lapsing is made to happen at once.
    t.comment(`the lease has ${remaining} ms to run: made to lapse now`)
    await second.db
      .updateTable('webhook_deliveries')
      .set({ leaseuntil: new Date(Date.now() - 1000).toISOString() })
      .where('id', '=', delivery!.id)
      .execute()
  }
  await until('sent again', () => hook.received.length === 2, Math.min(remaining, 15_000) + 5000)
  if (remaining <= 15_000) t.ok(hook.received[1]!.at >= leaseEnds, 'once the lease had lapsed, not before')
  t.equal(hook.received[1]!.headers['webhook-id'], `msg_${eventid}_${added.id}`, 'the same event, the same webhook-id')
  t.ok(verify(added.secret, hook.received[1]!), 'signed')
  await until('logged', async () => (await attempts(client(second), added.id)).length === 1)
  t.match(
    await attempts(client(second), added.id),
    [{ eventid, attempt: 1, status: 'delivered', code: 204, error: null }],
    'recorded as the first attempt, delivered',
  )
  t.equal(hook.received.length, 2, 'sent twice in all: at least once across the close')
})
