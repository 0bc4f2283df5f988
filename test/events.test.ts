// The change feed read page by page (GET /api/get/events): the exact events of every change, none
// for a change that failed, paging and filters, who may read it, and the removal of old events.
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createKey } from '../src/services/keys.js'
import {
  build,
  client,
  type Client,
  newCustomer,
  newProduct,
  PROBLEM_JSON,
  problemBody,
  type Reply,
  tempFolder,
  type TestApp,
  upload,
} from './helper.js'
import { postgresSchema, TEST_DATABASE_URL } from './postgres.js'

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

/** The actor of a change made with the configured key (`API_KEY`). */
const ADMIN = { key: 'API_KEY', role: 'admin' }

/** A time not shown by any record (a delete's): ISO, and taken between `from` and `to`. */
class Between {
  constructor(
    readonly from: string,
    readonly to: string,
  ) {}
}

/** Runs `work` and answers it with the span of time it ran in, for the events that carry no record's time. */
async function timed<T>(work: () => Promise<T>): Promise<[T, Between]> {
  const from = new Date().toISOString()
  const result = await work()
  return [result, new Between(from, new Date().toISOString())]
}

interface Expected {
  type: string
  time: string | Between
  entity: string
  entityid: number
  data: unknown
  changes?: Record<string, { from: unknown; to: unknown }> | null
  actor?: { key: string; role: string } | null
  requestid: string
  uploadid?: number | null
}

/** An event as expected: no changes, made by the configured key and by no upload, unless `fields` say otherwise. */
const event = (fields: Expected) => ({ changes: null, actor: ADMIN, uploadid: null, ...fields })

/**
 * Checks that `actual` is exactly `expected`, whole and in order: the ids increase (they are the
 * feed's and cannot be known beforehand), a time given as `Between` lies in its span.
 */
function sameEvents(t: Test, actual: any[], expected: ReturnType<typeof event>[], message: string) {
  t.equal(actual.length, expected.length, `${message}: one event per record changed, no more`)
  const ids = actual.map((each) => each.id as number)
  t.ok(
    ids.every((id, i) => Number.isSafeInteger(id) && id > 0 && (i === 0 || id > ids[i - 1]!)),
    `${message}: increasing integer ids (${ids.join(', ')})`,
  )
  const filled = expected.map((each, i) => {
    const time = actual[i]?.time as string | undefined
    if (!(each.time instanceof Between)) return { id: actual[i]?.id, ...each }
    t.match(time, ISO, `${message}: event ${i} has an ISO time`)
    t.ok(
      time !== undefined && time >= each.time.from && time <= each.time.to,
      `${message}: event ${i} (${each.type}) is timed when its change was made (${time} in ${each.time.from}..${each.time.to})`,
    )
    return { id: actual[i]?.id, ...each, time }
  })
  t.strictSame(actual, filled, message)
}

/** The whole feed after `after` (up to 1000 events), checked to be a 200. */
async function feed(t: Test, api: Client, query: Record<string, string | number> = {}): Promise<any[]> {
  const res = await api.get('/api/get/events', { query: { limit: 1000, ...query } })
  t.equal(res.status, 200, `GET /api/get/events ${JSON.stringify(query)}: 200`)
  return res.body.events as any[]
}

/** The id of the newest event, 0 when there is none. */
async function newestId(t: Test, api: Client): Promise<number> {
  return (await feed(t, api)).at(-1)?.id ?? 0
}

/** Request options that send `id` as X-Request-Id. */
const as = (id: string) => ({ headers: { 'x-request-id': id } })

/** An editor key of `app`, a client sending it, and the actor its changes name. */
async function editorOf(app: TestApp) {
  const { key, prefix } = await createKey(app.db, 'feed editor', 'editor')
  return { editor: client(app, { authorization: `Bearer ${key}` }), EDITOR: { key: prefix, role: 'editor' }, key }
}

/** Checks that `res` succeeded with `status` and answers its body. */
function ok(t: Test, res: Reply, status: number, what: string) {
  t.equal(res.status, status, `${what}: ${status}`)
  return res.body
}

t.test('every change made through the API records exactly its events', async (t) => {
  const app = await build(t)
  const admin = client(app)
  const { editor, EDITOR } = await editorOf(app)

  const ada = ok(t, await admin.post('/api/add/customer', newCustomer(), as('req-add-ada')), 201, 'add Ada')
  const bob = ok(
    t,
    await editor.post('/api/add/customer', newCustomer({ name: 'Bob', email: 'bob@example.com' }), as('req-add-bob')),
    201,
    'add Bob',
  )
  const adaKing = ok(
    t,
    await editor.post(
      '/api/update/customer',
      { id: ada.id, name: 'Ada King', phone: '+44 20 7946 0958', optemail: true },
      as('req-update-ada'),
    ),
    200,
    'update Ada',
  )
  const sameAgain = ok(
    t,
    await admin.post('/api/update/customer', { id: ada.id, name: 'Ada King' }, as('req-same-ada')),
    200,
    'update Ada to what she is',
  )
  const kettle = ok(
    t,
    await editor.post('/api/add/product', newProduct(ada.id, { name: 'Kettle', price: 20 }), as('req-add-kettle')),
    201,
    'add a kettle',
  )
  const pricier = ok(
    t,
    await editor.post('/api/update/product', { id: kettle.id, price: 25.5 }, as('req-price-kettle')),
    200,
    'change its price',
  )
  const toBob = ok(
    t,
    await editor.post('/api/update/product', { id: kettle.id, changeto: bob.id }, as('req-kettle-to-bob')),
    200,
    'give it to Bob',
  )
  const toNobody = ok(
    t,
    await admin.post('/api/update/product', { id: kettle.id, changeto: null, warranty: 3 }, as('req-kettle-away')),
    200,
    'unassign it, with a new warranty',
  )
  const [deletedKettle, kettleDeleted] = await timed(() =>
    editor.post('/api/delete/product', { id: kettle.id }, as('req-delete-kettle')),
  )
  t.strictSame(ok(t, deletedKettle, 200, 'delete it'), { deleted: [kettle.id] })
  const lamp = ok(
    t,
    await admin.post('/api/add/product', newProduct(bob.id, { name: 'Lamp' }), as('req-lamp')),
    201,
    'lamp',
  )
  const toaster = ok(
    t,
    await admin.post('/api/add/product', newProduct(bob.id, { name: 'Toaster', price: 30 }), as('req-toaster')),
    201,
    'toaster',
  )
  const [deletedBobs, bobsDeleted] = await timed(() =>
    editor.post('/api/delete/product', { customerid: bob.id }, as('req-delete-bobs')),
  )
  t.strictSame(ok(t, deletedBobs, 200, "delete Bob's products"), { deleted: [lamp.id, toaster.id] })
  const radio = ok(
    t,
    await admin.post('/api/add/product', newProduct(ada.id, { name: 'Radio' }), as('req-radio')),
    201,
    'radio',
  )
  const brand = ok(
    t,
    await editor.post(
      '/api/add/brand/feedback',
      { customerid: ada.id, heading: 'Lovely', body: 'Kind staff', nps: 9 },
      as('req-brand'),
    ),
    201,
    'brand feedback',
  )
  const product = ok(
    t,
    await editor.post(
      '/api/add/product/feedback',
      { customerid: ada.id, productid: radio.id, heading: 'Crackles', body: 'Now and then' },
      as('req-product-feedback'),
    ),
    201,
    'product feedback',
  )
  const opened = ok(
    t,
    await editor.post('/api/open/customer/request', { customerid: ada.id, request: 'It crackles' }, as('req-open')),
    201,
    'open a ticket',
  )
  const closed = ok(
    t,
    await admin.post(
      '/api/close/customer/request',
      { id: opened.id, resolved: true, resolution: 'New valve' },
      as('req-close'),
    ),
    200,
    'close it',
  )

  const events = await feed(t, admin)
  sameEvents(
    t,
    events,
    [
      event({
        type: 'customer.created',
        time: ada.created,
        entity: 'customer',
        entityid: ada.id,
        data: ada,
        requestid: 'req-add-ada',
      }),
      event({
        type: 'customer.created',
        time: bob.created,
        entity: 'customer',
        entityid: bob.id,
        data: bob,
        actor: EDITOR,
        requestid: 'req-add-bob',
      }),
      event({
        type: 'customer.updated',
        time: adaKing.updated,
        entity: 'customer',
        entityid: ada.id,
        data: adaKing,
        changes: {
          name: { from: 'Ada Lovelace', to: 'Ada King' },
          phone: { from: null, to: '+44 20 7946 0958' },
          optemail: { from: false, to: true },
        },
        actor: EDITOR,
        requestid: 'req-update-ada',
      }),
      event({
        type: 'customer.updated',
        time: sameAgain.updated,
        entity: 'customer',
        entityid: ada.id,
        data: sameAgain,
        changes: {},
        requestid: 'req-same-ada',
      }),
      event({
        type: 'product.created',
        time: kettle.created,
        entity: 'product',
        entityid: kettle.id,
        data: kettle,
        actor: EDITOR,
        requestid: 'req-add-kettle',
      }),
      event({
        type: 'product.updated',
        time: pricier.updated,
        entity: 'product',
        entityid: kettle.id,
        data: pricier,
        changes: { price: { from: 20, to: 25.5 } },
        actor: EDITOR,
        requestid: 'req-price-kettle',
      }),
      event({
        type: 'product.transferred',
        time: toBob.updated,
        entity: 'product',
        entityid: kettle.id,
        data: toBob,
        changes: { customerid: { from: ada.id, to: bob.id } },
        actor: EDITOR,
        requestid: 'req-kettle-to-bob',
      }),
      event({
        type: 'product.transferred',
        time: toNobody.updated,
        entity: 'product',
        entityid: kettle.id,
        data: toNobody,
        changes: {
          customerid: { from: bob.id, to: null },
          warranty: { from: 2, to: 3 },
          expires: { from: toBob.expires, to: toNobody.expires },
        },
        requestid: 'req-kettle-away',
      }),
      event({
        type: 'product.deleted',
        time: kettleDeleted,
        entity: 'product',
        entityid: kettle.id,
        data: toNobody,
        actor: EDITOR,
        requestid: 'req-delete-kettle',
      }),
      event({
        type: 'product.created',
        time: lamp.created,
        entity: 'product',
        entityid: lamp.id,
        data: lamp,
        requestid: 'req-lamp',
      }),
      event({
        type: 'product.created',
        time: toaster.created,
        entity: 'product',
        entityid: toaster.id,
        data: toaster,
        requestid: 'req-toaster',
      }),
      ...[lamp, toaster].map((deleted) =>
        event({
          type: 'product.deleted',
          time: bobsDeleted,
          entity: 'product',
          entityid: deleted.id,
          data: deleted,
          actor: EDITOR,
          requestid: 'req-delete-bobs',
        }),
      ),
      event({
        type: 'product.created',
        time: radio.created,
        entity: 'product',
        entityid: radio.id,
        data: radio,
        requestid: 'req-radio',
      }),
      event({
        type: 'feedback.created',
        time: brand.created,
        entity: 'feedback',
        entityid: brand.id,
        data: brand,
        actor: EDITOR,
        requestid: 'req-brand',
      }),
      event({
        type: 'feedback.created',
        time: product.created,
        entity: 'feedback',
        entityid: product.id,
        data: product,
        actor: EDITOR,
        requestid: 'req-product-feedback',
      }),
      event({
        type: 'ticket.opened',
        time: opened.opened,
        entity: 'ticket',
        entityid: opened.id,
        data: opened,
        actor: EDITOR,
        requestid: 'req-open',
      }),
      event({
        type: 'ticket.closed',
        time: closed.closed,
        entity: 'ticket',
        entityid: opened.id,
        data: closed,
        changes: {
          resolved: { from: false, to: true },
          resolution: { from: null, to: 'New valve' },
          closed: { from: null, to: closed.closed },
        },
        requestid: 'req-close',
      }),
    ],
    'the feed of every change, in the order made',
  )
  t.same(
    [product.productid, closed.resolved, toNobody.customerid],
    [radio.id, true, null],
    'the records are what the events say they are',
  )
  t.strictSame(
    Object.keys(events[0] ?? {}).sort(),
    ['actor', 'changes', 'data', 'entity', 'entityid', 'id', 'requestid', 'time', 'type', 'uploadid'],
    "an event has exactly the contract's fields",
  )

  const unnamed = await admin.post('/api/add/customer', newCustomer({ email: 'plain@example.com' }))
  const [last] = await feed(t, admin, { after: events.at(-1).id })
  t.equal(last.requestid, unnamed.headers['x-request-id'], 'without X-Request-Id: the id the server gave the request')
  t.match(last.requestid, /^[0-9a-f-]{36}$/, 'a UUID')
})

t.test('deleting a customer records their feedback and tickets deleted, then them: each as it was', async (t) => {
  const app = await build(t)
  const admin = client(app)
  const { editor, EDITOR } = await editorOf(app)
  const ada = ok(t, await admin.post('/api/add/customer', newCustomer()), 201, 'Ada')
  const bob = ok(t, await admin.post('/api/add/customer', newCustomer({ email: 'bob@example.com' })), 201, 'Bob')
  const bobsLamp = ok(t, await admin.post('/api/add/product', newProduct(bob.id)), 201, "Bob's lamp")
  const brand1 = ok(
    t,
    await admin.post('/api/add/brand/feedback', { customerid: ada.id, heading: 'One', body: 'First', nps: 10 }),
    201,
    'brand feedback 1',
  )
  const bobsFeedback = ok(
    t,
    await admin.post('/api/add/brand/feedback', { customerid: bob.id, heading: 'Bob', body: 'Mine' }),
    201,
    "Bob's feedback",
  )
  const brand2 = ok(
    t,
    await admin.post('/api/add/brand/feedback', { customerid: ada.id, heading: 'Two', body: 'Second' }),
    201,
    'brand feedback 2',
  )
  const product = ok(
    t,
    await admin.post('/api/add/product/feedback', {
      customerid: ada.id,
      productid: bobsLamp.id,
      heading: 'Borrowed',
      body: "Bob's lamp is bright",
      nps: 3,
    }),
    201,
    'product feedback',
  )
  const ticket1 = ok(
    t,
    await admin.post('/api/open/customer/request', { customerid: ada.id, request: 'First' }),
    201,
    'ticket 1',
  )
  const ticket2 = ok(
    t,
    await admin.post('/api/open/customer/request', { customerid: ada.id, request: 'Second' }),
    201,
    'ticket 2',
  )
  const ticket2Closed = ok(
    t,
    await admin.post('/api/close/customer/request', { id: ticket2.id, resolved: false, resolution: 'Gave up' }),
    200,
    'ticket 2 closed',
  )
  const adaNow = ok(t, await admin.get('/api/get/customer', { query: { id: ada.id } }), 200, 'Ada as she is')
  const before = await newestId(t, admin)

  const [deleted, when] = await timed(() =>
    editor.delete('/api/delete/customer', { query: { id: ada.id }, headers: { 'x-request-id': 'req-delete-ada' } }),
  )
  t.strictSame(ok(t, deleted, 200, 'delete Ada'), { deleted: [ada.id] })
  const cascade = (type: string, entity: string, data: { id: number }) =>
    event({ type, time: when, entity, entityid: data.id, data, actor: EDITOR, requestid: 'req-delete-ada' })
  const events = await feed(t, admin, { after: before })
  sameEvents(
    t,
    events,
    [
      cascade('feedback.deleted', 'feedback', brand1),
      cascade('feedback.deleted', 'feedback', brand2),
      cascade('feedback.deleted', 'feedback', product),
      cascade('ticket.deleted', 'ticket', ticket1),
      cascade('ticket.deleted', 'ticket', ticket2Closed),
      cascade('customer.deleted', 'customer', adaNow),
    ],
    "Ada's brand and product feedback, her tickets, then Ada",
  )
  t.equal(new Set(events.map((each) => each.time)).size, 1, 'one change, one time')
  t.equal(
    (await admin.get('/api/get/brand/feedback', { query: { customerid: bob.id } })).body.length,
    1,
    "Bob's feedback stays, and has no event",
  )
  t.equal(bobsFeedback.customerid, bob.id)
})

t.test('uploads record an event per row stored, none for a row skipped, each naming the upload', async (t) => {
  const app = await build(t)
  const admin = client(app)
  const { editor, EDITOR, key } = await editorOf(app)
  const ada = ok(t, await admin.post('/api/add/customer', newCustomer()), 201, 'Ada')
  const asEditor = (requestid: string) => ({ headers: { authorization: `Bearer ${key}`, 'x-request-id': requestid } })
  const byName = async (url: string, name: string) => {
    const found = ok(t, await admin.get(url, { query: { name } }), 200, `${name} found`) as any[]
    t.equal(found.length, 1, `one ${name}`)
    return found[0]
  }

  let before = await newestId(t, admin)
  const inserted = await upload(
    app,
    '/upload/customers',
    {
      filename: 'customers.csv',
      content:
        'Grace Hopper,grace@example.com,1 Navy Way\n' +
        'Bad Email,not-an-address,Somewhere\n' +
        'Alan Turing,alan@example.com,Bletchley Park,,yes,no,no,inactive\n',
    },
    asEditor('req-upload-1'),
  )
  const report1 = ok(t, inserted, 201, 'customer upload')
  t.match(report1, { inserted: 2, skipped: 1, errors: [{ row: 2 }] }, 'two rows stored, row 2 skipped')
  const grace = await byName('/api/get/customer', 'Grace Hopper')
  const alan = await byName('/api/get/customer', 'Alan Turing')
  /** An event of `report`'s upload, made with the editor key. */
  const uploaded = (report: { id: number; created: string }, fields: Omit<Expected, 'time' | 'uploadid' | 'actor'>) =>
    event({ ...fields, time: report.created, actor: EDITOR, uploadid: report.id })
  sameEvents(
    t,
    await feed(t, admin, { after: before }),
    [grace, alan].map((customer) =>
      uploaded(report1, {
        type: 'customer.created',
        entity: 'customer',
        entityid: customer.id,
        data: customer,
        requestid: 'req-upload-1',
      }),
    ),
    'a customer.created for each row inserted, at the time of the upload',
  )
  t.equal(grace.created, report1.created, "the customers carry the upload's time")

  before = await newestId(t, admin)
  const upserted = await upload(
    app,
    '/upload/customers?mode=upsert',
    { filename: 'upsert.csv', content: 'Ada King,ADA@example.com,,,yes\nNew Person,new@example.com,Street\n' },
    asEditor('req-upload-2'),
  )
  const report2 = ok(t, upserted, 201, 'upsert upload')
  t.match(report2, { mode: 'upsert', inserted: 1, updated: 1, skipped: 0 })
  const adaKing = ok(t, await admin.get('/api/get/customer', { query: { id: ada.id } }), 200, 'Ada after')
  const newPerson = await byName('/api/get/customer', 'New Person')
  sameEvents(
    t,
    await feed(t, admin, { after: before }),
    [
      uploaded(report2, {
        type: 'customer.updated',
        entity: 'customer',
        entityid: ada.id,
        data: adaKing,
        changes: {
          name: { from: 'Ada Lovelace', to: 'Ada King' },
          email: { from: 'ada@example.com', to: 'ADA@example.com' },
          optemail: { from: false, to: true },
        },
        requestid: 'req-upload-2',
      }),
      uploaded(report2, {
        type: 'customer.created',
        entity: 'customer',
        entityid: newPerson.id,
        data: newPerson,
        requestid: 'req-upload-2',
      }),
    ],
    'the customer updated, with the fields its row changed, and the one inserted',
  )

  before = await newestId(t, admin)
  const products = await upload(
    app,
    '/upload/products',
    {
      filename: 'products.csv',
      content: `Kettle,19.99,2024-02-29,1,${ada.id}\nLamp,5\nStove,20,2024-01-01,2,99999\n`,
    },
    asEditor('req-upload-3'),
  )
  const report3 = ok(t, products, 201, 'product upload')
  t.match(report3, { inserted: 2, skipped: 1 }, 'the stove of nobody skipped')
  const kettle = await byName('/api/get/product', 'Kettle')
  const lamp = await byName('/api/get/product', 'Lamp')
  sameEvents(
    t,
    await feed(t, admin, { after: before }),
    [kettle, lamp].map((product) =>
      uploaded(report3, {
        type: 'product.created',
        entity: 'product',
        entityid: product.id,
        data: product,
        requestid: 'req-upload-3',
      }),
    ),
    'a product.created for each product row stored',
  )
  t.equal(kettle.customerid, ada.id)
  t.equal(lamp.customerid, null)

  before = await newestId(t, admin)
  const direct = await editor.post('/api/add/customer', newCustomer({ email: 'after@example.com' }))
  const [afterUploads] = await feed(t, admin, { after: before })
  t.equal(afterUploads.uploadid, null, 'a change made by no upload names none')
  t.equal(afterUploads.entityid, direct.body.id)
})

t.test('a change that fails records no event', async (t) => {
  const app = await build(t)
  const api = client(app)
  const ada = ok(t, await api.post('/api/add/customer', newCustomer()), 201, 'Ada')
  const bob = ok(t, await api.post('/api/add/customer', newCustomer({ email: 'bob@example.com' })), 201, 'Bob')
  const kettle = ok(t, await api.post('/api/add/product', newProduct(ada.id)), 201, 'kettle')
  const ticket = ok(
    t,
    await api.post('/api/open/customer/request', { customerid: bob.id, request: 'Help' }),
    201,
    'ticket',
  )
  ok(
    t,
    await api.post('/api/close/customer/request', { id: ticket.id, resolved: true, resolution: 'Done' }),
    200,
    'close',
  )
  const before = await newestId(t, api)
  const stale = { headers: { 'if-match': '"3q2-7wH4eXv9mS0tKQ1bZ3fL0aQ"' } }

  const failures: [string, () => Promise<Reply>, number][] = [
    ['update a customer nobody has', () => api.post('/api/update/customer', { id: 9999, name: 'X' }), 404],
    ['delete a customer nobody has', () => api.delete('/api/delete/customer', { query: { id: 9999 } }), 404],
    ['a product for a customer nobody has', () => api.post('/api/add/product', newProduct(9999)), 404],
    [
      'move a product to a customer nobody has',
      () => api.post('/api/update/product', { id: kettle.id, changeto: 9999 }),
      404,
    ],
    ['delete a product nobody has', () => api.post('/api/delete/product', { id: 9999 }), 404],
    ['delete the products of a customer with none', () => api.post('/api/delete/product', { customerid: bob.id }), 404],
    [
      'feedback about a product nobody has',
      () => api.post('/api/add/product/feedback', { customerid: ada.id, productid: 9999, heading: 'H', body: 'B' }),
      404,
    ],
    [
      'brand feedback of a customer nobody has',
      () => api.post('/api/add/brand/feedback', { customerid: 9999, heading: 'H', body: 'B' }),
      404,
    ],
    [
      'a ticket of a customer nobody has',
      () => api.post('/api/open/customer/request', { customerid: 9999, request: 'R' }),
      404,
    ],
    [
      'close a ticket nobody has',
      () => api.post('/api/close/customer/request', { id: 9999, resolved: true, resolution: 'R' }),
      404,
    ],
    [
      'a customer with a taken e-mail address',
      () => api.post('/api/add/customer', newCustomer({ email: 'ADA@example.com' })),
      409,
    ],
    [
      'change an e-mail address to a taken one',
      () => api.post('/api/update/customer', { id: bob.id, email: 'ada@EXAMPLE.com' }),
      409,
    ],
    [
      'close a closed ticket',
      () => api.post('/api/close/customer/request', { id: ticket.id, resolved: false, resolution: 'R' }),
      409,
    ],
    ['delete a customer who has products', () => api.delete('/api/delete/customer', { query: { id: ada.id } }), 409],
    [
      'update a customer with a stale If-Match',
      () => api.post('/api/update/customer', { id: ada.id, name: 'X' }, stale),
      412,
    ],
    [
      'update a product with a stale If-Match',
      () => api.post('/api/update/product', { id: kettle.id, price: 1 }, stale),
      412,
    ],
    ['delete a product with a stale If-Match', () => api.post('/api/delete/product', { id: kettle.id }, stale), 412],
    [
      'delete a customer with a stale If-Match',
      () => api.delete('/api/delete/customer', { query: { id: bob.id }, ...stale }),
      412,
    ],
    ['a customer with a bad e-mail address', () => api.post('/api/add/customer', newCustomer({ email: 'nope' })), 400],
    ['a price with three decimals', () => api.post('/api/update/product', { id: kettle.id, price: 1.005 }), 400],
    ['an update that sets nothing', () => api.post('/api/update/customer', { id: ada.id }), 400],
  ]
  for (const [what, request, status] of failures) {
    const res = await request()
    t.equal(res.status, status, `${what}: ${status}`)
    t.equal(res.headers['content-type'], PROBLEM_JSON, `${what}: a problem`)
  }
  const uploadFailure = await upload(app, '/upload/customers', {
    filename: 'list.pdf',
    content: 'Ada,ada2@example.com,X\n',
  })
  t.equal(uploadFailure.status, 415, 'an upload of a file it cannot read: 415')

  const page = await api.get('/api/get/events', { query: { after: before } })
  t.strictSame(page.body, { events: [], next: before }, 'not one event for any of them')

  const once = { headers: { 'idempotency-key': 'add-grace-once' } }
  const grace = newCustomer({ name: 'Grace', email: 'grace@example.com' })
  const first = await api.post('/api/add/customer', grace, once)
  const retry = await api.post('/api/add/customer', grace, once)
  t.same([first.status, retry.status], [201, 201], 'a request and its retry with the same Idempotency-Key')
  t.strictSame(retry.body, first.body, 'the retry gets the first answer')
  t.strictSame(
    (await feed(t, api, { after: before })).map((each) => [each.type, each.entityid]),
    [['customer.created', first.body.id]],
    'one change, one event: the retry records none',
  )
})

t.test('paging: after, limit and next', async (t) => {
  const app = await build(t)
  const api = client(app)
  const emails = Array.from({ length: 150 }, (_, i) => `person${i}@example.com`)
  const report = await upload(app, '/upload/customers', {
    filename: 'many.csv',
    content: emails.map((email, i) => `Person ${i},${email},Street ${i}`).join('\n'),
  })
  t.equal(report.body.inserted, 150)
  const all = await feed(t, api)
  t.equal(all.length, 150, '150 events')
  const ids = all.map((each) => each.id as number)

  const first = await api.get('/api/get/events')
  t.equal(first.body.events.length, 100, 'limit defaults to 100')
  t.strictSame(first.body.events, all.slice(0, 100))
  t.equal(first.body.next, ids[99], 'next is the id of the last event returned')

  const pages: number[][] = []
  let after = 0
  for (;;) {
    const res = await api.get('/api/get/events', { query: { after, limit: 40 } })
    t.equal(res.status, 200)
    const page = res.body.events.map((each: { id: number }) => each.id)
    if (page.length === 0) {
      t.strictSame(res.body, { events: [], next: after }, 'past the end: no events, and next is after again')
      break
    }
    t.equal(res.body.next, page.at(-1), 'next: the last id of the page')
    pages.push(page)
    after = res.body.next
  }
  t.strictSame(
    pages.map((page) => page.length),
    [40, 40, 40, 30],
    'pages of at most limit',
  )
  t.strictSame(pages.flat(), ids, 'following next reads every event once, in order')
  t.strictSame(
    (await api.get('/api/get/events', { query: { after: ids[10]!, limit: 2 } })).body,
    { events: all.slice(11, 13), next: ids[12] },
    'after an id in the middle',
  )
  t.strictSame(
    (await api.get('/api/get/events', { query: { after: 1e15 } })).body,
    { events: [], next: 1e15 },
    'after an id beyond the newest',
  )

  t.equal((await api.get('/api/get/events', { query: { limit: 1000 } })).status, 200, 'limit 1000 is allowed')
  for (const [query, field, message] of [
    [{ limit: 1001 }, 'limit', 'must be <= 1000'],
    [{ limit: 0 }, 'limit', 'must be >= 1'],
    [{ after: -1 }, 'after', 'must be >= 0'],
  ] as const) {
    const res = await api.get('/api/get/events', { query })
    t.equal(res.status, 400, `${JSON.stringify(query)}: 400`)
    t.equal(res.headers['content-type'], PROBLEM_JSON)
    t.strictSame(
      res.body,
      problemBody(res, 400, `The request has 1 invalid field: ${field} ${message}.`, [{ field, message }]),
      `${JSON.stringify(query)}: the field and what is wrong with it`,
    )
  }
})

t.test('filters: type (with groups) and one record’s history', async (t) => {
  const app = await build(t)
  const api = client(app)
  const ada = ok(t, await api.post('/api/add/customer', newCustomer()), 201, 'Ada')
  const bob = ok(t, await api.post('/api/add/customer', newCustomer({ email: 'bob@example.com' })), 201, 'Bob')
  const kettle = ok(t, await api.post('/api/add/product', newProduct(ada.id)), 201, 'kettle')
  const lamp = ok(t, await api.post('/api/add/product', newProduct(bob.id, { name: 'Lamp' })), 201, 'lamp')
  ok(t, await api.post('/api/update/product', { id: kettle.id, price: 1 }), 200, 'kettle cheaper')
  ok(t, await api.post('/api/update/customer', { id: bob.id, name: 'Robert' }), 200, 'Bob renamed')
  ok(t, await api.post('/api/update/product', { id: kettle.id, changeto: bob.id }), 200, 'kettle to Bob')
  ok(t, await api.post('/api/update/product', { id: lamp.id, name: 'Desk lamp' }), 200, 'lamp renamed')
  ok(t, await api.post('/api/open/customer/request', { customerid: ada.id, request: 'Cold tea' }), 201, 'ticket')
  ok(t, await api.post('/api/delete/product', { id: kettle.id }), 200, 'kettle deleted')
  const all = await feed(t, api)
  const types = (events: any[]) => events.map((each) => `${each.type} ${each.entityid}`)
  t.strictSame(types(all), [
    `customer.created ${ada.id}`,
    `customer.created ${bob.id}`,
    `product.created ${kettle.id}`,
    `product.created ${lamp.id}`,
    `product.updated ${kettle.id}`,
    `customer.updated ${bob.id}`,
    `product.transferred ${kettle.id}`,
    `product.updated ${lamp.id}`,
    `ticket.opened 1`,
    `product.deleted ${kettle.id}`,
  ])
  const only = (keep: (each: any) => boolean) => all.filter(keep)

  t.strictSame(
    await feed(t, api, { type: 'customer.created' }),
    only((each) => each.type === 'customer.created'),
    'one type',
  )
  t.strictSame(
    await feed(t, api, { type: 'customer.updated,ticket.opened' }),
    only((each) => ['customer.updated', 'ticket.opened'].includes(each.type)),
    'a list of types',
  )
  t.strictSame(
    await feed(t, api, { type: 'product.*' }),
    only((each) => each.entity === 'product'),
    'product.* takes created, updated, transferred and deleted',
  )
  t.strictSame(
    await feed(t, api, { type: 'product.*,customer.created,product.deleted' }),
    only((each) => each.entity === 'product' || each.type === 'customer.created'),
    'a group and types together, each event once',
  )
  t.strictSame(await feed(t, api, { type: 'feedback.*' }), [], 'a group with no events yet')
  const page = await api.get('/api/get/events', { query: { type: 'product.*', limit: 2, after: all[2].id } })
  t.strictSame(
    page.body,
    { events: only((each) => each.entity === 'product').slice(1, 3), next: all[4].id },
    'filters page like the whole feed: next is the last id returned',
  )

  t.strictSame(
    await feed(t, api, { entity: 'product', entityid: kettle.id }),
    only((each) => each.entity === 'product' && each.entityid === kettle.id),
    "entity and entityid: one record's whole history",
  )
  t.strictSame(
    types(await feed(t, api, { entity: 'customer', entityid: bob.id })),
    [`customer.created ${bob.id}`, `customer.updated ${bob.id}`],
    "Bob's history",
  )
  t.strictSame(
    await feed(t, api, { entity: 'ticket' }),
    only((each) => each.entity === 'ticket'),
    'entity alone: every record of a kind',
  )
  t.strictSame(
    types(await feed(t, api, { entity: 'product', entityid: kettle.id, type: 'product.updated,product.deleted' })),
    [`product.updated ${kettle.id}`, `product.deleted ${kettle.id}`],
    'filters together',
  )

  for (const [query, detail, errors] of [
    [
      { type: 'customer.exploded' },
      'The request has 1 invalid field: type names customer.exploded, which is no event type: use ' +
        'customer.created, customer.updated, customer.deleted, product.created, product.updated, ' +
        'product.transferred, product.deleted, feedback.created, feedback.deleted, ticket.opened, ' +
        'ticket.closed, ticket.deleted, or a group (customer.*, product.*, feedback.*, ticket.*).',
      undefined,
    ],
    [{ type: 'customer.created,widget.*' }, 'names widget.*, which is no event type', undefined],
    [
      { entityid: 1 },
      'The request has 1 invalid field: entityid needs `entity` too.',
      [{ field: 'entityid', message: 'needs `entity` too' }],
    ],
  ] as const) {
    const res = await api.get('/api/get/events', { query })
    t.equal(res.status, 400, `${JSON.stringify(query)}: 400`)
    t.equal(res.headers['content-type'], PROBLEM_JSON)
    if (errors) {
      t.strictSame(res.body, problemBody(res, 400, detail, [...errors]), `${JSON.stringify(query)}: why`)
    } else {
      t.match(res.body.detail, detail, `${JSON.stringify(query)}: the problem names the type that does not exist`)
      t.equal(res.body.errors[0].field, 'type')
    }
  }
  const malformed: Record<string, string>[] = [
    { type: 'Customer.Created' },
    { type: 'customer.created,' },
    { entity: 'invoice' },
  ]
  for (const query of malformed) {
    const res = await api.get('/api/get/events', { query })
    t.equal(res.status, 400, `${JSON.stringify(query)}: 400`)
    t.equal(res.body.errors[0].field, Object.keys(query)[0], `${JSON.stringify(query)}: names the field`)
  }
})

t.test('a reader key may read the feed; without a key it is a 401', async (t) => {
  const app = await build(t)
  ok(t, await client(app).post('/api/add/customer', newCustomer()), 201, 'Ada')
  const reader = await createKey(app.db, 'feed reader', 'reader')
  const res = await client(app, { authorization: `Bearer ${reader.key}` }).get('/api/get/events')
  t.equal(res.status, 200, 'the role reader is enough')
  t.equal(res.body.events.length, 1)
  const viaHeader = await client(app, { 'x-api-key': reader.key }).get('/api/get/events')
  t.equal(viaHeader.status, 200, 'X-API-Key too')

  const anonymous = await app.injectAs({ method: 'GET', url: '/api/get/events' })
  t.equal(anonymous.statusCode, 401, 'no key: 401')
  t.equal(anonymous.headers['content-type'], PROBLEM_JSON)
  t.strictSame(
    anonymous.json(),
    problemBody(anonymous, 401, 'This request needs an API key: send Authorization: Bearer <key>.'),
  )
  const bad = await app.injectAs({
    method: 'GET',
    url: '/api/get/events',
    headers: { authorization: 'Bearer crm_nope' },
  })
  t.equal(bad.statusCode, 401, 'an unknown key: 401')
})

/** A database that two apps can open one after the other: a SQLite file, or one PostgreSQL schema. */
const sharedDatabase = async (t: Test) =>
  TEST_DATABASE_URL ? postgresSchema(t) : join(tempFolder(t, 'events'), 'crm.sqlite')

/** Adds `count` customers through `app` and answers the ids of their events. */
async function addCustomers(t: Test, app: TestApp, count: number): Promise<number[]> {
  const api = client(app)
  for (let i = 0; i < count; i++) {
    ok(t, await api.post('/api/add/customer', newCustomer({ email: `c${i}@example.com` })), 201, `customer ${i}`)
  }
  return (await feed(t, api)).map((each) => each.id as number)
}

/** Sets the time of the events `ids` to `hoursAgo` hours before now, as if they had been made then. */
async function age(app: TestApp, ids: number[], hoursAgo: number) {
  const time = new Date(Date.now() - hoursAgo * 3_600_000).toISOString()
  await app.db.updateTable('events').set({ time }).where('id', 'in', ids).execute()
}

t.test('EVENT_RETENTION_DAYS: older events are removed when the app starts; newer ones stay', async (t) => {
  const database = await sharedDatabase(t)
  const first = await build(t, { DATABASE_URL: database, EVENT_RETENTION_DAYS: 1, LOG_LEVEL: 'silent' })
  const ids = await addCustomers(t, first, 4)
  t.equal(ids.length, 4)
  await age(first, [ids[0]!, ids[2]!], 48)
  await age(first, [ids[1]!], 23)
  await first.close()

  const second = await build(t, { DATABASE_URL: database, EVENT_RETENTION_DAYS: 1 })
  const kept = await feed(t, client(second))
  t.strictSame(
    kept.map((each) => each.id),
    [ids[1], ids[3]],
    'the events of two days ago are gone; those of 23 hours ago and of now stay',
  )
  t.match(
    second.logs().find((line) => line.msg === 'expired events and idempotency keys removed'),
    { events: 2, keys: 0 },
    'the removal is logged with its count',
  )
})

t.test('EVENT_RETENTION_DAYS=0 keeps every event, however old', async (t) => {
  const database = await sharedDatabase(t)
  const first = await build(t, { DATABASE_URL: database, EVENT_RETENTION_DAYS: 0, LOG_LEVEL: 'silent' })
  const ids = await addCustomers(t, first, 3)
  await age(first, [ids[0]!], 24 * 3650)
  await age(first, [ids[1]!], 48)
  await first.close()

  const second = await build(t, { DATABASE_URL: database, EVENT_RETENTION_DAYS: 0, LOG_LEVEL: 'silent' })
  t.strictSame(
    (await feed(t, client(second))).map((each) => each.id),
    ids,
    'all three events stay',
  )
})
