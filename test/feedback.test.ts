// The feedback endpoints, rule by rule: brand and product feedback added and listed, and what is stored.
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import {
  build,
  client,
  insertProduct,
  newCustomer,
  PROBLEM_JSON,
  problemBody,
  type Client,
  type TestApp,
} from './helper.js'

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

const brandRows = (app: TestApp) => app.db.selectFrom('feedback').selectAll().orderBy('id').execute()
const productRows = (app: TestApp) => app.db.selectFrom('product_feedback').selectAll().orderBy('id').execute()

/** Valid brand feedback from customer 1; `overrides` change, add or (as undefined) drop fields. */
const brand = (overrides: Record<string, unknown> = {}) => ({
  customerid: 1,
  heading: 'Great service',
  body: 'Quick and friendly.',
  ...overrides,
})
const product = (overrides: Record<string, unknown> = {}) => brand({ productid: 1, ...overrides })

/** An app with Ada (customer 1) and Grace (customer 2). */
async function withCustomers(t: Test): Promise<{ app: TestApp; api: Client }> {
  const app = await build(t)
  const api = client(app)
  t.equal((await api.post('/api/add/customer', newCustomer())).status, 201)
  t.equal((await api.post('/api/add/customer', newCustomer({ name: 'Grace', email: 'grace@example.com' }))).status, 201)
  return { app, api }
}

t.test('add brand feedback', async (t) => {
  t.test('201 with the whole record; the row is stored as sent, at the time of the request', async (t) => {
    const { app, api } = await withCustomers(t)
    const before = Date.now()
    const res = await api.post('/api/add/brand/feedback', brand({ nps: 9 }))
    t.equal(res.status, 201)
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
    t.match(res.body.created, ISO)
    t.ok(Date.parse(res.body.created) >= before && Date.parse(res.body.created) <= Date.now(), 'created is now')
    const record = { id: 1, customerid: 1, heading: 'Great service', body: 'Quick and friendly.', nps: 9 }
    t.same(res.body, { ...record, created: res.body.created })
    t.same(await brandRows(app), [{ ...record, created: res.body.created }])
    t.same(await productRows(app), [], 'brand feedback is not product feedback')
  })

  t.test('nps is optional (null when left out), may be null, and is a whole number 0 to 10', async (t) => {
    const { app, api } = await withCustomers(t)
    const cases: [unknown, number | null][] = [
      [undefined, null],
      [null, null],
      [0, 0],
      [10, 10],
      ['5', 5],
    ]
    for (const [nps, stored] of cases) {
      const res = await api.post('/api/add/brand/feedback', brand({ nps }))
      t.equal(res.status, 201, `nps ${JSON.stringify(nps)}`)
      t.equal(res.body.nps, stored, `nps ${JSON.stringify(nps)}`)
    }
    t.same(
      (await brandRows(app)).map((row) => row.nps),
      [null, null, 0, 10, 5],
    )
    const refused: [unknown, string][] = [
      [11, 'must be <= 10'],
      [-1, 'must be >= 0'],
      [5.5, 'must be integer or null'],
      ['x', 'must be integer or null'],
      [true, 'must be integer or null'],
    ]
    for (const [nps, message] of refused) {
      const res = await api.post('/api/add/brand/feedback', brand({ nps }))
      t.equal(res.status, 400, `nps ${JSON.stringify(nps)}`)
      t.equal(res.headers['content-type'], PROBLEM_JSON)
      t.same(res.body.errors, [{ field: 'nps', message }], `nps ${JSON.stringify(nps)}`)
    }
    t.equal((await brandRows(app)).length, 5, 'nothing more stored')
  })

  t.test('customerid may come as a string of digits', async (t) => {
    const { app, api } = await withCustomers(t)
    const res = await api.post('/api/add/brand/feedback', brand({ customerid: '2' }))
    t.equal(res.status, 201)
    t.equal(res.body.customerid, 2)
    t.same(
      (await brandRows(app)).map((row) => row.customerid),
      [2],
    )
  })

  t.test('404 for a customer who does not exist; nothing stored', async (t) => {
    const { app, api } = await withCustomers(t)
    const res = await api.post('/api/add/brand/feedback', brand({ customerid: 99 }))
    t.equal(res.status, 404)
    t.equal(res.headers['content-type'], PROBLEM_JSON)
    t.same(res.body, problemBody(res, 404, 'Customer 99 does not exist.'))
    t.same(await brandRows(app), [])
  })

  t.test('400 naming each missing field, blank or bad text, an unknown field; nothing stored', async (t) => {
    const { app, api } = await withCustomers(t)
    const missing = await api.post('/api/add/brand/feedback', {})
    t.equal(missing.status, 400)
    t.same(
      missing.body,
      problemBody(
        missing,
        400,
        'The request has 3 invalid fields: customerid is required; heading is required; body is required.',
        ['customerid', 'heading', 'body'].map((field) => ({ field, message: 'is required' })),
      ),
    )
    const oneLine =
      'must be text on one line with a visible character, without control characters or text direction controls'
    const lines =
      'must be text with a visible character, without control characters or text direction controls (tabs and line breaks as CR or LF are allowed)'
    const cases: [Record<string, unknown>, string, string][] = [
      [{ heading: undefined }, 'heading', 'is required'],
      [{ body: undefined }, 'body', 'is required'],
      [{ customerid: undefined }, 'customerid', 'is required'],
      [{ heading: '  ' }, 'heading', oneLine],
      [{ heading: 'Great\nservice' }, 'heading', oneLine],
      [{ body: ' \n ' }, 'body', lines],
      [{ heading: 'x'.repeat(201) }, 'heading', 'must NOT have more than 200 characters'],
      [{ body: 'x'.repeat(5001) }, 'body', 'must NOT have more than 5000 characters'],
      [{ customerid: 0 }, 'customerid', 'must be >= 1'],
      [{ customerid: 'abc' }, 'customerid', 'must be integer'],
      [{ heading: null }, 'heading', 'must be string'],
      [{ productid: 1 }, 'productid', 'is not a known field'],
      [{ rating: 5 }, 'rating', 'is not a known field'],
    ]
    for (const [fields, field, message] of cases) {
      const res = await api.post('/api/add/brand/feedback', brand(fields))
      t.equal(res.status, 400, JSON.stringify(fields).slice(0, 60))
      t.same(res.body.errors, [{ field, message }], JSON.stringify(fields).slice(0, 60))
    }
    const query = await api.post('/api/add/brand/feedback', brand(), { query: { nps: 5 } })
    t.equal(query.status, 400)
    t.same(query.body.errors, [{ field: 'nps', message: 'must be sent in the JSON body, not in the query string' }])
    t.same(await brandRows(app), [])
  })

  t.test('the longest heading and body, and a body over several lines, are accepted', async (t) => {
    const { app, api } = await withCustomers(t)
    const body = 'Quick and friendly.\r\nThe staff\tknew the product.\n\nWould come back.'
    const multiline = await api.post('/api/add/brand/feedback', brand({ body }))
    t.equal(multiline.status, 201)
    t.equal(multiline.body.body, body)
    const longest = await api.post(
      '/api/add/brand/feedback',
      brand({ heading: 'h'.repeat(200), body: 'b'.repeat(5000) }),
    )
    t.equal(longest.status, 201)
    t.same(
      (await brandRows(app)).map((row) => [row.heading.length, row.body]),
      [
        [13, body],
        [200, 'b'.repeat(5000)],
      ],
    )
  })
})

t.test('add product feedback', async (t) => {
  t.test('201 with the whole record and the row stored', async (t) => {
    const { app, api } = await withCustomers(t)
    const productid = await insertProduct(app, 1, 1999)
    const res = await api.post('/api/add/product/feedback', product({ productid: String(productid), nps: '7' }))
    t.equal(res.status, 201)
    t.match(res.body.created, ISO)
    const record = { id: 1, customerid: 1, productid, heading: 'Great service', body: 'Quick and friendly.', nps: 7 }
    t.same(res.body, { ...record, created: res.body.created })
    t.same(await productRows(app), [{ ...record, created: res.body.created }])
    t.same(await brandRows(app), [])
  })

  t.test(
    'a customer may give feedback on a product they do not own, or nobody owns; nps may be left out',
    async (t) => {
      const { app, api } = await withCustomers(t)
      const graces = await insertProduct(app, 2, 1999)
      const nobodys = await insertProduct(app, null, 1999)
      const first = await api.post('/api/add/product/feedback', product({ productid: graces }))
      t.equal(first.status, 201)
      const record = { id: 1, customerid: 1, productid: graces, heading: 'Great service', body: 'Quick and friendly.' }
      t.same(first.body, { ...record, nps: null, created: first.body.created })
      const second = await api.post('/api/add/product/feedback', product({ productid: nobodys, nps: null }))
      t.equal(second.status, 201)
      t.same(second.body, { ...record, id: 2, productid: nobodys, nps: null, created: second.body.created })
      t.same(await productRows(app), [
        { ...record, nps: null, created: first.body.created },
        { ...record, id: 2, productid: nobodys, nps: null, created: second.body.created },
      ])
      t.equal((await productRows(app)).length, 2)
    },
  )

  t.test('404 for an unknown product or customer; nothing stored', async (t) => {
    const { app, api } = await withCustomers(t)
    const productid = await insertProduct(app, 1, 1999)
    const noProduct = await api.post('/api/add/product/feedback', product({ productid: 42 }))
    t.equal(noProduct.status, 404)
    t.equal(noProduct.headers['content-type'], PROBLEM_JSON)
    t.same(noProduct.body, problemBody(noProduct, 404, 'Product 42 does not exist.'))
    const noCustomer = await api.post('/api/add/product/feedback', product({ productid, customerid: 77 }))
    t.equal(noCustomer.status, 404)
    t.same(noCustomer.body, problemBody(noCustomer, 404, 'Customer 77 does not exist.'))
    t.same(await productRows(app), [])
  })

  t.test('400 naming each missing or invalid field; nothing stored', async (t) => {
    const { app, api } = await withCustomers(t)
    await insertProduct(app, 1, 1999)
    const missing = await api.post('/api/add/product/feedback', {})
    t.equal(missing.status, 400)
    t.same(
      missing.body,
      problemBody(
        missing,
        400,
        'The request has 4 invalid fields: productid is required; customerid is required; heading is required; ' +
          'body is required.',
        ['productid', 'customerid', 'heading', 'body'].map((field) => ({ field, message: 'is required' })),
      ),
    )
    const cases: [Record<string, unknown>, string, string][] = [
      [{ productid: undefined }, 'productid', 'is required'],
      [{ productid: null }, 'productid', 'must be integer'],
      [{ nps: 11 }, 'nps', 'must be <= 10'],
      [{ nps: 5.5 }, 'nps', 'must be integer or null'],
      [
        { heading: '  ' },
        'heading',
        'must be text on one line with a visible character, without control characters or text direction controls',
      ],
      [{ heading: 'x'.repeat(201) }, 'heading', 'must NOT have more than 200 characters'],
      [{ body: 'x'.repeat(5001) }, 'body', 'must NOT have more than 5000 characters'],
      [{ product: 1 }, 'product', 'is not a known field'],
    ]
    for (const [fields, field, message] of cases) {
      const res = await api.post('/api/add/product/feedback', product(fields))
      t.equal(res.status, 400, JSON.stringify(fields).slice(0, 60))
      t.same(res.body.errors, [{ field, message }], JSON.stringify(fields).slice(0, 60))
    }
    t.same(await productRows(app), [])
  })
})

t.test('list feedback', async (t) => {
  for (const kind of ['brand', 'product'] as const) {
    t.test(`${kind}: a customer's own feedback, oldest first, paged; by query string or JSON body`, async (t) => {
      const { app, api } = await withCustomers(t)
      const productid = await insertProduct(app, 1, 1999)
      const add = (customerid: number, heading: string) =>
        api.post(
          `/api/add/${kind}/feedback`,
          kind === 'brand' ? brand({ customerid, heading }) : product({ productid, customerid, heading }),
        )
      const mine = []
      for (const [customerid, heading] of [
        [1, 'First'],
        [2, 'Grace says'],
        [1, 'Second'],
        [1, 'Third'],
      ] as const) {
        const res = await add(customerid, heading)
        t.equal(res.status, 201)
        if (customerid === 1) mine.push(res.body)
        await sleep(5)
      }
      const [first, second, third] = mine
      t.ok(Date.parse(second.created) > Date.parse(first.created), 'created increases with time')
      t.ok(Date.parse(third.created) > Date.parse(second.created), 'created increases with time')
      const url = `/api/get/${kind}/feedback`
      const all = await api.get(url, { query: { customerid: 1 } })
      t.equal(all.status, 200)
      t.same(all.body, [first, second, third])
      t.same((await api.get(url, { body: { customerid: 1 } })).body, [first, second, third])
      t.same((await api.get(url, { body: { customerid: '1' } })).body, [first, second, third])
      t.same((await api.get(url, { query: { customerid: 1, limit: 2 } })).body, [first, second])
      t.same((await api.get(url, { body: { customerid: 1, limit: 2, offset: 2 } })).body, [third])
      t.same((await api.get(url, { query: { customerid: 1, offset: 3 } })).body, [])
      const graces = (await api.get(url, { query: { customerid: 2 } })).body
      t.same(
        graces.map((f: { heading: string }) => f.heading),
        ['Grace says'],
      )
      const stored = kind === 'brand' ? await brandRows(app) : await productRows(app)
      t.same(
        stored.filter((row) => row.customerid === 1).map((row) => row.created),
        mine.map((f) => f.created),
      )
    })

    t.test(`${kind}: [] when none, 404 for an unknown customer, 400 without a valid customerid`, async (t) => {
      const { api } = await withCustomers(t)
      const url = `/api/get/${kind}/feedback`
      const none = await api.get(url, { query: { customerid: 2 } })
      t.equal(none.status, 200)
      t.same(none.body, [])
      const unknown = await api.get(url, { body: { customerid: 9 } })
      t.equal(unknown.status, 404)
      t.same(unknown.body, problemBody(unknown, 404, 'Customer 9 does not exist.'))
      const missing = await api.get(url)
      t.equal(missing.status, 400)
      t.same(missing.body.errors, [{ field: 'customerid', message: 'is required' }])
      const bad = await api.get(url, { query: { customerid: 'abc' } })
      t.equal(bad.status, 400)
      t.same(bad.body.errors, [{ field: 'customerid', message: 'must be integer' }])
      const extra = await api.get(url, { query: { customerid: 1, productid: 1 } })
      t.equal(extra.status, 400)
      t.same(extra.body.errors, [{ field: 'productid', message: 'is not a known field' }])
      const tooMany = await api.get(url, { query: { customerid: 1, limit: 1001 } })
      t.equal(tooMany.status, 400)
      t.same(tooMany.body.errors, [{ field: 'limit', message: 'must be <= 1000' }])
    })
  }
})

t.test('deleting records', async (t) => {
  t.test('deleting a product keeps its feedback, with productid null', async (t) => {
    const { app, api } = await withCustomers(t)
    const grinder = { name: 'Grinder', price: 59.9, purchased: '2026-01-15', customerid: 1, warranty: 2 }
    const added = await api.post('/api/add/product', grinder)
    t.equal(added.status, 201)
    const kept = await insertProduct(app, 1, 1999)
    const gone = (await api.post('/api/add/product/feedback', product({ productid: added.body.id, nps: 3 }))).body
    const other = (await api.post('/api/add/product/feedback', product({ productid: kept }))).body
    const deleted = await api.post('/api/delete/product', { id: added.body.id })
    t.equal(deleted.status, 200)
    t.same(deleted.body, { deleted: [added.body.id] })
    const orphan = { ...gone, productid: null }
    t.same((await api.get('/api/get/product/feedback', { query: { customerid: 1 } })).body, [orphan, other])
    t.same(await productRows(app), [orphan, other])
  })

  t.test("deleting a customer removes their brand and product feedback, not others'", async (t) => {
    const { app, api } = await withCustomers(t)
    const productid = await insertProduct(app, null, 1999)
    const added: Record<string, any>[] = []
    for (const customerid of [1, 2]) {
      t.equal((await api.post('/api/add/brand/feedback', brand({ customerid }))).status, 201)
      const review = await api.post('/api/add/product/feedback', product({ customerid, productid }))
      t.equal(review.status, 201)
      added.push(review.body)
    }
    const res = await api.post('/api/delete/customer', { id: 1 })
    t.equal(res.status, 200)
    t.same(res.body, { deleted: [1] })
    t.same(
      (await brandRows(app)).map((row) => [row.id, row.customerid]),
      [[2, 2]],
    )
    t.same(
      (await productRows(app)).map((row) => [row.id, row.customerid]),
      [[2, 2]],
    )
    t.equal((await api.get('/api/get/brand/feedback', { query: { customerid: 1 } })).status, 404)
    const graces = (await api.get('/api/get/product/feedback', { body: { customerid: 2 } })).body
    t.equal(graces.length, 1)
    t.same(graces, [added[1]], "Grace's review is listed as it was")
  })
})
