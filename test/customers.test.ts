// The customer endpoints, rule by rule: status, body, and what is stored afterwards.
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import {
  build,
  client,
  customerRecord,
  insertProduct,
  newCustomer,
  PROBLEM_JSON,
  problemBody,
  type TestApp,
} from './helper.js'

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

const storedCustomers = (app: TestApp) => app.db.selectFrom('customers').selectAll().orderBy('id').execute()

/**
 * The row stored for a customer added as `newCustomer(overrides)` under `id` at `time`, with the
 * keys its lookups use (name and e-mail address in lower case) and its flags as 0 or 1.
 */
function customerRow(id: number, time: string, overrides: Record<string, unknown> = {}) {
  const { name, email, ...rest } = newCustomer(overrides) as Record<string, unknown> & { name: string; email: string }
  return {
    id,
    name,
    name_key: name.toLowerCase(),
    email,
    email_key: email.toLowerCase(),
    phone: null,
    optphone: 0,
    optemail: 0,
    optchat: 0,
    ...rest,
    created: time,
    updated: time,
  }
}

/** The stored rows are exactly as many as `expected`, and exactly those. */
async function sameStored(t: Test, app: TestApp, expected: Record<string, unknown>[]) {
  const rows = await storedCustomers(app)
  t.equal(rows.length, expected.length, 'number of stored customers')
  t.same(rows, expected)
}

t.test('add a customer', async (t) => {
  t.test('201 with the whole record, defaults filled in, and the row stored', async (t) => {
    const app = await build(t)
    const res = await client(app).post('/api/add/customer', newCustomer())
    t.equal(res.status, 201)
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
    t.same(Object.keys(res.body).sort(), [
      'address',
      'created',
      'email',
      'id',
      'name',
      'optchat',
      'optemail',
      'optphone',
      'phone',
      'revenue',
      'status',
      'updated',
    ])
    t.same(res.body, customerRecord(1, res.body.created))
    t.match(res.body.created, ISO)
    t.equal(res.body.updated, res.body.created)
    await sameStored(t, app, [
      {
        id: 1,
        name: 'Ada Lovelace',
        name_key: 'ada lovelace',
        email: 'ada@example.com',
        email_key: 'ada@example.com',
        address: '12 St James Square, London',
        phone: null,
        optphone: 0,
        optemail: 0,
        optchat: 0,
        status: 'active',
        created: res.body.created,
        updated: res.body.created,
      },
    ])
  })

  t.test('every optional field, with booleans as JSON booleans or as "true"/"false"', async (t) => {
    const app = await build(t)
    const res = await client(app).post(
      '/api/add/customer',
      newCustomer({
        phone: '+44 20 7946 0958',
        optphone: true,
        optemail: 'true',
        optchat: 'false',
        status: 'suspended',
      }),
    )
    t.equal(res.status, 201)
    const given = { phone: '+44 20 7946 0958', status: 'suspended' }
    t.same(res.body, customerRecord(1, res.body.created, { ...given, optphone: true, optemail: true, optchat: false }))
    await sameStored(t, app, [customerRow(1, res.body.created, { ...given, optphone: 1, optemail: 1, optchat: 0 })])
  })

  t.test('timestamps are the time of the request, in UTC', async (t) => {
    const app = await build(t)
    const before = Date.now()
    const first = await client(app).post('/api/add/customer', newCustomer())
    await sleep(5)
    const second = await client(app).post('/api/add/customer', newCustomer({ email: 'b@example.com' }))
    t.ok(Date.parse(first.body.created) >= before - 1 && Date.parse(first.body.created) <= Date.now())
    t.ok(Date.parse(second.body.created) > Date.parse(first.body.created), 'each record gets its own time')
  })

  t.test('400 naming each missing field; nothing stored', async (t) => {
    const app = await build(t)
    const res = await client(app).post('/api/add/customer', {})
    t.equal(res.status, 400)
    t.equal(res.headers['content-type'], PROBLEM_JSON)
    t.same(
      res.body,
      problemBody(
        res,
        400,
        'The request has 4 invalid fields: name is required; email is required; address is required; status is required.',
        ['name', 'email', 'address', 'status'].map((field) => ({ field, message: 'is required' })),
      ),
    )
    t.same(await storedCustomers(app), [])
  })

  t.test('400 for each wrongly typed or invalid field, all named at once; nothing stored', async (t) => {
    const app = await build(t)
    const res = await client(app).post('/api/add/customer', {
      name: 5,
      email: 'not-an-address',
      address: { street: 'x' },
      phone: 123,
      optphone: 1,
      optemail: 'maybe',
      optchat: null,
      status: 'gone',
    })
    t.equal(res.status, 400)
    const byField = Object.fromEntries(
      res.body.errors.map((e: { field: string; message: string }) => [e.field, e.message]),
    )
    t.same(byField, {
      name: 'must be string',
      email: 'must be an e-mail address',
      address: 'must be string',
      phone: 'must be string or null',
      optphone: 'must be boolean',
      optemail: 'must be boolean',
      optchat: 'must be boolean',
      status: 'must be equal to one of the allowed values: active, inactive, suspended',
    })
    t.equal(res.body.errors.length, 8, 'each field once')
    t.same(await storedCustomers(app), [])
  })

  t.test('null is not a value for a required field', async (t) => {
    const app = await build(t)
    const res = await client(app).post('/api/add/customer', newCustomer({ name: null }))
    t.equal(res.status, 400)
    t.same(res.body.errors, [{ field: 'name', message: 'must be string' }])
    t.same(await storedCustomers(app), [])
  })

  t.test('empty and over-long strings are refused', async (t) => {
    const app = await build(t)
    const api = client(app)
    const empty = await api.post('/api/add/customer', newCustomer({ name: '' }))
    t.equal(empty.status, 400)
    t.same(empty.body.errors, [
      {
        field: 'name',
        message:
          'must be text on one line with a visible character, without control characters or text direction controls',
      },
    ])
    const long = await api.post('/api/add/customer', newCustomer({ address: 'x'.repeat(501) }))
    t.equal(long.status, 400)
    t.same(long.body.errors, [{ field: 'address', message: 'must NOT have more than 500 characters' }])
    t.same(await storedCustomers(app), [])
  })

  t.test('blank text, control characters and broken UTF-16 are refused', async (t) => {
    const app = await build(t)
    const api = client(app)
    const oneLine =
      'must be text on one line with a visible character, without control characters or text direction controls'
    const cases: [Record<string, unknown>, string, string][] = [
      [{ name: '   ' }, 'name', oneLine],
      [{ name: 'Ada\u0000' }, 'name', oneLine],
      [{ name: 'Ada\nLovelace' }, 'name', oneLine],
      [{ name: 'Ada\ud800' }, 'name', oneLine],
      [{ phone: ' ' }, 'phone', oneLine],
      [
        { address: '\n\t' },
        'address',
        'must be text with a visible character, without control characters or text direction controls (tabs and line breaks as CR or LF are allowed)',
      ],
      [
        { address: 'x\u0007' },
        'address',
        'must be text with a visible character, without control characters or text direction controls (tabs and line breaks as CR or LF are allowed)',
      ],
    ]
    for (const [fields, field, message] of cases) {
      const res = await api.post('/api/add/customer', newCustomer(fields))
      t.equal(res.status, 400, JSON.stringify(fields))
      t.same(res.body.errors, [{ field, message }], JSON.stringify(fields))
    }
    t.same(await storedCustomers(app), [])
    const multiline = await api.post(
      '/api/add/customer',
      newCustomer({ address: '12 St James Square\nLondon', name: 'Zoë 李' }),
    )
    t.equal(multiline.status, 201, 'an address may span lines; names may use any script')
    t.same(
      multiline.body,
      customerRecord(1, multiline.body.created, { address: '12 St James Square\nLondon', name: 'Zoë 李' }),
    )
  })

  t.test('an unknown field is refused by name, not dropped', async (t) => {
    const app = await build(t)
    const { emial, ...rest } = { ...newCustomer(), emial: 'ada@example.com' }
    const res = await client(app).post('/api/add/customer', { ...rest, emial })
    t.equal(res.status, 400)
    t.same(res.body.errors, [{ field: 'emial', message: 'is not a known field' }])
    t.same(await storedCustomers(app), [])
  })

  t.test('409 for an e-mail address already used, in any case; the first customer stays as it was', async (t) => {
    const app = await build(t)
    const api = client(app)
    const first = await api.post('/api/add/customer', newCustomer())
    t.equal(first.status, 201)
    const res = await api.post('/api/add/customer', newCustomer({ name: 'Someone Else', email: 'ADA@Example.COM' }))
    t.equal(res.status, 409)
    t.same(
      res.body,
      problemBody(
        res,
        409,
        'A customer with the e-mail address ADA@Example.COM already exists (e-mail addresses ignore case).',
      ),
    )
    await sameStored(t, app, [customerRow(1, first.body.created)])
  })

  t.test('a body that is not an object', async (t) => {
    const app = await build(t)
    const res = await client(app).post('/api/add/customer', [newCustomer()])
    t.equal(res.status, 400)
    t.same(res.body.errors, [{ field: '(body)', message: 'must be object' }])
  })
})

t.test('get a customer', async (t) => {
  const app = await build(t)
  const api = client(app)
  const ada = (await api.post('/api/add/customer', newCustomer())).body
  const elodie = (await api.post('/api/add/customer', newCustomer({ name: 'Élodie Martin', email: 'e@example.com' })))
    .body
  const ada2 = (await api.post('/api/add/customer', newCustomer({ name: 'ADA LOVELACE', email: 'a2@example.com' })))
    .body

  t.test('by id, in the query string or in a JSON body, as a number or a string', async (t) => {
    t.same((await api.get('/api/get/customer', { query: { id: ada.id } })).body, ada)
    t.same((await api.get('/api/get/customer', { body: { id: elodie.id } })).body, elodie)
    t.same((await api.get('/api/get/customer', { body: { id: String(elodie.id) } })).body, elodie)
    const res = await api.get('/api/get/customer', { query: { id: '3' } })
    t.equal(res.status, 200)
    t.same(res.body, ada2)
  })

  t.test('404 for an id nobody has', async (t) => {
    const res = await api.get('/api/get/customer', { query: { id: 99 } })
    t.equal(res.status, 404)
    t.same(res.body, problemBody(res, 404, 'Customer 99 does not exist.'))
  })

  t.test('400 for an id that is not a positive whole number', async (t) => {
    const cases: [string, string][] = [
      ['abc', 'must be integer'],
      ['0', 'must be >= 1'],
      ['-1', 'must be >= 1'],
      ['1.5', 'must be integer'],
      ['', 'must be integer'],
      ['05', 'must be integer'],
    ]
    for (const [id, message] of cases) {
      const res = await api.get('/api/get/customer', { query: { id } })
      t.equal(res.status, 400, `id=${JSON.stringify(id)}`)
      t.equal(res.body.errors[0].field, 'id')
      t.same(res.body.errors, [{ field: 'id', message }], `id=${JSON.stringify(id)}: ${message}`)
    }
    for (const id of [true, null, [1], { id: 1 }, 1.5]) {
      const res = await api.get('/api/get/customer', { body: { id } })
      t.equal(res.status, 400, `body id ${JSON.stringify(id)}`)
      t.equal(res.body.errors[0].field, 'id')
      t.same(res.body.errors, [{ field: 'id', message: 'must be integer' }], `body id ${JSON.stringify(id)}`)
    }
  })

  t.test('by name, ignoring case (also outside ASCII), in id order', async (t) => {
    t.same((await api.get('/api/get/customer', { query: { name: 'ada lovelace' } })).body, [ada, ada2])
    t.same((await api.get('/api/get/customer', { body: { name: 'ÉLODIE MARTIN' } })).body, [elodie])
    const strasse = (await api.post('/api/add/customer', newCustomer({ name: 'Anna Straße', email: 's@example.com' })))
      .body
    t.same((await api.get('/api/get/customer', { query: { name: 'ANNA STRASSE' } })).body, [strasse])
    t.same((await api.get('/api/get/customer', { query: { name: 'anna strasse' } })).body, [strasse])
    await app.db.deleteFrom('customers').where('id', '=', strasse.id).execute()
    const none = await api.get('/api/get/customer', { query: { name: 'Nobody' } })
    t.equal(none.status, 200)
    t.same(none.body, [])
  })

  t.test('lists are paged by limit and offset', async (t) => {
    t.same((await api.get('/api/get/customer', { query: { name: 'Ada Lovelace', limit: 1 } })).body, [ada])
    t.same((await api.get('/api/get/customer', { body: { name: 'Ada Lovelace', limit: 1, offset: 1 } })).body, [ada2])
    t.same((await api.get('/api/get/customer', { query: { name: 'Ada Lovelace', offset: 2 } })).body, [])
    const cases: [Record<string, number | string>, string][] = [
      [{ limit: 0 }, 'must be >= 1'],
      [{ limit: 1001 }, 'must be <= 1000'],
      [{ offset: -1 }, 'must be >= 0'],
      [{ offset: '99999999999999999999' }, 'must be <= 9007199254740991'],
      [{ offset: '9007199254740992' }, 'must be <= 9007199254740991'],
      [{ limit: '1e3' }, 'must be integer'],
    ]
    for (const [query, message] of cases) {
      const res = await api.get('/api/get/customer', { query: { name: 'Ada Lovelace', ...query } })
      t.equal(res.status, 400, JSON.stringify(query))
      t.equal(res.body.errors[0].field, Object.keys(query)[0])
      t.same(res.body.errors, [{ field: Object.keys(query)[0], message }], JSON.stringify(query))
    }
    t.equal((await api.get('/api/get/customer', { query: { name: 'Ada Lovelace', limit: 1000 } })).status, 200)
    const farthest = await api.get('/api/get/customer', {
      query: { name: 'Ada Lovelace', offset: Number.MAX_SAFE_INTEGER },
    })
    t.equal(farthest.status, 200)
    t.same(farthest.body, [])
  })

  t.test('400 with neither id nor name, with both, or with an unknown parameter', async (t) => {
    const neither = await api.get('/api/get/customer')
    t.equal(neither.status, 400)
    t.same(neither.body.errors, [{ field: 'id', message: 'or name is required' }])
    const both = await api.get('/api/get/customer', { query: { id: 1, name: 'Ada Lovelace' } })
    t.equal(both.status, 400)
    t.same(both.body.errors, [{ field: 'id', message: 'and name cannot be given together' }])
    const unknown = await api.get('/api/get/customer', { query: { id: 1, email: 'ada@example.com' } })
    t.equal(unknown.status, 400)
    t.same(unknown.body.errors, [{ field: 'email', message: 'is not a known field' }])
  })
})

t.test('update a customer', async (t) => {
  t.test('every attribute given is applied, together; updated moves, created stays', async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = (await api.post('/api/add/customer', newCustomer())).body
    await sleep(5)
    const changes = {
      name: 'Augusta Ada King',
      email: 'augusta@example.com',
      address: 'Ockham Park, Surrey',
      phone: '01483 000000',
      status: 'inactive',
      optphone: true,
      optemail: 'true',
      optchat: true,
    }
    const res = await api.post('/api/update/customer', { id: String(ada.id), ...changes })
    t.equal(res.status, 200)
    t.same(res.body, {
      ...changes,
      optemail: true,
      id: ada.id,
      created: ada.created,
      updated: res.body.updated,
      revenue: 0,
    })
    t.match(res.body.updated, ISO)
    t.ok(Date.parse(res.body.updated) > Date.parse(ada.updated), 'updated is later')
    t.same((await api.get('/api/get/customer', { query: { id: ada.id } })).body, res.body)
    await sameStored(t, app, [
      {
        ...customerRow(ada.id, ada.created, { ...changes, optphone: 1, optemail: 1, optchat: 1 }),
        updated: res.body.updated,
      },
    ])
    t.same((await api.get('/api/get/customer', { query: { name: 'augusta ada king' } })).body, [res.body])
    t.same((await api.get('/api/get/customer', { query: { name: 'Ada Lovelace' } })).body, [])
  })

  t.test('one attribute leaves the others as they were; phone can be cleared with null', async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = (await api.post('/api/add/customer', newCustomer({ phone: '123', optchat: true }))).body
    await sleep(5)
    const res = await api.post('/api/update/customer', { id: ada.id, phone: null })
    t.equal(res.status, 200)
    t.ok(Date.parse(res.body.updated) > Date.parse(ada.updated), 'updated is later')
    t.same(res.body, { ...ada, phone: null, updated: res.body.updated })
  })

  t.test('400 when no attribute is given; nothing changes', async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = (await api.post('/api/add/customer', newCustomer())).body
    const res = await api.post('/api/update/customer', { id: ada.id })
    t.equal(res.status, 400)
    t.same(res.body.errors, [{ field: '(body)', message: 'must set at least one attribute besides id' }])
    t.same((await api.get('/api/get/customer', { query: { id: ada.id } })).body, ada)
  })

  t.test('400 for a bad value or an unknown field; nothing changes, not even the valid fields', async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = (await api.post('/api/add/customer', newCustomer())).body
    const bad = await api.post('/api/update/customer', { id: ada.id, name: 'New Name', email: 'nope' })
    t.equal(bad.status, 400)
    t.same(bad.body.errors, [{ field: 'email', message: 'must be an e-mail address' }])
    const unknown = await api.post('/api/update/customer', { id: ada.id, name: 'New Name', revenue: 5 })
    t.equal(unknown.status, 400)
    t.same(unknown.body.errors, [{ field: 'revenue', message: 'is not a known field' }])
    const missingId = await api.post('/api/update/customer', { name: 'New Name' })
    t.equal(missingId.status, 400)
    t.same(missingId.body.errors, [{ field: 'id', message: 'is required' }])
    t.same((await api.get('/api/get/customer', { query: { id: ada.id } })).body, ada)
  })

  t.test('404 for an unknown id; nothing is created', async (t) => {
    const app = await build(t)
    const res = await client(app).post('/api/update/customer', { id: 7, name: 'Nobody' })
    t.equal(res.status, 404)
    t.same(res.body, problemBody(res, 404, 'Customer 7 does not exist.'))
    t.same(await storedCustomers(app), [])
  })

  t.test("409 for another customer's e-mail address in any case; the whole update is refused", async (t) => {
    const app = await build(t)
    const api = client(app)
    await api.post('/api/add/customer', newCustomer())
    const grace = (await api.post('/api/add/customer', newCustomer({ name: 'Grace', email: 'grace@example.com' }))).body
    const res = await api.post('/api/update/customer', { id: grace.id, status: 'inactive', email: 'ADA@example.com' })
    t.equal(res.status, 409)
    t.same(
      res.body,
      problemBody(
        res,
        409,
        'A customer with the e-mail address ADA@example.com already exists (e-mail addresses ignore case).',
      ),
    )
    t.same((await api.get('/api/get/customer', { query: { id: grace.id } })).body, grace)
  })

  t.test('a customer may change the case of their own e-mail address', async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = (await api.post('/api/add/customer', newCustomer())).body
    const res = await api.post('/api/update/customer', { id: ada.id, email: 'Ada@Example.com' })
    t.equal(res.status, 200)
    t.equal(res.body.email, 'Ada@Example.com')
    t.same(res.body, { ...ada, email: 'Ada@Example.com', updated: res.body.updated })
  })
})

t.test('delete a customer', async (t) => {
  t.test('with GET (query or body), POST and DELETE (query or body): 200 and the record is gone', async (t) => {
    const app = await build(t)
    const api = client(app)
    const ids: number[] = []
    for (let i = 0; i < 5; i++) {
      ids.push((await api.post('/api/add/customer', newCustomer({ email: `c${i}@example.com` }))).body.id)
    }
    const calls = [
      () => api.get('/api/delete/customer', { query: { id: ids[0]! } }),
      () => api.get('/api/delete/customer', { body: { id: String(ids[1]) } }),
      () => api.post('/api/delete/customer', { id: ids[2] }),
      () => api.delete('/api/delete/customer', { query: { id: ids[3]! } }),
      () => api.delete('/api/delete/customer', { body: { id: ids[4] } }),
    ]
    for (const [i, call] of calls.entries()) {
      const res = await call()
      t.equal(res.status, 200)
      t.same(res.body, { deleted: [ids[i]] })
      t.equal((await api.get('/api/get/customer', { query: { id: ids[i]! } })).status, 404)
    }
    t.same(await storedCustomers(app), [])
  })

  t.test('404 for an unknown id, 400 without an id; nothing is deleted', async (t) => {
    const app = await build(t)
    const api = client(app)
    await api.post('/api/add/customer', newCustomer())
    const before = await storedCustomers(app)
    const unknown = await api.get('/api/delete/customer', { query: { id: 42 } })
    t.equal(unknown.status, 404)
    t.same(unknown.body, problemBody(unknown, 404, 'Customer 42 does not exist.'))
    const missing = await api.post('/api/delete/customer', {})
    t.equal(missing.status, 400)
    t.same(missing.body.errors, [{ field: 'id', message: 'is required' }])
    t.equal((await storedCustomers(app)).length, 1)
    t.same(await storedCustomers(app), before, 'the customer is stored as it was')
  })

  t.test('409 while products are assigned, saying how many; allowed once they are gone', async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = (await api.post('/api/add/customer', newCustomer())).body
    const first = await insertProduct(app, ada.id, 1000)
    await insertProduct(app, ada.id, 2000)
    const refused = await api.get('/api/delete/customer', { body: { id: ada.id } })
    t.equal(refused.status, 409)
    t.same(
      refused.body,
      problemBody(refused, 409, `Customer ${ada.id} still has 2 products assigned; unassign or delete them first.`),
    )
    t.equal((await storedCustomers(app)).length, 1)

    await app.db.deleteFrom('products').where('id', '=', first).execute()
    const stillOne = await api.delete('/api/delete/customer', { query: { id: ada.id } })
    t.equal(stillOne.status, 409)
    t.equal(stillOne.body.detail, `Customer ${ada.id} still has 1 product assigned; unassign or delete them first.`)

    await app.db.updateTable('products').set({ customerid: null }).execute()
    const done = await api.post('/api/delete/customer', { id: ada.id })
    t.equal(done.status, 200)
    t.same(done.body, { deleted: [ada.id] })
    t.equal((await app.db.selectFrom('products').selectAll().execute()).length, 1, 'the unassigned product stays')
  })

  t.test("the customer's feedback and tickets go with them; other customers' stay", async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = (await api.post('/api/add/customer', newCustomer())).body
    const grace = (await api.post('/api/add/customer', newCustomer({ email: 'grace@example.com' }))).body
    const productid = await insertProduct(app, null, 500)
    const time = new Date().toISOString()
    for (const customerid of [ada.id, grace.id]) {
      await app.db
        .insertInto('feedback')
        .values({ customerid, heading: 'h', body: 'b', nps: 9, created: time })
        .execute()
      await app.db
        .insertInto('product_feedback')
        .values({ customerid, productid, heading: 'h', body: 'b', nps: null, created: time })
        .execute()
      await app.db
        .insertInto('customer_requests')
        .values({ customerid, request: 'help', resolved: 0, resolution: null, opened: time, closed: null })
        .execute()
    }
    t.equal((await api.post('/api/delete/customer', { id: ada.id })).status, 200)
    for (const table of ['feedback', 'product_feedback', 'customer_requests'] as const) {
      t.same(
        (await app.db.selectFrom(table).select('customerid').execute()).map((row) => row.customerid),
        [grace.id],
        table,
      )
    }
  })
})

t.test("revenue is the exact sum of the prices of the customer's products", async (t) => {
  const app = await build(t)
  const api = client(app)
  const ada = (await api.post('/api/add/customer', newCustomer())).body
  const grace = (await api.post('/api/add/customer', newCustomer({ email: 'grace@example.com' }))).body
  await insertProduct(app, ada.id, 10)
  await insertProduct(app, ada.id, 20)
  await insertProduct(app, grace.id, 99999)
  await insertProduct(app, null, 12345)
  t.equal((await api.get('/api/get/customer', { query: { id: ada.id } })).body.revenue, 0.3)
  t.equal((await api.get('/api/get/customer', { query: { id: grace.id } })).body.revenue, 999.99)
  t.same(
    (await api.get('/api/get/customer', { query: { name: 'ada lovelace' } })).body.map(
      (c: { revenue: number }) => c.revenue,
    ),
    [0.3, 999.99],
  )
  const updated = await api.post('/api/update/customer', { id: ada.id, status: 'inactive' })
  t.equal(updated.body.revenue, 0.3)
})
