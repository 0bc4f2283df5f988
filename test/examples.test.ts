// The document's examples tell one story (schemas/examples.ts). Played against the API in order, each
// request example gets the answer its response example shows: the examples are real and fit together.
import t from 'tap'
import document from '../openapi.json' with { type: 'json' }
import * as story from '../schemas/examples.js'
import { createKey } from '../src/services/keys.js'
import { build, client, upload } from './helper.js'

interface Media {
  example?: unknown
  schema?: unknown
}
interface Operation {
  operationId: string
  parameters?: { name: string; in: string; example?: unknown }[]
  requestBody?: { content: Record<string, Media> }
  responses: Record<string, { content?: Record<string, Media> }>
}
const operations = new Map<string, { method: string; path: string; operation: Operation }>()
for (const [path, methods] of Object.entries(document.paths as unknown as Record<string, Record<string, Operation>>)) {
  for (const [method, operation] of Object.entries(methods)) {
    operations.set(operation.operationId, { method, path, operation })
  }
}

/** The times, request ids and key material the server makes, which no example can know. */
const SET_BY_SERVER = new Set([
  'created',
  'updated',
  'time',
  'opened',
  'closed',
  'revoked',
  'requestid',
  'prefix',
  'keyprefix',
  'key',
  'secret',
  'next_attempt',
])
/** A record or list with what the server sets replaced by a placeholder (a `null` stays `null`). */
const comparable = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(comparable)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(
    Object.entries(value).map(([key, v]) => [
      key,
      SET_BY_SERVER.has(key) && v !== null ? '(set by the server)' : comparable(v),
    ]),
  )
}

/** The documented example of an operation's request body, or of its query parameters. */
function requestExample(operationId: string): Record<string, unknown> {
  const { operation } = operations.get(operationId)!
  const body = operation.requestBody?.content['application/json']?.example
  if (body) return body as Record<string, unknown>
  const query = (operation.parameters ?? []).filter((p) => p.in === 'query')
  return Object.fromEntries(query.map((p) => [p.name, p.example]))
}

/** The documented example answer of an operation for a status. */
const responseExample = (operationId: string, status: number) =>
  operations.get(operationId)!.operation.responses[status]?.content?.['application/json']?.example

t.test('each request example gets the answer its example shows, in the order of the story', async (t) => {
  // The story's webhook is on a host of its own: not resolved, and nothing is delivered to it.
  const app = await build(t, { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_DELIVERY: 'false' })
  const api = client(app)
  const played = new Set<string>()

  /** Sends the operation's request example (or `query` for a GET that picks its parameters) and compares. */
  async function play(operationId: string, status: number, query?: Record<string, string | number>) {
    const { method, path } = operations.get(operationId)!
    const example = requestExample(operationId)
    const res =
      method === 'post'
        ? await api.post(path, example)
        : await api.call(method.toUpperCase() as 'GET' | 'DELETE', path, {
            query: (query ?? example) as Record<string, string | number>,
          })
    t.equal(res.status, status, `${operationId}: ${status}`)
    const expected = responseExample(operationId, status)
    t.ok(expected, `${operationId}: the document has an example ${status}`)
    t.same(comparable(res.body), comparable(expected), `${operationId}: the answer is the documented example`)
    played.add(operationId)
    return res
  }

  await play('addCustomer', 201)
  t.equal((await api.post('/api/add/customer', story.secondCustomer)).status, 201, 'customer 2 joins the story')
  await play('addProduct', 201)
  await play('getProduct', 200, { id: 1 })
  await play('getCustomer', 200, { id: 1 })
  await play('updateCustomer', 200)
  await play('addBrandFeedback', 201)
  await play('getBrandFeedback', 200, { customerid: 1 })
  await play('addProductFeedback', 201)
  await play('getProductFeedback', 200, { customerid: 1 })
  await play('openTicket', 201)
  await play('closeTicket', 200)
  await play('getTicket', 200, { id: 1 })
  await play('updateProduct', 200)
  await play('getEvents', 200, story.eventsAfter)

  // Grace adds a webhook for the shop, widens it to every ticket event, rotates its secret, and has
  // the product's transfer (event 9) sent again.
  await play('addWebhook', 201)
  await play('updateWebhook', 200)
  await play('listWebhooks', 200, {})
  await play('rotateWebhookSecret', 200)
  await play('redeliverWebhook', 202)

  // Grace exports the customers with her admin key, the first (as a first start makes it): two rows,
  // and the record says so, naming her key.
  const grace = await createKey(app.db, 'First admin key', 'admin')
  const exported = await api.get('/api/customer/export', {
    query: requestExample('exportCustomers') as Record<string, string>,
    headers: { authorization: `Bearer ${grace.key}` },
  })
  t.equal(exported.status, 200, 'exportCustomers: 200')
  t.same(requestExample('exportCustomers'), { ...story.exportRequester, format: 'xlsx' }, 'the requester of the story')
  played.add('exportCustomers')
  await play('listExportRecords', 200, {})

  // The uploaded list of the story: two good rows and a bad e-mail on row 2.
  const csv = [
    'Alan Turing,alan@example.com,Wilmslow,,no,no,no,active',
    'Bad Mail,not-an-email,Nowhere 1,,no,no,no,active',
    'Mary Somerville,mary@example.com,Chelsea,,no,no,no,active',
  ].join('\n')
  const report = await upload(app, '/upload/customers', { filename: 'customers.csv', content: csv })
  t.equal(report.status, 201, 'uploadCustomers: 201')
  t.same(
    comparable(report.body),
    comparable(responseExample('uploadCustomers', 201)),
    'uploadCustomers: the report is the documented example',
  )
  played.add('uploadCustomers')
  const again = await api.get('/upload/report', { query: requestExample('getUploadReport') as Record<string, number> })
  t.same(comparable(again.body), comparable(responseExample('getUploadReport', 200)))
  played.add('getUploadReport')

  await play('deleteProduct', 200)
  await play('deleteCustomer', 200)

  // Keys: Grace makes one, lists, revokes it.
  await play('addKey', 201)
  await play('listKeys', 200, {})
  await play('revokeKey', 200)
  await play('deleteWebhook', 200)

  t.same(
    [...operations.keys()].filter((id) => !played.has(id)).sort(),
    [
      'deleteCustomerViaGet',
      'deleteCustomerViaPost',
      'exportProducts',
      'getWebhookDeliveries',
      'streamEvents',
      'uploadProducts',
    ],
    'every operation with its own example is played (the others repeat one of these; the stream is the feed; ' +
      'the story delivers no webhook)',
  )
})
