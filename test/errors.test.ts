// The error model: every failure is problem+json, with clear words and nothing internal.
import t from 'tap'
import { JSON_BODY_LIMIT } from '../src/app.js'
import { build, client, customerRecord, newCustomer, PROBLEM_JSON, problemBody } from './helper.js'

t.test('malformed JSON is 400 and stores nothing', async (t) => {
  const app = await build(t)
  const res = await client(app).post('/api/add/customer', undefined, { payload: '{"name": "Ada",' })
  t.equal(res.status, 400)
  t.equal(res.headers['content-type'], PROBLEM_JSON)
  t.same(res.body, {
    instance: `urn:request:${String(res.headers['x-request-id'])}`,
    type: 'about:blank',
    title: 'Bad Request',
    status: 400,
    detail: 'The request body is not valid JSON.',
  })
  t.same(await app.db.selectFrom('customers').selectAll().execute(), [])
})

t.test('an error about the whole body is (body), never the name of a field', async (t) => {
  const app = await build(t)
  const api = client(app)
  const ada = (await api.post('/api/add/customer', newCustomer())).body
  const whole = await api.post('/api/add/brand/feedback', [1])
  t.same(whole.body.errors, [{ field: '(body)', message: 'must be object' }])
  const field = await api.post('/api/add/brand/feedback', { customerid: ada.id, heading: 'h', body: 5 })
  t.same(field.body.errors, [{ field: 'body', message: 'must be string' }])
})

t.test('an empty JSON body on POST is 400', async (t) => {
  const app = await build(t)
  const res = await client(app).post('/api/add/customer', undefined, { payload: '' })
  t.equal(res.status, 400)
  t.same(res.body, problemBody(res, 400, 'The request body is empty, but its Content-Type says JSON.'))
})

t.test('a JSON body with __proto__ is refused', async (t) => {
  const app = await build(t)
  const payload = JSON.stringify(newCustomer()).replace('{', '{"__proto__": {"status": "active"},')
  const res = await client(app).post('/api/add/customer', undefined, { payload })
  t.equal(res.status, 400)
  t.equal(res.headers['content-type'], PROBLEM_JSON)
  t.same(await app.db.selectFrom('customers').selectAll().execute(), [])
})

t.test('a body over the limit is 413 and stores nothing', async (t) => {
  const app = await build(t)
  const body = newCustomer({ address: 'x'.repeat(JSON_BODY_LIMIT) })
  const res = await client(app).post('/api/add/customer', body)
  t.equal(res.status, 413)
  t.equal(res.headers['content-type'], PROBLEM_JSON)
  t.same(res.body, {
    instance: `urn:request:${String(res.headers['x-request-id'])}`,
    type: 'about:blank',
    title: 'Payload Too Large',
    status: 413,
    detail: `The request body is larger than the limit of ${JSON_BODY_LIMIT} bytes.`,
  })
  t.same(await app.db.selectFrom('customers').selectAll().execute(), [])
  const get = await client(app).get('/api/get/customer', { body: { name: 'x'.repeat(JSON_BODY_LIMIT) } })
  t.equal(get.status, 413, 'a GET body has the same limit')
})

t.test('a body that is not JSON is 415', async (t) => {
  const app = await build(t)
  const res = await client(app).post('/api/add/customer', undefined, {
    payload: 'name=Ada',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  })
  t.equal(res.status, 415)
  t.equal(res.headers['content-type'], PROBLEM_JSON)
  t.same(
    res.body,
    problemBody(
      res,
      415,
      "The request body's Content-Type (application/x-www-form-urlencoded) is not supported; send application/json.",
    ),
  )
})

t.test('a text/plain body is 415, even when it holds JSON', async (t) => {
  const app = await build(t)
  const res = await client(app).post('/api/add/customer', undefined, {
    payload: JSON.stringify(newCustomer()),
    headers: { 'content-type': 'text/plain' },
  })
  t.equal(res.status, 415)
  t.same(
    res.body,
    problemBody(res, 415, "The request body's Content-Type (text/plain) is not supported; send application/json."),
  )
  t.same(await app.db.selectFrom('customers').selectAll().execute(), [])
})

t.test('a query parameter on a POST route is refused, not ignored', async (t) => {
  const app = await build(t)
  const api = client(app)
  const ada = (await api.post('/api/add/customer', newCustomer())).body
  const res = await api.post('/api/delete/customer?id=1', undefined)
  t.equal(res.status, 400)
  t.same(res.body.errors, [{ field: 'id', message: 'must be sent in the JSON body, not in the query string' }])
  const extra = await api.post('/api/delete/customer?force=1', { id: ada.id })
  t.equal(extra.status, 400)
  t.same(extra.body.errors, [{ field: 'force', message: 'must be sent in the JSON body, not in the query string' }])
  t.equal((await app.db.selectFrom('customers').selectAll().execute()).length, 1, 'nothing was deleted')
})

t.test('an unknown route is 404 problem+json', async (t) => {
  const app = await build(t)
  const res = await client(app).get('/api/get/customers?id=1')
  t.equal(res.status, 404)
  t.equal(res.headers['content-type'], PROBLEM_JSON)
  t.same(res.body, {
    instance: `urn:request:${String(res.headers['x-request-id'])}`,
    type: 'about:blank',
    title: 'Not Found',
    status: 404,
    detail: 'No route matches GET /api/get/customers.',
  })
  const wrongMethod = await client(app).post('/api/get/customer', { id: 1 })
  t.equal(wrongMethod.status, 404)
  t.same(wrongMethod.body, problemBody(wrongMethod, 404, 'No route matches POST /api/get/customer.'))
})

t.test('a 500 shows nothing internal and is logged with the request id', async (t) => {
  const app = await build(t)
  await app.db.destroy()
  const res = await client(app).get('/api/get/customer', { query: { id: 1 } })
  t.equal(res.status, 500)
  t.equal(res.headers['content-type'], PROBLEM_JSON)
  const logged = app.logs().find((line) => line.level === 50)
  t.ok(logged, 'an error line is logged')
  const err = logged?.err as { stack?: string } | undefined
  t.same(
    logged,
    {
      level: 50,
      time: logged?.time,
      pid: logged?.pid,
      hostname: logged?.hostname,
      reqId: res.headers['x-request-id'],
      key: 'API_KEY',
      err: { type: 'Error', message: 'driver has already been destroyed', stack: err?.stack },
      msg: 'request failed',
    },
    'the error, with the request id',
  )
  t.match(err?.stack, /^Error: driver has already been destroyed\n {4}at /, 'and where it was raised')
  t.same(res.body, {
    instance: `urn:request:${String(res.headers['x-request-id'])}`,
    type: 'about:blank',
    title: 'Internal Server Error',
    status: 500,
    detail: `An unexpected error occurred. It has been logged with request id ${String(logged!.reqId)}.`,
  })
  t.notMatch(res.text, /select|sqlite|driver|at .*\.js/i, 'no SQL, driver message or stack trace')
})

t.test('GET parameters from the query string or a JSON body, through one mechanism', async (t) => {
  const app = await build(t)
  const api = client(app)
  const ada = (await api.post('/api/add/customer', newCustomer())).body

  t.test('a JSON body that is not an object is 400', async (t) => {
    for (const payload of ['[1]', '"id"', '5']) {
      const res = await api.get('/api/get/customer', { payload })
      t.equal(res.status, 400, payload)
      t.same(res.body.errors, [{ field: '(body)', message: 'must be a JSON object' }])
    }
  })

  t.test('a name given in both places is 400', async (t) => {
    const res = await api.get('/api/get/customer', { query: { id: ada.id }, body: { id: ada.id } })
    t.equal(res.status, 400)
    t.same(res.body.errors, [{ field: 'id', message: 'is given both in the query string and in the body' }])
  })

  t.test('query string and body parameters combine', async (t) => {
    const res = await api.get('/api/get/customer', { query: { name: 'ada lovelace' }, body: { limit: 1 } })
    t.equal(res.status, 200)
    t.same(res.body, [ada])
  })

  t.test('an empty body with a JSON Content-Type is no body on GET and DELETE', async (t) => {
    const res = await api.get('/api/get/customer', { query: { id: ada.id }, payload: '' })
    t.equal(res.status, 200)
    t.same(res.body, ada)
    const del = await api.delete('/api/delete/customer', { query: { id: 999 }, payload: '' })
    t.equal(del.status, 404)
  })

  t.test('a GET body with another Content-Type is 415; an empty one is no body', async (t) => {
    for (const type of ['application/x-www-form-urlencoded', 'text/plain']) {
      const res = await api.get('/api/get/customer', { payload: 'id=1', headers: { 'content-type': type } })
      t.equal(res.status, 415, type)
      const empty = await api.get('/api/get/customer', {
        query: { id: ada.id },
        payload: '',
        headers: { 'content-type': type },
      })
      t.equal(empty.status, 200, `empty ${type}`)
      t.same(empty.body, ada)
    }
  })

  t.test('a query parameter given twice is 400 saying so', async (t) => {
    const res = await api.get('/api/get/customer?id=1&id=2')
    t.equal(res.status, 400)
    t.same(res.body.errors, [{ field: 'id', message: 'is given more than once' }])
  })

  t.test('malformed JSON in a GET body is 400', async (t) => {
    const res = await api.get('/api/get/customer', { payload: '{"id": 1' })
    t.equal(res.status, 400)
    t.equal(res.body.detail, 'The request body is not valid JSON.')
  })
})

t.test('query values are decoded as UTF-8; escapes that are not UTF-8 are refused as text, not kept', async (t) => {
  const app = await build(t)
  const api = client(app)
  await api.post('/api/add/customer', newCustomer({ name: 'Zoë Ada' }))
  const plus = await app.inject({ url: '/api/get/customer?name=zo%C3%AB+ada' })
  const [zoe] = plus.json()
  t.same(plus.json(), [customerRecord(1, zoe?.created, { name: 'Zoë Ada' })], '%C3%AB is ë and + is a space')
  for (const broken of ['%FF', 'Grace%01%ED%A0%80', '%00%FF', 'a%E2%82']) {
    const res = await app.inject({ url: `/api/get/customer?name=${broken}` })
    t.equal(res.statusCode, 400, `${broken}: 400`)
    t.same(res.json().errors, [
      {
        field: 'name',
        message:
          'must be text on one line with a visible character, without control characters or text direction controls',
      },
    ])
  }
  const exported = await app.inject({
    url: '/api/customer/export?name=%FF&surname=Hopper&email=grace@example.com&format=csv',
  })
  t.equal(exported.statusCode, 400, 'an export by a requester whose name is broken text is refused')
  t.same(await app.db.selectFrom('export_records').selectAll().execute(), [], 'and not recorded')
})
