// The OpenAPI document: served, committed, and complete for every operation.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import pkg from '../package.json' with { type: 'json' }
import { undocumented } from './documented.js'
import { build, client, tempFolder } from './helper.js'
import { root, runProcess } from './process.js'

/** Each operation's documented statuses: those it can give, and nothing it cannot. */
const statuses: Record<string, string[]> = {
  addCustomer: ['201', '400', '401', '403', '409', '413', '415', '422', '429', '500', '503'],
  getCustomer: ['200', '304', '400', '401', '403', '404', '413', '415', '429', '500', '503'],
  updateCustomer: ['200', '400', '401', '403', '404', '409', '412', '413', '415', '422', '429', '500', '503'],
  deleteCustomer: ['200', '400', '401', '403', '404', '409', '412', '413', '415', '422', '429', '500', '503'],
  deleteCustomerViaGet: ['200', '400', '401', '403', '404', '409', '412', '413', '415', '422', '429', '500', '503'],
  deleteCustomerViaPost: ['200', '400', '401', '403', '404', '409', '412', '413', '415', '422', '429', '500', '503'],
  addProduct: ['201', '400', '401', '403', '404', '409', '413', '415', '422', '429', '500', '503'],
  getProduct: ['200', '304', '400', '401', '403', '404', '413', '415', '429', '500', '503'],
  updateProduct: ['200', '400', '401', '403', '404', '409', '412', '413', '415', '422', '429', '500', '503'],
  deleteProduct: ['200', '400', '401', '403', '404', '409', '412', '413', '415', '422', '429', '500', '503'],
  addBrandFeedback: ['201', '400', '401', '403', '404', '409', '413', '415', '422', '429', '500', '503'],
  addProductFeedback: ['201', '400', '401', '403', '404', '409', '413', '415', '422', '429', '500', '503'],
  getBrandFeedback: ['200', '400', '401', '403', '404', '413', '415', '429', '500', '503'],
  getProductFeedback: ['200', '400', '401', '403', '404', '413', '415', '429', '500', '503'],
  openTicket: ['201', '400', '401', '403', '404', '409', '413', '415', '422', '429', '500', '503'],
  closeTicket: ['200', '400', '401', '403', '404', '409', '412', '413', '415', '422', '429', '500', '503'],
  getTicket: ['200', '304', '400', '401', '403', '404', '413', '415', '429', '500', '503'],
  uploadCustomers: ['201', '400', '401', '403', '409', '413', '415', '422', '429', '500', '503'],
  uploadProducts: ['201', '400', '401', '403', '409', '413', '415', '422', '429', '500', '503'],
  getUploadReport: ['200', '400', '401', '403', '404', '413', '415', '429', '500', '503'],
  exportCustomers: ['200', '400', '401', '403', '413', '415', '429', '500', '503'],
  exportProducts: ['200', '400', '401', '403', '413', '415', '429', '500', '503'],
  listExportRecords: ['200', '400', '401', '403', '413', '415', '429', '500', '503'],
  addKey: ['201', '400', '401', '403', '409', '413', '415', '422', '429', '500', '503'],
  listKeys: ['200', '400', '401', '403', '413', '415', '429', '500', '503'],
  revokeKey: ['200', '400', '401', '403', '404', '409', '413', '415', '422', '429', '500', '503'],
  getEvents: ['200', '400', '401', '403', '413', '415', '429', '500', '503'],
  streamEvents: ['200', '400', '401', '403', '413', '415', '429', '500', '503'],
  addWebhook: ['201', '400', '401', '403', '409', '413', '415', '422', '429', '500', '503'],
  listWebhooks: ['200', '400', '401', '403', '413', '415', '429', '500', '503'],
  updateWebhook: ['200', '400', '401', '403', '404', '409', '413', '415', '422', '429', '500', '503'],
  deleteWebhook: ['200', '400', '401', '403', '404', '409', '413', '415', '422', '429', '500', '503'],
  rotateWebhookSecret: ['200', '400', '401', '403', '404', '409', '413', '415', '422', '429', '500', '503'],
  getWebhookDeliveries: ['200', '400', '401', '403', '404', '413', '415', '429', '500', '503'],
  redeliverWebhook: ['202', '400', '401', '403', '404', '409', '413', '415', '422', '429', '500', '503'],
}

/** The query parameters of each operation that reads them (GET and DELETE), in the document's order. */
const queryParameters: Record<string, string[]> = {
  getCustomer: ['id', 'name', 'limit', 'offset'],
  deleteCustomer: ['id'],
  deleteCustomerViaGet: ['id'],
  getProduct: ['id', 'name', 'customerid', 'limit', 'offset'],
  getBrandFeedback: ['customerid', 'limit', 'offset'],
  getProductFeedback: ['customerid', 'limit', 'offset'],
  getTicket: ['id', 'customerid', 'limit', 'offset'],
  getUploadReport: ['id'],
  exportCustomers: ['name', 'surname', 'email', 'format'],
  exportProducts: ['name', 'surname', 'email', 'format'],
  listExportRecords: ['limit', 'offset'],
  listKeys: ['limit', 'offset'],
  getEvents: ['after', 'limit', 'type', 'entity', 'entityid'],
  streamEvents: ['after', 'type', 'entity', 'entityid'],
  listWebhooks: [],
  getWebhookDeliveries: ['id', 'limit'],
}

/** The header parameters of each operation that reads one: the conditional request headers, `Idempotency-Key`, `Last-Event-ID`. */
const headerParameters: Record<string, string[]> = {
  getCustomer: ['if-none-match'],
  getProduct: ['if-none-match'],
  getTicket: ['if-none-match'],
  updateCustomer: ['idempotency-key', 'if-match'],
  deleteCustomer: ['idempotency-key', 'if-match'],
  deleteCustomerViaGet: ['idempotency-key', 'if-match'],
  deleteCustomerViaPost: ['idempotency-key', 'if-match'],
  updateProduct: ['idempotency-key', 'if-match'],
  deleteProduct: ['idempotency-key', 'if-match'],
  closeTicket: ['idempotency-key', 'if-match'],
  addCustomer: ['idempotency-key'],
  addProduct: ['idempotency-key'],
  addBrandFeedback: ['idempotency-key'],
  addProductFeedback: ['idempotency-key'],
  openTicket: ['idempotency-key'],
  uploadCustomers: ['idempotency-key'],
  uploadProducts: ['idempotency-key'],
  addKey: ['idempotency-key'],
  revokeKey: ['idempotency-key'],
  streamEvents: ['last-event-id'],
  addWebhook: ['idempotency-key'],
  updateWebhook: ['idempotency-key'],
  deleteWebhook: ['idempotency-key'],
  rotateWebhookSecret: ['idempotency-key'],
  redeliverWebhook: ['idempotency-key'],
}

/** The file field of each upload form: the one the upload page names. */
const fileFields: Record<string, string> = { uploadCustomers: 'custfile', uploadProducts: 'prodfile' }

/** Lookups that are alternatives to `id`: no example, so tools that fill in examples send one lookup. */
const alternativeLookups = ['getCustomer name', 'getProduct name', 'getProduct customerid', 'getTicket customerid']

interface Operation {
  operationId?: string
  tags?: string[]
  summary?: string
  description?: string
  parameters?: { in: string; name: string; example?: unknown }[]
  requestBody?: { content: Record<string, { schema: unknown; example?: unknown }> }
  responses: Record<string, { description: string; content?: Record<string, { schema: Record<string, unknown> }> }>
}

t.test('the committed openapi.json is what the app serves (run `npm run openapi` when this fails)', async (t) => {
  const app = await build(t)
  const res = await client(app).get('/openapi.json')
  t.equal(res.status, 200)
  const committed = JSON.parse(readFileSync(new URL('../openapi.json', import.meta.url), 'utf8'))
  t.same(res.body, committed)
})

t.test('every operation is documented completely', async (t) => {
  const app = await build(t)
  const document = (await client(app).get('/openapi.json')).body
  t.equal(document.openapi, '3.1.0')
  t.same(document.info, {
    title: 'CRM API',
    version: pkg.version,
    description: pkg.description,
    contact: { name: 'CRM API maintainers' },
  })
  t.same(document.servers, [{ url: 'http://127.0.0.1:3000', description: 'Local server (npm start)' }])
  const tagNames = document.tags.map((tag: { name: string; description: string }) => {
    t.ok(tag.description, `tag ${tag.name} has a description`)
    return tag.name
  })
  t.same(Object.keys(document.components.schemas).sort(), [
    'ApiKey',
    'BrandFeedback',
    'Customer',
    'CustomerRequest',
    'Deleted',
    'DeliveryAttempt',
    'Event',
    'EventPage',
    'ExportRecord',
    'FieldError',
    'Problem',
    'Product',
    'ProductFeedback',
    'UploadReport',
    'Webhook',
  ])
  t.same(tagNames, ['customers', 'products', 'feedback', 'tickets', 'uploads', 'exports', 'keys', 'events', 'webhooks'])

  const operationIds = new Set<string>()
  for (const [path, methods] of Object.entries(document.paths as Record<string, Record<string, Operation>>)) {
    for (const [method, operation] of Object.entries(methods)) {
      const name = `${method.toUpperCase()} ${path}`
      t.match(operation.operationId, /^[a-z][a-zA-Z]+$/, `${name}: camelCase operationId`)
      t.notOk(operationIds.has(operation.operationId!), `${name}: unique operationId`)
      operationIds.add(operation.operationId!)
      t.equal(operation.tags?.length, 1, `${name}: one tag`)
      t.ok(tagNames.includes(operation.tags?.[0]), `${name}: a declared tag`)
      t.ok(operation.summary, `${name}: summary`)
      t.ok(operation.description, `${name}: description`)
      t.same(Object.keys(operation.responses).sort(), statuses[operation.operationId!], `${name}: statuses`)
      for (const [status, response] of Object.entries(operation.responses)) {
        t.ok(response.description, `${name} ${status}: description`)
        if (Number(status) >= 400) {
          t.same(
            response.content?.['application/problem+json'],
            { schema: { $ref: '#/components/schemas/Problem' } },
            `${name} ${status}: problem details`,
          )
          const others = Object.keys(response.content ?? {}).filter((type) => type !== 'application/problem+json')
          t.same(
            others,
            path.startsWith('/upload/') && method === 'post' ? ['text/html'] : [],
            `${name} ${status}: media types`,
          )
        }
      }
      const parameters = operation.parameters ?? []
      t.same(
        parameters.filter((parameter) => parameter.in === 'header').map((parameter) => parameter.name),
        headerParameters[operation.operationId!] ?? [],
        `${name}: its header parameters`,
      )
      if (method === 'get' || method === 'delete') {
        t.notOk(operation.requestBody, `${name}: parameters documented in the query`)
        const query = parameters.filter((parameter) => parameter.in === 'query')
        t.same(
          query.map((parameter) => parameter.name),
          queryParameters[operation.operationId!],
          `${name}: has query parameters`,
        )
        t.equal(
          query.length + (headerParameters[operation.operationId!]?.length ?? 0),
          parameters.length,
          `${name}: no other parameters`,
        )
        for (const parameter of query) {
          const alternative = alternativeLookups.includes(`${operation.operationId} ${parameter.name}`)
          t.equal(
            parameter.example === undefined,
            alternative,
            `${name} ${parameter.name}: an example unless an alternative lookup`,
          )
        }
      } else if (operation.requestBody?.content['multipart/form-data']) {
        // An upload: a form whose file field Postman and generated clients can fill.
        const form = operation.requestBody.content['multipart/form-data'].schema as {
          properties: Record<string, { type: string; format?: string }>
        }
        t.same(
          Object.entries(form.properties)
            .filter(([, property]) => property.format === 'binary')
            .map(([field, property]) => [field, property.type]),
          [[fileFields[operation.operationId!], 'string']],
          `${name}: a binary file field`,
        )
      } else {
        const media = operation.requestBody?.content['application/json']
        t.ok(media?.example, `${name}: request example`)
      }
    }
  }
  t.same([...operationIds].sort(), Object.keys(statuses).sort(), 'every operation, and no other')
})

t.test('Swagger UI is served at /docs', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/docs/' })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'text/html; charset=utf-8')
  t.equal(/<title>(.*)<\/title>/.exec(res.body)?.[1], 'Swagger UI')
  t.same(
    [...res.body.matchAll(/<script src="([^"]+)"/g)].map((match) => match[1]),
    ['./static/swagger-ui-bundle.js', './static/swagger-ui-standalone-preset.js', './static/swagger-initializer.js'],
    'the page loads Swagger UI and its initializer',
  )
  const initializer = await app.inject({ url: '/docs/static/swagger-initializer.js' })
  t.equal(initializer.statusCode, 200)
  const served = await app.inject({ url: '/docs/json', headers: { host: 'crm.internal:8080' } })
  t.same(
    served.json(),
    { ...app.swagger(), servers: [{ url: '/', description: 'This server' }] },
    'Swagger UI reads the same document, with the server that served it to try it on (not one the Host header names)',
  )
})

t.test(
  'Redocly lint (redocly.yaml: the strict recommended rules and more) finds no error and no warning',
  async (t) => {
    const redocly = runProcess(
      t,
      join(root, 'node_modules/.bin/redocly'),
      ['lint', 'openapi.json', '--format', 'json'],
      {
        HOME: tempFolder(t, 'redocly'),
        REDOCLY_TELEMETRY: 'off',
        REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
        NO_COLOR: '1',
      },
    )
    t.same(await redocly.ended, { code: 0, signal: null }, 'redocly lint passes')
    const [stdout, stderr] = [redocly.stdout(), redocly.stderr()]
    const report = JSON.parse(stdout) as {
      totals: Record<string, number>
      problems: { ruleId: string; message: string }[]
    }
    t.comment(
      `redocly lint: ${JSON.stringify(report.totals)}; ${/openapi\.json: validated in \d+ms/.exec(stderr)?.[0] ?? ''}`,
    )
    t.same(
      report.problems.map((p) => `${p.ruleId}: ${p.message}`),
      [],
      'no problems',
    )
    t.same(report.totals, { errors: 0, warnings: 0, ignored: 0 })
  },
)

t.test('a response that breaks the document is caught: status, media type, body', async (t) => {
  const customer = {
    id: 1,
    name: 'Ada Lovelace',
    email: 'ada@example.com',
    address: '12 St James Square, London',
    phone: null,
    optphone: false,
    optemail: false,
    optchat: false,
    status: 'active',
    revenue: 0,
    created: '2026-11-29T15:44:42.123Z',
    updated: '2026-11-29T15:44:42.123Z',
  }
  const json = 'application/json; charset=utf-8'
  const body = JSON.stringify(customer)
  t.equal(
    undocumented('GET', '/api/get/customer?id=1', { status: 200, contentType: json, body }),
    undefined,
    'as documented',
  )
  t.equal(
    undocumented('GET', '/docs/', { status: 200, contentType: 'text/html', body: '' }),
    undefined,
    'not an operation',
  )
  t.equal(
    undocumented('GET', '/api/get/customer', { status: 201, contentType: json, body }),
    'getCustomer (GET /api/get/customer) answered 201, a status its document does not list',
  )
  t.equal(
    undocumented('GET', '/api/get/customer', { status: 200, contentType: 'text/plain', body }),
    'getCustomer (GET /api/get/customer) answered 200 as text/plain, not application/json',
  )
  t.equal(
    undocumented('GET', '/api/get/customer', { status: 200, contentType: json, body: '{' }),
    'getCustomer (GET /api/get/customer) answered 200 with a body that is not JSON: {',
  )
  const negative = JSON.stringify({ ...customer, revenue: -1 })
  t.equal(
    undocumented('GET', '/api/get/customer', { status: 200, contentType: json, body: negative }),
    'getCustomer (GET /api/get/customer) answered 200 with a body that does not match its schema: ' +
      `data/revenue must be >= 0, data must be array, data must match a schema in anyOf\n${negative}`,
  )
  t.equal(
    undocumented('POST', '/api/add/customer', { status: 409, contentType: json, body: '{}' }),
    'addCustomer (POST /api/add/customer) answered 409 as application/json, not application/problem+json',
  )
  t.equal(
    undocumented('POST', '/api/add/customer', {
      status: 409,
      contentType: 'application/problem+json',
      body: '{"status":409}',
    }),
    'addCustomer (POST /api/add/customer) answered 409 with a body that does not match its schema: ' +
      "data must have required property 'type', data must have required property 'title', " +
      "data must have required property 'detail', data must have required property 'instance'\n" +
      '{"status":409}',
  )
})

t.test('every pattern means the same with and without the `u` flag (Swagger UI checks forms without it)', async (t) => {
  const document = JSON.parse(readFileSync(new URL('../openapi.json', import.meta.url), 'utf8'))
  const patterns = new Set<string>()
  JSON.stringify(document, (key, value) => {
    if (key === 'pattern') patterns.add(value)
    return value
  })
  t.equal(
    patterns.size,
    7,
    'one-line text, multi-line text, dates, Idempotency-Key, event types, a webhook type and Last-Event-ID',
  )
  const samples = [
    'customer.created,product.*',
    'idem-\u00e9',
    '42',
    'Ada',
    'Zoë 😀',
    'a\tb',
    'a\nb',
    ' ',
    '',
    'a\u0085',
    '\ud800',
    'x\udc00',
    '\ud83d\ude00\ud800',
    '\ufffe',
    '2024-02-29',
    '1899-12-31',
  ]
  for (const pattern of patterns) {
    for (const sample of samples) {
      t.equal(
        new RegExp(pattern).test(sample),
        new RegExp(pattern, 'u').test(sample),
        `${pattern} on ${JSON.stringify(sample)}`,
      )
    }
  }
})
