// The OpenAPI document as Postman users meet it: converted with openapi-to-postmanv2 and run with newman
// against a live server holding data. Every operation is there, in the folder of its tag, and every
// answer is a documented one (no 5xx, a documented status, media type and body).
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { convert, type CollectionResult } from 'openapi-to-postmanv2'
import t from 'tap'
import { undocumented } from './documented.js'
import { AS_ADMIN, serve, TEST_KEY } from './helper.js'

interface Operation {
  operationId: string
  tags?: string[]
  responses: Record<string, unknown>
}
interface Document {
  servers: { url: string }[]
  tags: { name: string }[]
  paths: Record<string, Record<string, Operation>>
}

/** The parts of a Postman collection (v2.1) this test reads. */
interface PostmanRequest {
  method: string
  url: { path?: string[]; host?: string[] }
}
interface PostmanItem {
  name: string
  item?: PostmanItem[]
  request?: PostmanRequest
}
interface PostmanCollection {
  item: PostmanItem[]
  variable?: { key: string; value: string }[]
  auth?: unknown
}

/** The parts of newman's run summary this test reads (newman ships no types). */
interface Execution {
  item: { name: string }
  request: { method: string; url: { getPath(): string; getPathWithQuery(): string } }
  response?: { code: number; stream?: Buffer; headers: { get(name: string): string | undefined } }
  requestError?: { message: string }
}
interface Summary {
  run: {
    executions: Execution[]
    failures: { error: { message: string }; at: string; source?: { name: string } }[]
    timings: { started: number; completed: number }
  }
}
interface Newman {
  run(options: Record<string, unknown>, done: (err: Error | null, summary: Summary) => void): unknown
}
const newman = createRequire(import.meta.url)('newman') as Newman

/** The committed document, read when the test runs (`npm run openapi` rewrites it). */
const readDocument = () => JSON.parse(readFileSync(new URL('../openapi.json', import.meta.url), 'utf8')) as Document

/** "METHOD /path", the key an operation is known by here; Postman's `:name` path variables read as `{name}`. */
const keyOf = (method: string, path: string) => `${method.toUpperCase()} ${path.replace(/\/:([^/]+)/g, '/{$1}')}`

/** Every operation of the document by its key. */
function operationsOf(document: Document) {
  const operations = new Map<string, Operation>()
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) operations.set(keyOf(method, path), operation)
  }
  return operations
}

/** Converts the document to a Postman collection: folders by tag, requests filled with the document's examples. */
function toCollection(document: Document): Promise<CollectionResult> {
  return new Promise((resolve, reject) => {
    convert(
      { type: 'json', data: document },
      // `requestParametersResolution` is what `convert` reads for request bodies and query values;
      // `parametersResolution` only acts in `convertV2`. Optional parameters are sent (the default).
      { folderStrategy: 'Tags', requestParametersResolution: 'Example', exampleParametersResolution: 'Example' },
      (err, result) => (err ? reject(new Error(err.message)) : resolve(result!)),
    )
  })
}

/** Runs the collection with newman, no reporters, and resolves with its summary. */
function runCollection(collection: PostmanCollection): Promise<Summary> {
  return new Promise((resolve, reject) => {
    newman.run(
      { collection, reporters: [], delayRequest: 0, timeoutRequest: 5_000, timeout: 20_000 },
      (err, summary) => (err ? reject(err) : resolve(summary)),
    )
  })
}

/** The `detail` of a problem+json body, for the log; the body's start when it is something else. */
function detailOf(body: string) {
  try {
    return String((JSON.parse(body) as { detail?: unknown }).detail)
  } catch {
    return body.slice(0, 80)
  }
}

/** POSTs JSON to the live server and returns the status and parsed body. */
async function post(base: string, path: string, body: unknown) {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...AS_ADMIN },
    body: JSON.stringify(body),
  })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

t.test('the Postman collection made from openapi.json runs against a live server as documented', async (t) => {
  t.setTimeout(30_000)
  const document = readDocument()
  const operations = operationsOf(document)

  const converted = await toCollection(document)
  t.ok(converted.result, `the conversion succeeds${converted.reason ? `: ${converted.reason}` : ''}`)
  t.equal(converted.output?.length, 1, 'one output')
  t.equal(converted.output?.[0]?.type, 'collection', 'the output is a collection')
  if (converted.output?.[0]?.type !== 'collection') return
  const collection = converted.output[0].data as PostmanCollection

  // One folder per tag, in the document's order, holding exactly the operations of that tag.
  t.same(
    collection.item.map((folder) => folder.name),
    document.tags.map((tag) => tag.name),
    'one folder per tag, in order',
  )
  const placed = new Map<string, string[]>()
  for (const folder of collection.item) {
    t.ok(folder.item, `${folder.name} is a folder`)
    for (const entry of folder.item ?? []) {
      t.ok(entry.request, `${folder.name}/${entry.name} is a request, not a nested folder`)
      if (!entry.request) continue
      const key = keyOf(entry.request.method, `/${(entry.request.url.path ?? []).join('/')}`)
      placed.set(key, [...(placed.get(key) ?? []), folder.name])
    }
  }
  for (const [key, operation] of operations) {
    t.same(placed.get(key), operation.tags, `${key} (${operation.operationId}) appears once, in the folder of its tag`)
  }
  t.same(
    [...placed.keys()].filter((key) => !operations.has(key)),
    [],
    'no request that is not an operation',
  )

  const baseUrl = collection.variable?.find((variable) => variable.key === 'baseUrl')
  t.equal(baseUrl?.value, document.servers[0]?.url, 'the server URL is the baseUrl collection variable')

  // A live server, with the records the examples name (customers 1 and 2, product 1, ticket 1, upload 1).
  // The example webhook's host is not resolved, and nothing is delivered: newman sends no traffic off this machine.
  const { base } = await serve(t, { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_DELIVERY: 'false' })
  const ada = { name: 'Ada Lovelace', email: 'ada.lovelace@example.com', address: 'London', status: 'active' }
  const charles = { name: 'Charles Babbage', email: 'charles@example.com', address: 'London', status: 'active' }
  const espresso = { name: 'Espresso machine', price: 249.99, purchased: '2024-02-29', customerid: 1, warranty: 2 }
  const grinder = { name: 'Coffee grinder', price: 89.5, purchased: '2024-03-01', customerid: 1, warranty: 1 }
  const seed = [
    ['/api/add/customer', ada],
    ['/api/add/customer', charles],
    ['/api/add/product', espresso],
    ['/api/add/product', grinder],
    ['/api/open/customer/request', { request: 'The grinder is loud.', customerid: 1 }],
    ['/api/add/brand/feedback', { customerid: 1, heading: 'Friendly', body: 'Always helpful.', nps: 10 }],
    ['/api/add/product/feedback', { productid: 1, customerid: 1, heading: 'Good', body: 'Good coffee.', nps: 8 }],
  ] as const
  for (const [path, body] of seed) {
    const res = await post(base, path, body)
    t.equal(res.status, 201, `seed ${path}: ${JSON.stringify(res.body)}`)
  }
  const form = new FormData()
  const csv = new Blob(['Grace Hopper,grace.hopper@example.com,1 Navy Way\n'], { type: 'text/csv' })
  form.append('custfile', csv, 'seed.csv')
  const uploaded = await fetch(`${base}/upload/customers`, { method: 'POST', body: form, headers: AS_ADMIN })
  t.equal(uploaded.status, 201, `seed /upload/customers: ${await uploaded.text()}`)

  const others = (collection.variable ?? []).filter((variable) => variable.key !== 'baseUrl')
  // The collection authorises every request with Bearer {{bearerToken}}, as a user sets it once.
  t.same(
    collection.auth,
    { type: 'bearer', bearer: [{ key: 'token', value: '{{bearerToken}}' }] },
    'Bearer auth for the collection',
  )
  collection.variable = [...others, { key: 'baseUrl', value: base }, { key: 'bearerToken', value: TEST_KEY }]
  // The event stream stays open until its client ends it, which newman never does (it would time
  // out): it is left out of the run, and read as a client reads it in test/stream.test.ts.
  const stream = keyOf('GET', '/api/stream/events')
  for (const folder of collection.item) {
    folder.item = folder.item?.filter(
      (entry) =>
        !entry.request || keyOf(entry.request.method, `/${(entry.request.url.path ?? []).join('/')}`) !== stream,
    )
  }
  const summary = await runCollection(collection)

  const seen = new Map<string, string[]>()
  for (const execution of summary.run.executions) {
    const { request, response, requestError } = execution
    const key = keyOf(request.method, request.url.getPath())
    const name = `${execution.item.name} (${request.method} ${request.url.getPathWithQuery()})`
    t.notOk(requestError, `${name}: no request error${requestError ? `: ${requestError.message}` : ''}`)
    if (!response) continue
    const body = response.stream?.toString('utf8') ?? ''
    const status = response.code >= 400 ? `${response.code} (${detailOf(body)})` : String(response.code)
    seen.set(key, [...(seen.get(key) ?? []), status])
    t.ok(response.code < 500, `${name}: answered ${response.code}, not a 5xx`)
    t.ok(
      String(response.code) in (operations.get(key)?.responses ?? {}),
      `${name}: ${response.code} is documented for ${operations.get(key)?.operationId ?? 'no operation'}`,
    )
    const problem = undocumented(request.method, request.url.getPathWithQuery(), {
      status: response.code,
      contentType: response.headers.get('content-type'),
      body,
    })
    t.notOk(problem, `${name}: as documented${problem ? `: ${problem}` : ''}`)
  }
  t.same(
    [...operations.keys()].filter((key) => !seen.has(key)),
    [stream],
    'every operation was executed but the stream',
  )
  t.same(
    summary.run.failures.map((failure) => `${failure.source?.name ?? '?'} at ${failure.at}: ${failure.error.message}`),
    [],
    'no request errors or timeouts',
  )

  const { started, completed } = summary.run.timings
  t.comment(`newman: ${summary.run.executions.length} requests in ${completed - started} ms`)
  for (const [key, statuses] of seen) {
    t.comment(`  ${key} (${operations.get(key)?.operationId}): ${statuses.join(', ')}`)
  }
})
