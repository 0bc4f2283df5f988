// Product uploads: defaults, Excel dates, money, owners, and the exact report.
import t from 'tap'
import {
  build,
  client,
  excelDate,
  newCustomer,
  PROBLEM_JSON,
  problemBody,
  sameReport,
  type TestApp,
  upload,
  workbook,
} from './helper.js'

const stored = (app: TestApp) =>
  app.db
    .selectFrom('products')
    .select(['id', 'name', 'price_cents', 'purchased', 'warranty', 'customerid'])
    .orderBy('id')
    .execute()

const today = () => new Date().toISOString().slice(0, 10)

t.test('a CSV of products: defaults, owners, and every kind of bad row', async (t) => {
  const app = await build(t)
  const ada = (await client(app).post('/api/add/customer', newCustomer())).body
  const csv = [
    `Kettle,19.99,2024-02-29,1,${ada.id}`,
    'Lamp,5',
    'Toaster,"1,5"',
    'Radio,abc',
    ',10',
    'Clock',
    'Fan,12.345',
    'Heater,-1',
    'Iron,20,2023-02-29',
    'Mixer,20,29/02/2024',
    'Blender,20,2024-01-01,51',
    'Stove,20,2024-01-01,2,99',
    'Grill,20,2024-01-01,2,abc',
    'Oven,0.1,,,',
    `Kettle,0.2,2020-06-30,0,${ada.id}`,
  ].join('\n')
  const res = await upload(app, '/upload/products', { filename: 'products.csv', content: csv, field: 'prodfile' })
  t.equal(res.status, 201)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  sameReport(t, res.body, {
    id: 1,
    kind: 'products',
    mode: 'insert',
    filename: 'products.csv',
    rows: 15,
    inserted: 4,
    updated: 0,
    skipped: 11,
    errors: [
      { row: 3, reason: 'Price must be number' },
      { row: 4, reason: 'Price must be number' },
      { row: 5, reason: 'Name is missing' },
      { row: 6, reason: 'Price is missing' },
      { row: 7, reason: 'Price must have at most two decimals' },
      { row: 8, reason: 'Price must be >= 0' },
      { row: 9, reason: 'Purchased must be a day that exists in the calendar, written YYYY-MM-DD' },
      { row: 10, reason: 'Purchased must be a date written YYYY-MM-DD, in the years 1900 to 2999' },
      { row: 11, reason: 'Warranty must be <= 50' },
      { row: 12, reason: 'CustomerId 99 is not a stored customer' },
      { row: 13, reason: 'CustomerId must be integer or null' },
    ],
  })
  t.same(await stored(app), [
    { id: 1, name: 'Kettle', price_cents: 1999, purchased: '2024-02-29', warranty: 1, customerid: ada.id },
    { id: 2, name: 'Lamp', price_cents: 500, purchased: today(), warranty: 2, customerid: null },
    { id: 3, name: 'Oven', price_cents: 10, purchased: today(), warranty: 2, customerid: null },
    { id: 4, name: 'Kettle', price_cents: 20, purchased: '2020-06-30', warranty: 0, customerid: ada.id },
  ])
  const customer = (await client(app).get('/api/get/customer', { query: { id: ada.id } })).body
  t.equal(customer.revenue, 20.19, 'the uploaded prices count in revenue, exactly')
  const kettle = (await client(app).get('/api/get/product', { query: { id: 1 } })).body
  t.equal(kettle.expires, '2025-02-28')
})

t.test('an XLSX of products: a header row, real Excel dates, numbers and text', async (t) => {
  const app = await build(t)
  const ada = (await client(app).post('/api/add/customer', newCustomer())).body
  const file = workbook([
    ['Name', 'Price', 'Purchased', 'Warranty', 'CustomerId'],
    ['Kettle', 19.99, excelDate('2024-02-29'), 3, ada.id],
    ['Lamp', '7.50', '2023-12-31', '1', String(ada.id)],
    ['Radio', 10, excelDate('2001-01-01')],
    ['Clock', 1.005, excelDate('2020-01-01')],
  ])
  const res = await upload(app, '/upload/products', { filename: 'products.xlsx', content: file })
  t.equal(res.status, 201)
  sameReport(t, res.body, {
    id: 1,
    kind: 'products',
    filename: 'products.xlsx',
    rows: 4,
    inserted: 3,
    skipped: 1,
    errors: [{ row: 5, reason: 'Price must have at most two decimals' }],
  })
  t.same(await stored(app), [
    { id: 1, name: 'Kettle', price_cents: 1999, purchased: '2024-02-29', warranty: 3, customerid: ada.id },
    { id: 2, name: 'Lamp', price_cents: 750, purchased: '2023-12-31', warranty: 1, customerid: ada.id },
    { id: 3, name: 'Radio', price_cents: 1000, purchased: '2001-01-01', warranty: 2, customerid: null },
  ])
})

t.test('an XLS of products with an Excel date', async (t) => {
  const app = await build(t)
  const file = workbook([['Toaster', 25.5, excelDate('1999-12-31'), 5]], 'biff8')
  const res = await upload(app, '/upload/products', { filename: 'p.xls', content: file })
  t.equal(res.status, 201)
  sameReport(t, res.body, { id: 1, kind: 'products', filename: 'p.xls', rows: 1, inserted: 1 })
  t.same(await stored(app), [
    { id: 1, name: 'Toaster', price_cents: 2550, purchased: '1999-12-31', warranty: 5, customerid: null },
  ])
})

t.test('products may repeat; the product upload takes no mode', async (t) => {
  const app = await build(t)
  const res = await upload(app, '/upload/products', { filename: 'p.csv', content: 'Lamp,5\nLamp,5\n' })
  t.equal(res.status, 201)
  sameReport(t, res.body, { id: 1, kind: 'products', filename: 'p.csv', rows: 2, inserted: 2 })
  const withMode = await upload(app, '/upload/products?mode=upsert', { filename: 'p.csv', content: 'Lamp,5\n' })
  t.equal(withMode.status, 400)
  t.equal(withMode.headers['content-type'], PROBLEM_JSON)
  t.same(
    withMode.body,
    problemBody(withMode, 400, 'The request has 1 invalid field: mode is not a known field.', [
      { field: 'mode', message: 'is not a known field' },
    ]),
  )
  const lamp = { name: 'Lamp', price_cents: 500, purchased: today(), warranty: 2, customerid: null }
  t.same(await stored(app), [
    { id: 1, ...lamp },
    { id: 2, ...lamp },
  ])
})
