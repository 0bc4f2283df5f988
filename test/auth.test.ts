// Who gets in: every operation refuses a missing or bad key with 401 and a weak role with 403;
// Bearer and X-API-Key everywhere, HTTP Basic only on the upload forms and only from this site.
import t from 'tap'
import document from '../openapi.json' with { type: 'json' }
import type { Role } from '../schemas/key.js'
import { ROLES } from '../src/plugins/auth.js'
import { createKey, revokeKey } from '../src/services/keys.js'
import { build, formData, PROBLEM_JSON, problemBody, TEST_KEY, type TestApp } from './helper.js'

interface Operation {
  operationId: string
  description: string
}
const operations = Object.entries(document.paths as unknown as Record<string, Record<string, Operation>>).flatMap(
  ([path, methods]) => Object.entries(methods).map(([method, operation]) => ({ method, path, ...operation })),
)

/** The role an operation's description says it needs (the route's own `role`, put there by the document). */
const roleOf = (operation: Operation) => /the \*\*(\w+)\*\* role/.exec(operation.description)?.[1] as Role

const bearer = (key: string) => ({ authorization: `Bearer ${key}` })
const basic = (key: string, user = 'office') => ({
  authorization: `Basic ${Buffer.from(`${user}:${key}`).toString('base64')}`,
})

/** One key of each role, made through the service the command line uses. */
async function keysOf(app: TestApp): Promise<Record<Role, string>> {
  const keys = {} as Record<Role, string>
  for (const role of ROLES) keys[role] = (await createKey(app.db, `${role} key`, role)).key
  return keys
}

/**
 * What each operation answers a key it admits when sent without parameters: most refuse the
 * missing input (400), the uploads a body that is not a form (415), the lists need nothing (200).
 */
const ADMITTED: Record<string, number> = {
  uploadCustomers: 415,
  uploadProducts: 415,
  listExportRecords: 200,
  listKeys: 200,
  getEvents: 200,
  listWebhooks: 200,
}
const admittedStatus = (operationId: string) => ADMITTED[operationId] ?? 400

/**
 * Sends `operation` with `headers` and no parameters (the key is checked before anything else). The
 * event stream, which would stay open, gets a `Last-Event-ID` it refuses (400) once the key is admitted.
 */
const call = (app: TestApp, operation: { method: string; path: string }, headers: Record<string, string>) =>
  app.injectAs({
    method: operation.method.toUpperCase() as 'GET',
    url: operation.path,
    headers: operation.path === '/api/stream/events' ? { ...headers, 'last-event-id': 'none' } : headers,
  })

t.test(
  'every operation names its role: reader for lookups, editor for changes and uploads, admin for exports',
  async (t) => {
    const roles = Object.fromEntries(operations.map((operation) => [operation.operationId, roleOf(operation)]))
    t.same(roles, {
      addCustomer: 'editor',
      getCustomer: 'reader',
      updateCustomer: 'editor',
      deleteCustomer: 'editor',
      deleteCustomerViaGet: 'editor',
      deleteCustomerViaPost: 'editor',
      addProduct: 'editor',
      getProduct: 'reader',
      updateProduct: 'editor',
      deleteProduct: 'editor',
      addBrandFeedback: 'editor',
      addProductFeedback: 'editor',
      getBrandFeedback: 'reader',
      getProductFeedback: 'reader',
      openTicket: 'editor',
      closeTicket: 'editor',
      getTicket: 'reader',
      uploadCustomers: 'editor',
      uploadProducts: 'editor',
      getUploadReport: 'reader',
      exportCustomers: 'admin',
      exportProducts: 'admin',
      listExportRecords: 'admin',
      addKey: 'admin',
      listKeys: 'admin',
      revokeKey: 'admin',
      getEvents: 'reader',
      streamEvents: 'reader',
      addWebhook: 'admin',
      listWebhooks: 'admin',
      updateWebhook: 'admin',
      deleteWebhook: 'admin',
      rotateWebhookSecret: 'admin',
      getWebhookDeliveries: 'admin',
      redeliverWebhook: 'admin',
    })
  },
)

t.test('without a key, with a bad key or a revoked one: 401 with a Bearer challenge, on every operation', async (t) => {
  const app = await build(t)
  const revoked = await createKey(app.db, 'old', 'admin')
  await revokeKey(app.db, revoked.prefix)
  const noKey = 'This request needs an API key: send Authorization: Bearer <key>.'
  const badKey = 'The API key is not valid, or it has been revoked.'
  const cases: [string, Record<string, string>, string][] = [
    ['no key', {}, noKey],
    ['an unknown key', bearer('crm_not-a-key-that-exists-anywhere-at-all'), badKey],
    ['an unknown key in X-API-Key', { 'x-api-key': 'crm_nope' }, badKey],
    ['a revoked key', bearer(revoked.key), badKey],
    ['an empty Bearer', { authorization: 'Bearer' }, noKey],
    ['another scheme', { authorization: `Token ${TEST_KEY}` }, noKey],
  ]
  for (const operation of operations) {
    for (const [what, headers, detail] of cases) {
      const res = await call(app, operation, headers)
      t.equal(res.statusCode, 401, `${operation.operationId}, ${what}: 401`)
      t.equal(res.headers['content-type'], PROBLEM_JSON)
      t.same(res.json(), problemBody(res, 401, detail))
      t.equal(
        res.headers['www-authenticate'],
        'Bearer realm="CRM API"',
        `${operation.operationId}, ${what}: a Bearer challenge`,
      )
    }
  }
})

t.test(
  'an Authorization header with anything after the key: 401 saying it is malformed, on every operation',
  async (t) => {
    const app = await build(t)
    const { key } = await createKey(app.db, 'admin', 'admin')
    const malformed =
      'The Authorization header is malformed: send the scheme and the key alone, as Authorization: Bearer <key>.'
    const basicJunk = `${basic(key).authorization} junk`
    const cases: [string, Record<string, string>][] = [
      ['API_KEY and a word after it', { authorization: `Bearer ${TEST_KEY} junk` }],
      ['a stored key and a word after it', { authorization: `Bearer ${key} junk` }],
      ['a second key after the first', { authorization: `Bearer ${key} ${TEST_KEY}` }],
      ['a Basic login and a word after it', { authorization: basicJunk }],
      ['a malformed Bearer beside a good X-API-Key', { authorization: `Bearer ${key} junk`, 'x-api-key': key }],
    ]
    for (const operation of operations) {
      for (const [what, headers] of cases) {
        const res = await call(app, operation, headers)
        t.equal(res.statusCode, 401, `${operation.operationId}, ${what}: 401`)
        t.equal(res.headers['content-type'], PROBLEM_JSON)
        t.same(res.json(), problemBody(res, 401, malformed), `${operation.operationId}, ${what}: malformed`)
        t.equal(res.headers['www-authenticate'], 'Bearer realm="CRM API"')
      }
    }
    const spaced = await app.injectAs({ url: '/api/get/keys', headers: { authorization: `  bearer   ${key}  ` } })
    t.equal(spaced.statusCode, 200, 'spaces around the key, and the scheme in any case, are still well formed')
  },
)

t.test(
  'a role below the one an operation needs: 403; the role it needs or a higher one gets past the check',
  async (t) => {
    const app = await build(t)
    const keys = await keysOf(app)
    for (const operation of operations) {
      const needed = roleOf(operation)
      for (const role of ROLES) {
        for (const headers of [bearer(keys[role]), { 'x-api-key': keys[role] }]) {
          const res = await call(app, operation, headers)
          const enough = ROLES.indexOf(role) >= ROLES.indexOf(needed)
          if (enough) {
            t.equal(
              res.statusCode,
              admittedStatus(operation.operationId),
              `${operation.operationId} as ${role}: admitted, and answered as without parameters`,
            )
          } else {
            t.equal(res.statusCode, 403, `${operation.operationId} as ${role}: 403`)
            t.same(
              res.json(),
              problemBody(
                res,
                403,
                `This request needs the ${needed} role; the key ${keys[role].slice(0, 12)} has the ${role} role.`,
              ),
            )
          }
        }
      }
    }
  },
)

t.test('API_KEY is an admin key; without it set, only stored keys get in', async (t) => {
  const app = await build(t, { API_KEY: undefined })
  t.equal((await app.injectAs({ url: '/api/export/records', headers: bearer(TEST_KEY) })).statusCode, 401)
  const { key } = await createKey(app.db, 'admin', 'admin')
  t.equal((await app.injectAs({ url: '/api/export/records', headers: bearer(key) })).statusCode, 200)
  const withKey = await build(t)
  t.equal((await withKey.injectAs({ url: '/api/export/records', headers: bearer(TEST_KEY) })).statusCode, 200)
})

t.test(
  'once a key is admitted, every log line of its request names the key by its prefix, never the key',
  async (t) => {
    const app = await build(t)
    const { key, prefix } = await createKey(app.db, 'office', 'reader')
    const stored = await app.injectAs({ url: '/api/get/customer?id=1', headers: bearer(key) })
    const configured = await app.injectAs({ url: '/api/get/customer?id=1', headers: { 'x-api-key': TEST_KEY } })
    const refused = await app.injectAs({ url: '/api/get/customer?id=1', headers: bearer('crm_not-a-key') })
    t.same(
      [stored, configured, refused].map((res) => res.statusCode),
      [404, 404, 401],
    )
    /** The lines of a request, without what changes from run to run. */
    const linesOf = (res: { headers: Record<string, unknown> }) =>
      app
        .logs()
        .filter((line) => line.reqId === res.headers['x-request-id'])
        .map(({ time: _time, pid: _pid, hostname: _hostname, responseTime: _responseTime, req: _req, ...line }) => line)
    const completed = { level: 30, res: { statusCode: 404 }, msg: 'request completed' }
    t.same(
      linesOf(stored),
      [
        { level: 30, reqId: stored.headers['x-request-id'], msg: 'incoming request' },
        { ...completed, reqId: stored.headers['x-request-id'], key: prefix },
      ],
      'a stored key: its prefix, from the moment it is admitted (the incoming line comes before the key is read)',
    )
    t.same(
      linesOf(configured),
      [
        { level: 30, reqId: configured.headers['x-request-id'], msg: 'incoming request' },
        { ...completed, reqId: configured.headers['x-request-id'], key: 'API_KEY' },
      ],
      'API_KEY: named so, no part of it',
    )
    t.same(
      linesOf(refused),
      [
        { level: 30, reqId: refused.headers['x-request-id'], msg: 'incoming request' },
        { level: 30, reqId: refused.headers['x-request-id'], res: { statusCode: 401 }, msg: 'request completed' },
      ],
      'a key that is not admitted names none',
    )
    const text = JSON.stringify(app.logs())
    t.notMatch(text, key, 'a stored key is not logged')
    t.notMatch(text, TEST_KEY, 'API_KEY is not logged')
  },
)

t.test('the public parts need no key: the page, the docs, the document, health and readiness', async (t) => {
  const app = await build(t)
  for (const url of ['/', '/docs/', '/openapi.json', '/health', '/ready']) {
    t.equal((await app.injectAs({ url })).statusCode, 200, `${url}: 200 without a key`)
  }
})

t.test('HTTP Basic works on the upload forms only, and only from this site', async (t) => {
  const app = await build(t)
  const keys = await keysOf(app)
  const { payload, contentType } = await formData({
    filename: 'c.csv',
    content: 'Ada Lovelace,ada@example.com,London\n',
  })
  const post = (headers: Record<string, string>) =>
    app.injectAs({
      method: 'POST',
      url: '/upload/customers',
      payload,
      headers: { 'content-type': contentType, accept: 'text/html', host: 'crm.local', ...headers },
    })

  const challenged = await post({})
  t.equal(challenged.statusCode, 401, 'a browser without a login is challenged')
  t.equal(
    challenged.headers['www-authenticate'],
    'Basic realm="CRM API", charset="UTF-8"',
    'with Basic, for its login prompt',
  )
  t.equal(challenged.headers['content-type'], 'text/html; charset=utf-8', 'and reads the refusal as a page')

  const reader = await post({ ...basic(keys.reader), 'sec-fetch-site': 'same-origin' })
  t.equal(reader.statusCode, 403, 'a reader may not upload')
  const sameSite = await post({ ...basic(keys.editor), 'sec-fetch-site': 'same-origin', origin: 'http://crm.local' })
  t.equal(sameSite.statusCode, 201, 'an editor posting from the page uploads')
  t.equal(/<title>(.*)<\/title>/.exec(sameSite.body)?.[1], 'Upload report 1 · CRM API')
  t.equal(
    /<main>\n([\s\S]*)<\/main>/.exec(sameSite.body)?.[1],
    [
      '<h1>Upload of c.csv</h1>',
      '<dl>',
      '<dt>Kind</dt><dd>Customers</dd>',
      '<dt>Rows read</dt><dd>1</dd>',
      '<dt>Stored as new</dt><dd>1</dd>',
      '<dt>Updated</dt><dd>0</dd>',
      '<dt>Skipped</dt><dd>0</dd>',
      '</dl>',
      '<p>No row was skipped.</p>',
      '<p>Report number 1. <a href="/">Upload another file</a></p>',
      '',
    ].join('\n'),
    'the report page: one row read and stored',
  )

  for (const [what, headers] of [
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site', { 'sec-fetch-site': 'same-site' }],
    ['another Origin', { origin: 'https://evil.example' }],
  ] as const) {
    const res = await post({ ...basic(keys.editor), ...headers })
    t.equal(res.statusCode, 403, `a form post with ${what} cannot use the login`)
  }
  const apiClient = await app.injectAs({ url: '/api/get/customer?id=1', headers: basic(keys.admin) })
  t.equal(apiClient.statusCode, 401, 'Basic is not accepted by the JSON API')
  t.equal(
    apiClient.headers['www-authenticate'],
    'Bearer realm="CRM API"',
    'whose challenge is Bearer, never a browser dialog',
  )
  const json = await app.injectAs({
    method: 'POST',
    url: '/upload/customers',
    payload,
    headers: { 'content-type': contentType },
  })
  t.equal(json.headers['www-authenticate'], 'Bearer realm="CRM API"', 'an API client uploading gets a Bearer challenge')
  t.equal(
    await app.db
      .selectFrom('customers')
      .select(({ fn }) => fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow()
      .then((r) => Number(r.n)),
    1,
    'one upload stored',
  )
})

t.test('X-API-Key still serves when a proxy has put an Authorization of its own', async (t) => {
  const app = await build(t)
  const res = await app.injectAs({
    url: '/api/get/customer?id=1',
    headers: { authorization: 'Token proxy', 'x-api-key': TEST_KEY },
  })
  t.equal(res.statusCode, 404, 'admitted by X-API-Key')
})

t.test("another site's refused form posts do not use up the rate limit of the login they carry", async (t) => {
  const app = await build(t, { RATE_LIMIT_PER_MINUTE: 2 })
  const { key } = await createKey(app.db, 'office', 'editor')
  const { payload, contentType } = await formData({
    filename: 'c.csv',
    content: 'Ada Lovelace,ada@example.com,London\n',
  })
  for (let i = 0; i < 3; i++) {
    const res = await app.injectAs({
      method: 'POST',
      url: '/upload/customers',
      payload,
      headers: { 'content-type': contentType, 'sec-fetch-site': 'cross-site', ...basic(key) },
      remoteAddress: '203.0.113.9',
    })
    // Refused for coming from another site, and counted against that address: the third is over its limit.
    t.equal(res.statusCode, i < 2 ? 403 : 429, `cross-site post ${i + 1}: refused (${res.statusCode})`)
  }
  const own = await app.injectAs({ url: '/upload/report?id=1', headers: { 'x-api-key': key } })
  t.equal(own.statusCode, 404, "the key's own requests are not limited by them")
})
