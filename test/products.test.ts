// The product endpoints: money, expiry dates, owners and revenue, rule by rule.
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { build, type Client, client, newCustomer, newProduct, problemBody, type TestApp } from './helper.js'

const storedProducts = (app: TestApp) => app.db.selectFrom('products').selectAll().orderBy('id').execute()

/** A customer with a fresh e-mail address; returns the created record. */
let customers = 0
async function addCustomer(api: Client, overrides: Record<string, unknown> = {}) {
  const res = await api.post('/api/add/customer', newCustomer({ email: `c${++customers}@example.com`, ...overrides }))
  return res.body
}

/** Products whose customerid names no customer. */
const orphans = (app: TestApp) =>
  app.db
    .selectFrom('products')
    .leftJoin('customers', 'customers.id', 'products.customerid')
    .select('products.id')
    .where('products.customerid', 'is not', null)
    .where('customers.id', 'is', null)
    .execute()

/** The row stored for a product the API answered with `record`: the price in cents, the name's lookup key. */
const productRow = (record: Record<string, any>) => ({
  id: record.id,
  name: record.name,
  name_key: String(record.name).toLowerCase(),
  price_cents: Math.round(record.price * 100),
  purchased: record.purchased,
  warranty: record.warranty,
  customerid: record.customerid,
  created: record.created,
  updated: record.updated,
})

const revenueOf = async (api: Client, id: number) =>
  (await api.get('/api/get/customer', { query: { id } })).body.revenue as number

t.test('add a product', async (t) => {
  t.test('201 with the whole record; the price stored as integer cents', async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = await addCustomer(api)
    const res = await api.post('/api/add/product', newProduct(ada.id))
    t.equal(res.status, 201)
    t.same(res.body, {
      id: 1,
      name: 'Espresso machine',
      price: 249.99,
      purchased: '2024-02-29',
      warranty: 2,
      expires: '2026-02-28',
      customerid: ada.id,
      created: res.body.created,
      updated: res.body.created,
    })
    t.match(res.body.created, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
    const rows = await storedProducts(app)
    t.equal(rows.length, 1)
    t.same(rows, [
      {
        id: 1,
        name: 'Espresso machine',
        name_key: 'espresso machine',
        price_cents: 24999,
        purchased: '2024-02-29',
        warranty: 2,
        customerid: ada.id,
        created: res.body.created,
        updated: res.body.created,
      },
    ])
    t.equal(await revenueOf(api, ada.id), 249.99)
  })

  t.test('values the seed clients send as strings', async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = await addCustomer(api)
    const res = await api.post(
      '/api/add/product',
      newProduct(ada.id, { price: '19.90', warranty: '3', customerid: String(ada.id) }),
    )
    t.equal(res.status, 201)
    t.same(res.body, {
      id: 1,
      name: 'Espresso machine',
      price: 19.9,
      purchased: '2024-02-29',
      warranty: 3,
      expires: '2027-02-28',
      customerid: ada.id,
      created: res.body.created,
      updated: res.body.created,
    })
  })

  t.test('404 for an unknown customer; nothing stored', async (t) => {
    const app = await build(t)
    const res = await client(app).post('/api/add/product', newProduct(42))
    t.equal(res.status, 404)
    t.same(res.body, problemBody(res, 404, 'Customer 42 does not exist.'))
    t.same(await storedProducts(app), [])
  })

  t.test('400 naming each missing field; nothing stored', async (t) => {
    const app = await build(t)
    const res = await client(app).post('/api/add/product', {})
    t.equal(res.status, 400)
    t.same(res.body.errors.map((e: { field: string }) => e.field).sort(), [
      'customerid',
      'name',
      'price',
      'purchased',
      'warranty',
    ])
    t.same(
      res.body.errors,
      ['name', 'price', 'purchased', 'customerid', 'warranty'].map((field) => ({ field, message: 'is required' })),
    )
    t.same(await storedProducts(app), [])
  })

  t.test('400 for each bad value; nothing stored', async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = await addCustomer(api)
    const cases: [Record<string, unknown>, string, string][] = [
      [{ price: -1 }, 'price', 'must be >= 0'],
      [{ price: 1.999 }, 'price', 'must have at most two decimals'],
      [{ price: 0.0100000001 }, 'price', 'must have at most two decimals'],
      [{ price: 'abc' }, 'price', 'must be number'],
      [{ price: null }, 'price', 'must be number'],
      [{ price: 10_000_000.01 }, 'price', 'must be <= 10000000'],
      [{ purchased: '2023-02-29' }, 'purchased', 'must be a day that exists in the calendar, written YYYY-MM-DD'],
      [{ purchased: '2024-13-01' }, 'purchased', 'must be a day that exists in the calendar, written YYYY-MM-DD'],
      [{ purchased: '29/02/2024' }, 'purchased', 'must be a date written YYYY-MM-DD, in the years 1900 to 2999'],
      [{ purchased: '1899-12-31' }, 'purchased', 'must be a date written YYYY-MM-DD, in the years 1900 to 2999'],
      [
        { purchased: '2024-02-29T10:00:00Z' },
        'purchased',
        'must be a date written YYYY-MM-DD, in the years 1900 to 2999',
      ],
      [{ warranty: 51 }, 'warranty', 'must be <= 50'],
      [{ warranty: -1 }, 'warranty', 'must be >= 0'],
      [{ warranty: 2.5 }, 'warranty', 'must be integer'],
      [{ customerid: null }, 'customerid', 'must be integer'],
      [
        { name: ' ' },
        'name',
        'must be text on one line with a visible character, without control characters or text direction controls',
      ],
      [{ colour: 'red' }, 'colour', 'is not a known field'],
    ]
    for (const [fields, field, message] of cases) {
      const res = await api.post('/api/add/product', newProduct(ada.id, fields))
      t.equal(res.status, 400, JSON.stringify(fields))
      t.same(res.body.errors, [{ field, message }], JSON.stringify(fields))
      t.equal(res.body.errors.length, 1, JSON.stringify(fields))
    }
    t.same(await storedProducts(app), [])
  })

  t.test('prices are exact: 0.1 + 0.2 is 0.3 in revenue', async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = await addCustomer(api)
    for (const price of [0.1, 0.2]) {
      t.equal((await api.post('/api/add/product', newProduct(ada.id, { price }))).status, 201)
    }
    t.equal(await revenueOf(api, ada.id), 0.3)
    const grace = await addCustomer(api)
    for (let i = 0; i < 3; i++) await api.post('/api/add/product', newProduct(grace.id, { price: 19.99 }))
    await api.post('/api/add/product', newProduct(grace.id, { price: 9_999_999.99 }))
    t.equal(await revenueOf(api, grace.id), 10_000_059.96)
    t.same(
      (await storedProducts(app)).map((row) => row.price_cents),
      [10, 20, 1999, 1999, 1999, 999_999_999],
    )
  })
})

t.test('every price reads back exactly, alone and in lists', async (t) => {
  const app = await build(t)
  const api = client(app)
  const ada = await addCustomer(api)
  const prices = [0.07, 0.29, 1.15, 4.35, 19.99, 0.57, 1.13, 9_999_999.99, 0]
  const added = []
  for (const price of prices) {
    const res = await api.post('/api/add/product', newProduct(ada.id, { price, name: `P${price}` }))
    t.equal(res.status, 201, String(price))
    const read = await api.get('/api/get/product', { query: { id: res.body.id } })
    t.equal(read.status, 200, `GET ${price}`)
    t.equal(read.body.price, price)
    added.push(read.body)
  }
  const list = await api.get('/api/get/product', { query: { customerid: ada.id } })
  t.equal(list.status, 200)
  t.same(
    list.body.map((p: { price: number }) => p.price),
    prices,
  )
  t.same((await api.get('/api/get/product', { query: { name: 'p19.99' } })).body, [added[4]])
  const updated = await api.post('/api/update/product', { id: added[0].id, price: 1.15 })
  t.equal(updated.body.price, 1.15)
  t.equal((await api.get('/api/get/product', { query: { id: added[0].id } })).body.price, 1.15)
  t.equal(
    await revenueOf(api, ada.id),
    10_000_028.62,
    '0.07 + 0.29 + 1.15 + 4.35 + 19.99 + 0.57 + 1.13 + 9999999.99, then 0.07 became 1.15',
  )
})

t.test('expires is purchased plus warranty years, by the calendar', async (t) => {
  const app = await build(t)
  const api = client(app)
  const ada = await addCustomer(api)
  const cases: [string, number, string][] = [
    ['2024-02-29', 0, '2024-02-29'],
    ['2024-02-29', 1, '2025-02-28'],
    ['2024-02-29', 4, '2028-02-29'],
    ['2024-02-29', 50, '2074-02-28'],
    ['2023-01-31', 1, '2024-01-31'],
    ['1999-12-31', 2, '2001-12-31'],
    ['2999-06-15', 50, '3049-06-15'],
  ]
  for (const [purchased, warranty, expires] of cases) {
    const res = await api.post('/api/add/product', newProduct(ada.id, { purchased, warranty }))
    t.equal(res.status, 201)
    t.equal(res.body.expires, expires, `${purchased} + ${warranty}`)
    const read = await api.get('/api/get/product', { query: { id: res.body.id } })
    t.equal(read.status, 200)
    t.equal(read.body.expires, expires, `read back: ${purchased} + ${warranty}`)
  }
  const all = await api.get('/api/get/product', { query: { customerid: ada.id } })
  t.same(
    all.body.map((p: { expires: string }) => p.expires),
    cases.map(([, , expires]) => expires),
  )
})

t.test('get products', async (t) => {
  const app = await build(t)
  const api = client(app)
  const ada = await addCustomer(api)
  const grace = await addCustomer(api)
  const idle = await addCustomer(api)
  const kettle = (await api.post('/api/add/product', newProduct(ada.id, { name: 'Kettle' }))).body
  const machine = (await api.post('/api/add/product', newProduct(ada.id))).body
  const graceKettle = (await api.post('/api/add/product', newProduct(grace.id, { name: 'KETTLE' }))).body

  t.test('by id, in the query string or a JSON body, as a number or a string', async (t) => {
    t.same((await api.get('/api/get/product', { query: { id: kettle.id } })).body, kettle)
    t.same((await api.get('/api/get/product', { body: { id: String(machine.id) } })).body, machine)
    const missing = await api.get('/api/get/product', { query: { id: 99 } })
    t.equal(missing.status, 404)
    t.same(missing.body, problemBody(missing, 404, 'Product 99 does not exist.'))
  })

  t.test('by name ignoring case, and by customer, in id order and paged', async (t) => {
    t.same((await api.get('/api/get/product', { query: { name: 'kettle' } })).body, [kettle, graceKettle])
    t.same((await api.get('/api/get/product', { body: { name: 'kettle', offset: 1 } })).body, [graceKettle])
    t.same((await api.get('/api/get/product', { query: { name: 'toaster' } })).body, [])
    t.same((await api.get('/api/get/product', { query: { customerid: ada.id } })).body, [kettle, machine])
    t.same((await api.get('/api/get/product', { body: { customerid: ada.id, limit: 1 } })).body, [kettle])
    t.same((await api.get('/api/get/product', { query: { customerid: idle.id } })).body, [])
  })

  t.test("404 for an unknown customer's products", async (t) => {
    const res = await api.get('/api/get/product', { query: { customerid: 99 } })
    t.equal(res.status, 404)
    t.equal(res.body.detail, 'Customer 99 does not exist.')
    t.same(res.body, problemBody(res, 404, 'Customer 99 does not exist.'))
  })

  t.test('400 with none or several of id, name and customerid', async (t) => {
    const none = await api.get('/api/get/product')
    t.equal(none.status, 400)
    t.same(none.body.errors, [{ field: 'id', message: 'or name or customerid is required' }])
    const two = await api.get('/api/get/product', { query: { name: 'kettle', customerid: ada.id } })
    t.equal(two.status, 400)
    t.same(two.body.errors, [{ field: 'name', message: 'and customerid cannot be given together' }])
  })
})

t.test('update a product', async (t) => {
  t.test('warranty sets the term and expires follows; purchased too', async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = await addCustomer(api)
    const product = (await api.post('/api/add/product', newProduct(ada.id))).body
    await sleep(5)
    const res = await api.post('/api/update/product', { id: product.id, warranty: 4 })
    t.equal(res.status, 200)
    t.same(res.body, { ...product, warranty: 4, expires: '2028-02-29', updated: res.body.updated })
    t.ok(Date.parse(res.body.updated) > Date.parse(product.updated), 'updated is later')
    const moved = await api.post('/api/update/product', { id: product.id, purchased: '2025-03-01' })
    t.same(moved.body, {
      ...res.body,
      purchased: '2025-03-01',
      warranty: 4,
      expires: '2029-03-01',
      updated: moved.body.updated,
    })
    t.same((await api.get('/api/get/product', { query: { id: product.id } })).body, moved.body)
    t.same(await storedProducts(app), [productRow(moved.body)])
  })

  t.test('changeto transfers the product and its revenue; null unassigns it', async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = await addCustomer(api)
    const grace = await addCustomer(api)
    const product = (await api.post('/api/add/product', newProduct(ada.id, { price: 0.1 }))).body
    const kept = (await api.post('/api/add/product', newProduct(ada.id, { price: 0.2 }))).body
    t.equal(await revenueOf(api, ada.id), 0.3)

    const transferred = await api.post('/api/update/product', { id: product.id, changeto: String(grace.id) })
    t.equal(transferred.status, 200)
    t.equal(transferred.body.customerid, grace.id)
    t.equal(await revenueOf(api, ada.id), 0.2)
    t.equal(await revenueOf(api, grace.id), 0.1)
    t.same((await api.get('/api/get/product', { query: { customerid: grace.id } })).body, [transferred.body])

    const unassigned = await api.post('/api/update/product', { id: product.id, changeto: null })
    t.equal(unassigned.status, 200)
    t.equal(unassigned.body.customerid, null)
    t.equal(await revenueOf(api, grace.id), 0)
    t.same(await storedProducts(app), [productRow(unassigned.body), productRow(kept)])
    t.same(unassigned.body, { ...product, customerid: null, updated: unassigned.body.updated })
  })

  t.test('several changes apply together', async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = await addCustomer(api)
    const grace = await addCustomer(api)
    const product = (await api.post('/api/add/product', newProduct(ada.id))).body
    const res = await api.post('/api/update/product', {
      id: product.id,
      name: 'Grinder',
      price: 80.5,
      warranty: 1,
      changeto: grace.id,
    })
    t.equal(res.status, 200)
    t.same(res.body, {
      ...product,
      name: 'Grinder',
      price: 80.5,
      warranty: 1,
      expires: '2025-02-28',
      customerid: grace.id,
      updated: res.body.updated,
    })
    t.equal(await revenueOf(api, grace.id), 80.5)
    t.same((await api.get('/api/get/product', { query: { name: 'grinder' } })).body, [res.body])
  })

  t.test('an unknown changeto customer is 404 and nothing changes, not even the other fields', async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = await addCustomer(api)
    const product = (await api.post('/api/add/product', newProduct(ada.id))).body
    const before = await storedProducts(app)
    const res = await api.post('/api/update/product', { id: product.id, warranty: 9, changeto: 77 })
    t.equal(res.status, 404)
    t.same(res.body, problemBody(res, 404, 'Customer 77 does not exist.'))
    t.same(await storedProducts(app), before)
  })

  t.test('404 for an unknown product; 400 without a change or with a bad one', async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = await addCustomer(api)
    const product = (await api.post('/api/add/product', newProduct(ada.id))).body
    const before = await storedProducts(app)
    const unknown = await api.post('/api/update/product', { id: 55, warranty: 3 })
    t.equal(unknown.status, 404)
    t.equal(unknown.body.detail, 'Product 55 does not exist.')
    t.same(unknown.body, problemBody(unknown, 404, 'Product 55 does not exist.'))
    const none = await api.post('/api/update/product', { id: product.id })
    t.equal(none.status, 400)
    t.same(none.body.errors, [{ field: '(body)', message: 'must make at least one change besides id' }])
    const bad = await api.post('/api/update/product', { id: product.id, warranty: 60, price: 1.005 })
    t.equal(bad.status, 400)
    t.same(bad.body.errors.map((e: { field: string }) => e.field).sort(), ['price', 'warranty'])
    t.same(bad.body.errors, [
      { field: 'price', message: 'must have at most two decimals' },
      { field: 'warranty', message: 'must be <= 50' },
    ])
    const inexact = await api.post('/api/update/product', { id: product.id, name: 'X', price: 0.0100000001 })
    t.equal(inexact.status, 400)
    t.same(inexact.body.errors, [{ field: 'price', message: 'must have at most two decimals' }])
    const unknownField = await api.post('/api/update/product', { id: product.id, customerid: ada.id })
    t.equal(unknownField.status, 400)
    t.same(unknownField.body.errors, [{ field: 'customerid', message: 'is not a known field' }])
    t.same(await storedProducts(app), before)
  })
})

t.test('delete products', async (t) => {
  t.test('by id: 200, gone, and the revenue follows', async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = await addCustomer(api)
    const first = (await api.post('/api/add/product', newProduct(ada.id, { price: 10 }))).body
    const second = (await api.post('/api/add/product', newProduct(ada.id, { price: 5 }))).body
    const res = await api.post('/api/delete/product', { id: String(first.id) })
    t.equal(res.status, 200)
    t.same(res.body, { deleted: [first.id] })
    t.equal((await api.get('/api/get/product', { query: { id: first.id } })).status, 404)
    t.equal(await revenueOf(api, ada.id), 5)
    t.equal((await storedProducts(app)).length, 1)
    t.same(await storedProducts(app), [productRow(second)], 'the other product stays as it was')
  })

  t.test("by customerid: all of that customer's products, and no one else's", async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = await addCustomer(api)
    const grace = await addCustomer(api)
    const ids: number[] = []
    for (let i = 0; i < 3; i++) ids.push((await api.post('/api/add/product', newProduct(ada.id))).body.id)
    const graces = (await api.post('/api/add/product', newProduct(grace.id))).body
    const res = await api.post('/api/delete/product', { customerid: ada.id })
    t.equal(res.status, 200)
    t.same(res.body, { deleted: ids })
    t.same(
      (await storedProducts(app)).map((row) => row.id),
      [graces.id],
    )
    t.equal(await revenueOf(api, ada.id), 0)
    t.equal((await api.post('/api/delete/customer', { id: ada.id })).status, 200, 'the customer can go now')
  })

  t.test('404 when nothing matched; 400 with none or both parameters; nothing deleted', async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = await addCustomer(api)
    const idle = await addCustomer(api)
    const product = (await api.post('/api/add/product', newProduct(ada.id))).body
    const before = await storedProducts(app)
    const cases: [unknown, number, string][] = [
      [{ id: 99 }, 404, 'Product 99 does not exist.'],
      [{ customerid: idle.id }, 404, `Customer ${idle.id} has no products.`],
      [{ customerid: 99 }, 404, 'Customer 99 does not exist.'],
      [{}, 400, 'The request has 1 invalid field: id or customerid is required.'],
      [
        { id: product.id, customerid: ada.id },
        400,
        'The request has 1 invalid field: id and customerid cannot be given together.',
      ],
    ]
    for (const [body, status, detail] of cases) {
      const res = await api.post('/api/delete/product', body)
      t.equal(res.status, status, JSON.stringify(body))
      t.equal(res.body.detail, detail)
    }
    t.equal((await storedProducts(app)).length, 1)
    t.same(await storedProducts(app), before, 'the product is stored as it was')
  })

  t.test('feedback about a deleted product is kept, with productid null', async (t) => {
    const app = await build(t)
    const api = client(app)
    const ada = await addCustomer(api)
    const product = (await api.post('/api/add/product', newProduct(ada.id))).body
    const feedback = await api.post('/api/add/product/feedback', {
      productid: product.id,
      customerid: ada.id,
      heading: 'Noisy',
      body: 'But it works.',
      nps: 7,
    })
    t.equal(feedback.status, 201)
    t.equal((await api.post('/api/delete/product', { id: product.id })).status, 200)
    const listed = await api.get('/api/get/product/feedback', { query: { customerid: ada.id } })
    t.same(listed.body, [{ ...feedback.body, productid: null }])
  })
})

t.test('a customer deleted while products are being added: never an orphan product', async (t) => {
  const app = await build(t)
  const api = client(app)
  for (let round = 0; round < 5; round++) {
    const customer = await addCustomer(api)
    const results = await Promise.all([
      api.post('/api/add/product', newProduct(customer.id)),
      api.post('/api/delete/customer', { id: customer.id }),
      api.post('/api/add/product', newProduct(customer.id)),
    ])
    const statuses = results.map((res) => res.status)
    // Either the deletion came first and both additions found no customer, or an addition came
    // first and the deletion was refused, and the customer took the other addition too.
    const customerGone = statuses[1] === 200
    t.same(statuses, customerGone ? [404, 200, 404] : [201, 409, 201], `round ${round}: ${statuses.join(', ')}`)
  }
  t.same(await orphans(app), [], 'no product points at a missing customer')
})

t.test('no product ever points at a customer that does not exist', async (t) => {
  const app = await build(t)
  const api = client(app)
  const ada = await addCustomer(api)
  await api.post('/api/add/product', newProduct(ada.id))
  const refused = await api.post('/api/delete/customer', { id: ada.id })
  t.equal(refused.status, 409)
  t.equal(refused.body.detail, `Customer ${ada.id} still has 1 product assigned; unassign or delete them first.`)
  t.same(await orphans(app), [], 'no product points at a missing customer')
})
