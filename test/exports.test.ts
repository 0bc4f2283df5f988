// Exports: every file read back with SheetJS, the CSV variant, the requester rule, and the audit records.
import { request } from 'node:http'
import t from 'tap'
import * as XLSX from 'xlsx'
import { CustomerSchema } from '../schemas/customer.js'
import { ProductSchema } from '../schemas/product.js'
import { insertMany } from '../src/db/bulk.js'
import { AS_ADMIN, build, client, newCustomer, type TestApp } from './helper.js'

const requester = { name: 'Grace', surname: 'Hopper', email: 'grace@example.com' }
const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'

async function download(app: TestApp, url: string, query: Record<string, string> = requester) {
  const res = await app.inject({ url, query })
  return res
}

function sheetOf(payload: Buffer) {
  const book = XLSX.read(payload, { cellDates: true, cellStyles: true })
  t.equal(book.SheetNames.length, 1, 'one sheet')
  return { name: book.SheetNames[0]!, sheet: book.Sheets[book.SheetNames[0]!]! }
}

t.test('customers as a workbook: header, typed cells, exact revenue, formula-like text kept as text', async (t) => {
  const app = await build(t)
  const api = client(app)
  const ada = (await api.post('/api/add/customer', newCustomer({ name: '=HYPERLINK("http://x")', optchat: true }))).body
  const bob = (
    await api.post('/api/add/customer', newCustomer({ name: '+1 Bob', email: 'b@example.com', phone: '@home' }))
  ).body
  await api.post('/api/add/product', {
    name: 'A',
    price: 0.1,
    purchased: '2024-01-01',
    customerid: ada.id,
    warranty: 1,
  })
  const second = (
    await api.post('/api/add/product', {
      name: 'B',
      price: 0.2,
      purchased: '2024-01-01',
      customerid: ada.id,
      warranty: 1,
    })
  ).body
  await api.post('/api/update/product', { id: second.id, price: 0.25 })

  const res = await download(app, '/api/customer/export')
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], XLSX_TYPE)
  t.match(res.headers['content-disposition'], /^attachment; filename="customers-\d{8}T\d{6}Z\.xlsx"$/)
  const { name, sheet } = sheetOf(res.rawPayload)
  t.equal(name, 'customers')
  const rows = XLSX.utils.sheet_to_json<unknown[]>(sheet, { header: 1, raw: true })
  t.same(rows[0], Object.keys(CustomerSchema.properties), 'row 1: the field names as the JSON API spells them')
  t.equal(rows.length, 3, 'a row per customer, in id order')
  const stored = (await api.get('/api/get/customer', { query: { id: ada.id } })).body
  t.equal(sheet.B2.t, 's')
  t.equal(sheet.B2.v, '=HYPERLINK("http://x")', 'formula-like text is text')
  t.notOk(sheet.B2.f, 'and never a formula')
  t.equal(sheet.B3.v, '+1 Bob')
  t.equal(sheet.E3.v, '@home')
  t.match(sheet.A2, { t: 'n', v: ada.id })
  t.match(sheet.F2, { t: 'b', v: false })
  t.match(sheet.H2, { t: 'b', v: true })
  t.match(sheet.J2, { t: 'n', v: 0.35 }, 'revenue after the price change, exact')
  t.equal(stored.revenue, 0.35)
  t.match(sheet.J3, { t: 'n', v: 0 })
  t.equal(sheet.K2.t, 'd', 'created is a date cell')
  t.ok(
    Math.abs((sheet.K2.v as Date).getTime() - Date.parse(stored.created)) <= 1,
    'the same time (a day fraction holds it to the millisecond)',
  )
  t.equal(sheet.K2.z, 'yyyy-mm-dd hh:mm:ss')
  t.equal(sheet.E2?.v, undefined, 'no phone: an empty cell')
  t.equal(bob.id, 2)
  const archive = XLSX.CFB.read(res.rawPayload, { type: 'buffer' })
  const entry =
    archive.FileIndex[archive.FullPaths.findIndex((path: string) => path.endsWith('xl/worksheets/sheet1.xml'))]!
  const sheetXml = Buffer.from(entry.content as Uint8Array).toString()
  t.match(
    sheetXml,
    /<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"\/>/,
    'the header row is frozen',
  )
  t.match(sheetXml, /<row r="1"><c t="inlineStr" s="1"><is><t>id<\/t>/, 'and bold')
  t.notMatch(sheetXml, /<f>/, 'no formula anywhere')
  const widths = (sheet['!cols'] ?? []).map((col) => col?.width ?? col?.wch)
  t.equal(widths.length, rows[0]!.length, 'every column has a width')
  t.equal(widths[3], newCustomer().address.length + 2, 'as wide as the longest address, with a margin')
})

t.test('an empty table gives the header row alone', async (t) => {
  const app = await build(t)
  for (const [url, schema] of [
    ['/api/customer/export', CustomerSchema],
    ['/api/product/export', ProductSchema],
  ] as const) {
    const res = await download(app, url)
    t.equal(res.statusCode, 200)
    const rows = XLSX.utils.sheet_to_json<unknown[]>(sheetOf(res.rawPayload).sheet, { header: 1 })
    t.same(rows, [Object.keys(schema.properties)], url)
  }
})

t.test('products as a workbook: dates as date cells, an unassigned product, money', async (t) => {
  const app = await build(t)
  const api = client(app)
  const ada = (await api.post('/api/add/customer', newCustomer())).body
  const kettle = (
    await api.post('/api/add/product', {
      name: 'Kettle',
      price: 19.99,
      purchased: '2024-02-29',
      customerid: ada.id,
      warranty: 1,
    })
  ).body
  await api.post('/api/update/product', { id: kettle.id, changeto: null })
  const res = await download(app, '/api/product/export')
  const { name, sheet } = sheetOf(res.rawPayload)
  t.equal(name, 'products')
  t.match(res.headers['content-disposition'], /filename="products-\d{8}T\d{6}Z\.xlsx"/)
  t.same(XLSX.utils.sheet_to_json<unknown[]>(sheet, { header: 1 })[0], Object.keys(ProductSchema.properties))
  t.match(sheet.C2, { t: 'n', v: 19.99, z: '0.00' })
  t.equal(sheet.D2.t, 'd')
  t.equal((sheet.D2.v as Date).toISOString().slice(0, 10), '2024-02-29')
  t.equal((sheet.F2.v as Date).toISOString().slice(0, 10), '2025-02-28', 'expires as the JSON API shows it')
  t.equal(sheet.G2?.v, undefined, 'customerid null: an empty cell')
})

t.test('CSV: a BOM, CRLF, quoting as RFC 4180, formula-like text neutralised', async (t) => {
  const app = await build(t)
  const api = client(app)
  await api.post('/api/add/customer', newCustomer({ name: "=cmd|' /C calc'!A0", address: 'Rue "Élysée",\nParis' }))
  await api.post('/api/add/customer', newCustomer({ name: '-2+3', email: 'b@example.com', phone: '@home' }))
  const res = await download(app, '/api/customer/export', { ...requester, format: 'csv' })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'text/csv; charset=utf-8')
  t.match(res.headers['content-disposition'], /filename="customers-\d{8}T\d{6}Z\.csv"/)
  const text = res.rawPayload.toString('utf8')
  t.ok(text.startsWith('\ufeffid,name,email,address,phone,'), 'a BOM, then the header')
  const lines = text.slice(1).split('\r\n')
  t.equal(lines.length, 4, 'header, two rows, and the final line break')
  t.match(lines[1], /^1,"'=cmd\|' \/C calc'!A0",ada@example\.com,"Rue ""Élysée"",\nParis",,false,false,false,active,0,/)
  t.match(
    lines[2],
    /^2,"'-2\+3",b@example\.com,"12 St James Square, London","'@home",false,false,false,active,0,[\d-]+T[\d:.]+Z,[\d-]+T[\d:.]+Z$/,
  )
  const parsed = XLSX.read(res.rawPayload, { type: 'buffer', raw: true })
  t.equal(XLSX.utils.sheet_to_json<unknown[]>(parsed.Sheets[parsed.SheetNames[0]!]!, { header: 1 }).length, 3)
})

t.test('the requester is required, in the query string or a JSON body', async (t) => {
  const app = await build(t)
  const api = client(app)
  const none = await api.get('/api/customer/export')
  t.equal(none.status, 400)
  t.same(none.body.errors.map((e: { field: string }) => e.field).sort(), ['email', 'name', 'surname'])
  const badEmail = await api.get('/api/product/export', { query: { ...requester, email: 'nope' } })
  t.equal(badEmail.status, 400)
  t.same(badEmail.body.errors, [{ field: 'email', message: 'must be an e-mail address' }])
  const badFormat = await api.get('/api/product/export', { query: { ...requester, format: 'pdf' } })
  t.equal(badFormat.status, 400)
  const viaBody = await app.inject({
    method: 'GET',
    url: '/api/customer/export',
    payload: requester,
    headers: { 'content-type': 'application/json' },
  })
  t.equal(viaBody.statusCode, 200)
  t.equal(viaBody.headers['content-type'], XLSX_TYPE)
  t.same(
    await app.db.selectFrom('export_records').select('email').execute(),
    [{ email: 'grace@example.com' }],
    'refused exports are not recorded',
  )
})

t.test('every export is recorded and logged; the records are listed newest first, paged', async (t) => {
  const app = await build(t)
  const api = client(app)
  await api.post('/api/add/customer', newCustomer())
  await download(app, '/api/customer/export')
  await download(app, '/api/product/export', { ...requester, format: 'csv', name: 'Ada' })
  const records = await api.get('/api/export/records')
  t.equal(records.status, 200)
  t.match(records.body, [
    {
      id: 2,
      kind: 'products',
      format: 'csv',
      name: 'Ada',
      surname: 'Hopper',
      email: 'grace@example.com',
      rows: 0,
      completed: true,
      requestid: String,
    },
    { id: 1, kind: 'customers', format: 'xlsx', name: 'Grace', rows: 1, completed: true },
  ])
  t.equal(records.body.length, 2)
  t.same(
    (await api.get('/api/export/records', { query: { limit: 1, offset: 1 } })).body.map((r: { id: number }) => r.id),
    [1],
  )
  const logged = app.logs().filter((line) => line.msg === 'export started')
  t.match(logged, [
    { export: 1, kind: 'customers', requester: { name: 'Grace', surname: 'Hopper', email: 'grace@example.com' } },
    { export: 2 },
  ])
  t.match(
    app.logs().filter((line) => line.msg === 'export sent'),
    [
      { export: 1, rows: 1 },
      { export: 2, rows: 0 },
    ],
  )
  t.equal(records.body[1].requestid, logged[0]!.reqId, 'the record names the request, as the logs do')
})

t.test('a client that goes away stops the export, and the record says so', async (t) => {
  const app = await build(t)
  // A file far larger (about 30 MB) than the socket buffers between client and server can hold,
  // so the export cannot be sent whole before the client's hang-up is seen, however busy the machine.
  const address = `${'A long street name, '.repeat(15)}Springfield`
  const rows = Array.from({ length: 100_000 }, (_, i) => ({
    name: `P${i}`,
    name_key: `p${i}`,
    email: `p${i}@example.com`,
    email_key: `p${i}@example.com`,
    address,
    phone: null,
    optphone: 0,
    optemail: 0,
    optchat: 0,
    status: 'active' as const,
    created: 'x',
    updated: 'x',
  }))
  for (let i = 0; i < rows.length; i += 500) await insertMany(app.db, 'customers', rows.slice(i, i + 500))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  // A client that reads the first bytes and hangs up: its socket is destroyed.
  await new Promise<void>((resolve, reject) => {
    const req = request(
      {
        port,
        path: '/api/customer/export?name=a&surname=b&email=c@example.com&format=csv',
        agent: false,
        headers: AS_ADMIN,
      },
      (res) => {
        res.once('data', () => {
          req.destroy()
          resolve()
        })
      },
    )
    // The hang-up may come back as an error too, after the promise is settled.
    req.on('error', () => undefined)
    req.once('error', reject)
    req.end()
  })
  for (let waited = 0; waited < 5000; waited += 50) {
    const [record] = await app.db.selectFrom('export_records').selectAll().execute()
    if (app.logs().some((line) => line.msg === 'export stopped')) {
      t.equal(record!.completed, 0, 'recorded as not completed')
      t.ok(record!.rows < 100_000, `stopped after ${record!.rows} rows`)
      return
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.fail('the export did not stop')
})

t.test('text no XML may hold, old dates, and formulas behind spaces', async (t) => {
  const app = await build(t)
  const api = client(app)
  const refused = await api.post('/api/add/customer', newCustomer({ name: 'A\uFFFEb' }))
  t.equal(refused.status, 400, 'U+FFFE is not text a person types')
  const time = new Date().toISOString()
  await app.db
    .insertInto('customers')
    .values({
      name: 'Old\uFFFFrow\u0001',
      name_key: 'old',
      email: 'old@example.com',
      email_key: 'old@example.com',
      address: ' =1+1',
      phone: null,
      optphone: 0,
      optemail: 0,
      optchat: 0,
      status: 'active',
      created: time,
      updated: time,
    })
    .execute()
  await app.db
    .insertInto('products')
    .values({
      name: 'Antique',
      name_key: 'antique',
      price_cents: 100,
      purchased: '1900-01-01',
      warranty: 0,
      customerid: null,
      created: time,
      updated: time,
    })
    .execute()
  const customers = sheetOf((await download(app, '/api/customer/export')).rawPayload).sheet
  t.equal(customers.B2.v, 'Old\uFFFDrow\uFFFD', 'characters XML cannot hold become U+FFFD; the file stays readable')
  const products = await download(app, '/api/product/export')
  const entries = XLSX.CFB.read(products.rawPayload, { type: 'buffer' })
  const sheet = entries.FileIndex[entries.FullPaths.findIndex((path: string) => path.endsWith('sheet1.xml'))]!
  t.match(Buffer.from(sheet.content as Uint8Array).toString(), /<c s="2"><v>1<\/v><\/c>/, '1900-01-01 is Excel day 1')
  const csv = (await download(app, '/api/customer/export', { ...requester, format: 'csv' })).rawPayload.toString()
  t.match(csv, /,"' =1\+1",/, 'a formula behind spaces is neutralised too')
})
