// Exports: every file read back with SheetJS, the CSV variant, the requester rule, and the audit records.
import { request } from 'node:http'
import { join } from 'node:path'
import type { Kysely } from 'kysely'
import t, { type Test } from 'tap'
import * as XLSX from 'xlsx'
import { CustomerSchema } from '../schemas/customer.js'
import { ProductSchema } from '../schemas/product.js'
import { insertMany } from '../src/db/bulk.js'
import { connect } from '../src/db/connect.js'
import { migratorOf } from '../src/db/migrate.js'
import { createKey } from '../src/services/keys.js'
import {
  AS_ADMIN,
  build,
  client,
  newCustomer,
  PROBLEM_JSON,
  problemBody,
  serve,
  tempFolder,
  type TestApp,
} from './helper.js'

const requester = { name: 'Grace', surname: 'Hopper', email: 'grace@example.com' }
const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

async function download(app: TestApp, url: string, query: Record<string, string> = requester) {
  const res = await app.inject({ url, query })
  return res
}

function sheetOf(t: Test, payload: Buffer) {
  const book = XLSX.read(payload, { cellDates: true, cellStyles: true })
  t.equal(book.SheetNames.length, 1, 'one sheet')
  return { name: book.SheetNames[0]!, sheet: book.Sheets[book.SheetNames[0]!]! }
}

/** The sheet's XML as the workbook holds it, unpacked but not parsed. */
function sheetXmlOf(payload: Buffer) {
  const archive = XLSX.CFB.read(payload, { type: 'buffer' })
  const entry =
    archive.FileIndex[archive.FullPaths.findIndex((path: string) => path.endsWith('xl/worksheets/sheet1.xml'))]!
  return Buffer.from(entry.content as Uint8Array).toString()
}

/** A UTC time as Excel stores it: days since 1899-12-30, the time of day as the fraction. */
const excelTime = (time: string) => (Date.parse(time) - Date.UTC(1899, 11, 30)) / 86_400_000

/** A time read back from its day fraction may be a millisecond off the one written. */
const sameInstant = (value: unknown, time: string) =>
  value instanceof Date && Math.abs(value.getTime() - Date.parse(time)) <= 1

/** The style SheetJS reads for every cell of an export: no fill. */
const PLAIN = { patternType: 'none' }
/** A text cell as SheetJS reads it; `html` is the text as the file's XML escapes it. */
const textCell = (text: string, html = text) => ({ t: 's', v: text, h: html, z: 'General', w: text, s: PLAIN })
const numberCell = (value: number) => ({ t: 'n', v: value, z: 'General', w: String(value), s: PLAIN })
const booleanCell = (value: boolean) => ({ t: 'b', v: value, z: 'General', w: value ? 'TRUE' : 'FALSE', s: PLAIN })
const moneyCell = (value: number) => ({ t: 'n', v: value, z: '0.00', w: value.toFixed(2), s: PLAIN })
const dateCell = (day: string) => ({ t: 'd', v: new Date(`${day}T00:00:00Z`), z: 'yyyy-mm-dd', w: day, s: PLAIN })
/** What an empty value leaves: a cell with no value. */
const EMPTY_CELL = { t: 'z', z: 'General', s: PLAIN }

/** A time cell apart from its value and its shown text, which depend on the time. */
function timeCellShape(t: Test, cell: XLSX.CellObject, time: string) {
  const { v: value, w: shown, ...shape } = cell
  t.strictSame(shape, { t: 'd', z: 'yyyy-mm-dd hh:mm:ss', s: PLAIN }, 'a date cell, shown to the second')
  t.ok(sameInstant(value, time), `${String(value)} is ${time}`)
  t.match(shown, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/)
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
  const { name, sheet } = sheetOf(t, res.rawPayload)
  t.equal(name, 'customers')
  const rows = XLSX.utils.sheet_to_json<unknown[]>(sheet, { header: 1, raw: true })
  t.strictSame(rows[0], Object.keys(CustomerSchema.properties), 'row 1: the field names as the JSON API spells them')
  t.equal(rows.length, 3, 'a row per customer, in id order')
  const stored = (await api.get('/api/get/customer', { query: { id: ada.id } })).body
  t.equal(stored.revenue, 0.35)
  t.equal(bob.id, 2)
  t.strictSame(
    rows.slice(1).map((row) => row.slice(0, 10)),
    [
      [
        1,
        '=HYPERLINK("http://x")',
        'ada@example.com',
        '12 St James Square, London',
        null,
        false,
        false,
        true,
        'active',
        0.35,
      ],
      [2, '+1 Bob', 'b@example.com', '12 St James Square, London', '@home', false, false, false, 'active', 0],
    ],
    'every value but the times, as the JSON API shows it',
  )
  for (const [row, record] of [
    [rows[1]!, stored],
    [rows[2]!, bob],
  ] as const) {
    t.ok(sameInstant(row[10], record.created), `created ${String(row[10])} is ${record.created}`)
    t.ok(sameInstant(row[11], record.updated), `updated ${String(row[11])} is ${record.updated}`)
  }
  t.strictSame(
    sheet.B2,
    textCell('=HYPERLINK("http://x")', '=HYPERLINK(&quot;http://x&quot;)'),
    'formula-like text is text, never a formula',
  )
  t.strictSame(sheet.B3, textCell('+1 Bob'))
  t.strictSame(sheet.E3, textCell('@home'))
  t.strictSame(sheet.A2, numberCell(ada.id))
  t.strictSame(sheet.F2, booleanCell(false))
  t.strictSame(sheet.H2, booleanCell(true))
  t.strictSame(sheet.J2, moneyCell(0.35), 'revenue after the price change, exact')
  t.strictSame(sheet.J3, moneyCell(0))
  timeCellShape(t, sheet.K2, stored.created)
  t.strictSame(sheet.E2, EMPTY_CELL, 'no phone: an empty cell')

  const sheetXml = sheetXmlOf(res.rawPayload)
  const text = (value: string) => `<c t="inlineStr"><is><t>${value}</t></is></c>`
  const time = (value: string) => `<c s="3"><v>${excelTime(value)}</v></c>`
  // Text columns are as wide as their longest value or name, the others as their type needs, each with a margin of 2.
  const widths = [11, 24, 17, 28, 7, 12, 12, 12, 8, 15, 22, 22]
  const cols = widths.map((width, i) => `<col min="${i + 1}" max="${i + 1}" width="${width}" customWidth="1"/>`)
  const header = Object.keys(CustomerSchema.properties).map(
    (field) => `<c t="inlineStr" s="1"><is><t>${field}</t></is></c>`,
  )
  t.equal(
    sheetXml,
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' +
      '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" ' +
      'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">' +
      '<sheetViews><sheetView workbookViewId="0">' +
      '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>' +
      '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>' +
      '<sheetFormatPr defaultRowHeight="15"/>' +
      `<cols>${cols.join('')}</cols>` +
      '<sheetData>' +
      `<row r="1">${header.join('')}</row>` +
      '<row r="2"><c><v>1</v></c>' +
      text('=HYPERLINK(&quot;http://x&quot;)') +
      text('ada@example.com') +
      text('12 St James Square, London') +
      '<c/><c t="b"><v>0</v></c><c t="b"><v>0</v></c><c t="b"><v>1</v></c>' +
      text('active') +
      '<c s="4"><v>0.35</v></c>' +
      time(stored.created) +
      time(stored.updated) +
      '</row>' +
      '<row r="3"><c><v>2</v></c>' +
      text('+1 Bob') +
      text('b@example.com') +
      text('12 St James Square, London') +
      text('@home') +
      '<c t="b"><v>0</v></c><c t="b"><v>0</v></c><c t="b"><v>0</v></c>' +
      text('active') +
      '<c s="4"><v>0</v></c>' +
      time(bob.created) +
      time(bob.updated) +
      '</row>' +
      '</sheetData></worksheet>',
    'the header row frozen and bold, the columns sized, text inline and never a formula',
  )
  t.notMatch(sheetXml, /<f>/, 'no formula anywhere')
  t.strictSame(
    (sheet['!cols'] ?? []).map((col) => col?.width ?? col?.wch),
    widths,
    'every column has a width: the address column as wide as the longest address, with a margin',
  )
})

t.test('an empty table gives the header row alone', async (t) => {
  const app = await build(t)
  for (const [url, schema] of [
    ['/api/customer/export', CustomerSchema],
    ['/api/product/export', ProductSchema],
  ] as const) {
    const res = await download(app, url)
    t.equal(res.statusCode, 200)
    const rows = XLSX.utils.sheet_to_json<unknown[]>(sheetOf(t, res.rawPayload).sheet, { header: 1 })
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
  const changed = (await api.post('/api/update/product', { id: kettle.id, changeto: null })).body
  const res = await download(app, '/api/product/export')
  const { name, sheet } = sheetOf(t, res.rawPayload)
  t.equal(name, 'products')
  t.match(res.headers['content-disposition'], /^attachment; filename="products-\d{8}T\d{6}Z\.xlsx"$/)
  const rows = XLSX.utils.sheet_to_json<unknown[]>(sheet, { header: 1, raw: true })
  t.strictSame(rows[0], Object.keys(ProductSchema.properties))
  t.strictSame(
    rows.slice(1).map((row) => row.slice(0, 7)),
    [[1, 'Kettle', 19.99, new Date('2024-02-29T00:00:00Z'), 1, new Date('2025-02-28T00:00:00Z'), null]],
    'every value but the times, as the JSON API shows it',
  )
  t.ok(sameInstant(rows[1]![7], changed.created), `created ${String(rows[1]![7])} is ${changed.created}`)
  t.ok(sameInstant(rows[1]![8], changed.updated), `updated ${String(rows[1]![8])} is ${changed.updated}`)
  t.strictSame(sheet.C2, moneyCell(19.99))
  t.strictSame(sheet.D2, dateCell('2024-02-29'))
  t.strictSame(sheet.F2, dateCell('2025-02-28'), 'expires as the JSON API shows it')
  t.strictSame(sheet.G2, EMPTY_CELL, 'customerid null: an empty cell')
  timeCellShape(t, sheet.I2, changed.updated)
})

t.test('CSV: a BOM, CRLF, quoting as RFC 4180, formula-like text neutralised', async (t) => {
  const app = await build(t)
  const api = client(app)
  const ada = (
    await api.post('/api/add/customer', newCustomer({ name: "=cmd|' /C calc'!A0", address: 'Rue "Élysée",\nParis' }))
  ).body
  const bob = (
    await api.post('/api/add/customer', newCustomer({ name: '-2+3', email: 'b@example.com', phone: '@home' }))
  ).body
  const res = await download(app, '/api/customer/export', { ...requester, format: 'csv' })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'text/csv; charset=utf-8')
  t.match(res.headers['content-disposition'], /^attachment; filename="customers-\d{8}T\d{6}Z\.csv"$/)
  t.equal(
    res.rawPayload.toString('utf8'),
    [
      '\ufeffid,name,email,address,phone,optphone,optemail,optchat,status,revenue,created,updated',
      `1,"'=cmd|' /C calc'!A0",ada@example.com,"Rue ""Élysée"",\nParis",,false,false,false,active,0,${ada.created},${ada.updated}`,
      `2,"'-2+3",b@example.com,"12 St James Square, London","'@home",false,false,false,active,0,${bob.created},${bob.updated}`,
      '',
    ].join('\r\n'),
    'a BOM, the header, a line per customer and a final line break',
  )
  const parsed = XLSX.read(res.rawPayload, { type: 'buffer', raw: true })
  t.strictSame(
    XLSX.utils.sheet_to_json<unknown[]>(parsed.Sheets[parsed.SheetNames[0]!]!, { header: 1 }),
    [
      Object.keys(CustomerSchema.properties),
      [
        '1',
        "'=cmd|' /C calc'!A0",
        'ada@example.com',
        'Rue "Élysée",\nParis',
        null,
        'false',
        'false',
        'false',
        'active',
        '0',
        ada.created,
        ada.updated,
      ],
      [
        '2',
        "'-2+3",
        'b@example.com',
        '12 St James Square, London',
        "'@home",
        'false',
        'false',
        'false',
        'active',
        '0',
        bob.created,
        bob.updated,
      ],
    ],
    'a spreadsheet reads it back field by field',
  )
})

t.test('the requester is required, in the query string or a JSON body', async (t) => {
  const app = await build(t)
  const api = client(app)
  const none = await api.get('/api/customer/export')
  t.equal(none.status, 400)
  t.equal(none.headers['content-type'], PROBLEM_JSON)
  t.same(
    none.body,
    problemBody(
      none,
      400,
      'The request has 3 invalid fields: name is required; surname is required; email is required.',
      ['name', 'surname', 'email'].map((field) => ({ field, message: 'is required' })),
    ),
  )
  const badEmail = await api.get('/api/product/export', { query: { ...requester, email: 'nope' } })
  t.equal(badEmail.status, 400)
  t.same(
    badEmail.body,
    problemBody(badEmail, 400, 'The request has 1 invalid field: email must be an e-mail address.', [
      { field: 'email', message: 'must be an e-mail address' },
    ]),
  )
  const badFormat = await api.get('/api/product/export', { query: { ...requester, format: 'pdf' } })
  t.equal(badFormat.status, 400)
  t.same(
    badFormat.body,
    problemBody(
      badFormat,
      400,
      'The request has 1 invalid field: format must be equal to one of the allowed values: xlsx, csv.',
      [{ field: 'format', message: 'must be equal to one of the allowed values: xlsx, csv' }],
    ),
  )
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

t.test('every export is recorded with the key that ran it, and logged; listed newest first, paged', async (t) => {
  const app = await build(t)
  const api = client(app)
  await api.post('/api/add/customer', newCustomer())
  const grace = await createKey(app.db, 'Grace', 'admin')
  const first = await download(app, '/api/customer/export')
  const second = await app.inject({
    url: '/api/product/export',
    query: { ...requester, format: 'csv', name: 'Ada' },
    headers: { authorization: `Bearer ${grace.key}` },
  })
  t.equal(second.statusCode, 200)
  const [firstId, secondId] = [first, second].map((res) => res.headers['x-request-id'])
  const records = await api.get('/api/export/records')
  t.equal(records.status, 200)
  t.match(records.body[0]?.created, ISO)
  t.match(records.body[1]?.created, ISO)
  t.ok(records.body[1].created <= records.body[0].created, 'the newer first')
  t.same(records.body, [
    {
      id: 2,
      kind: 'products',
      format: 'csv',
      name: 'Ada',
      surname: 'Hopper',
      email: 'grace@example.com',
      keyid: grace.id,
      keyprefix: grace.prefix,
      keyrole: 'admin',
      rows: 0,
      completed: true,
      requestid: secondId,
      created: records.body[0].created,
    },
    {
      id: 1,
      kind: 'customers',
      format: 'xlsx',
      name: 'Grace',
      surname: 'Hopper',
      email: 'grace@example.com',
      keyid: null,
      keyprefix: 'API_KEY',
      keyrole: 'admin',
      rows: 1,
      completed: true,
      requestid: firstId,
      created: records.body[1].created,
    },
  ])
  t.same(
    (await api.get('/api/export/records', { query: { limit: 1, offset: 1 } })).body.map((r: { id: number }) => r.id),
    [1],
  )
  const logged = app
    .logs()
    .filter((line) => line.msg === 'export started' || line.msg === 'export sent')
    .map(({ time: _time, pid: _pid, hostname: _hostname, ...line }) => line)
  const byApiKey = { level: 30, reqId: firstId, key: 'API_KEY', export: 1, kind: 'customers', format: 'xlsx' }
  const byGrace = { level: 30, reqId: secondId, key: grace.prefix, export: 2, kind: 'products', format: 'csv' }
  t.same(
    logged,
    [
      { ...byApiKey, requester, msg: 'export started' },
      { ...byApiKey, rows: 1, msg: 'export sent' },
      { ...byGrace, requester: { ...requester, name: 'Ada' }, msg: 'export started' },
      { ...byGrace, rows: 0, msg: 'export sent' },
    ],
    'each export logged as it starts and as it ends, under its request id and key, as the record names them',
  )
})

t.test('exports recorded before keys were: listed with no key', async (t) => {
  const filename = join(tempFolder(t, 'exports'), 'crm.sqlite')
  const before = connect(filename)
  t.equal(
    (await (await migratorOf(before)).migrateTo('20261129_004_api_keys')).error,
    undefined,
    'a database as it was',
  )
  const created = '2026-11-29T15:44:42.123Z'
  const old = { kind: 'customers', format: 'xlsx', ...requester, rows: 3, completed: 1, requestid: 'req-1', created }
  await (before as Kysely<any>).insertInto('export_records').values(old).execute()
  await before.destroy()
  const app = await build(t, { DATABASE_URL: filename })
  const records = await client(app).get('/api/export/records')
  t.same(records.body, [{ ...old, id: 1, completed: true, keyid: null, keyprefix: null, keyrole: null }])
})

for (const format of ['csv', 'xlsx'] as const) {
  t.test(`a client that goes away stops the export (${format}), and the record says so`, async (t) => {
    const { app, port } = await serve(t)
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
    // A client that reads the first bytes and hangs up: its socket is destroyed.
    const requestId = await new Promise<string>((resolve, reject) => {
      const req = request(
        {
          port,
          path: `/api/customer/export?name=a&surname=b&email=c@example.com&format=${format}`,
          agent: false,
          headers: AS_ADMIN,
        },
        (res) => {
          res.once('data', () => {
            req.destroy()
            resolve(String(res.headers['x-request-id']))
          })
        },
      )
      // The hang-up may come back as an error too, after the promise is settled.
      req.on('error', () => undefined)
      req.once('error', reject)
      req.end()
    })
    for (let waited = 0; waited < 5000; waited += 50) {
      // The line is written once the record is updated: read in this order, the two agree.
      const stopped = app.logs().find((line) => line.msg === 'export stopped')
      if (stopped) {
        const records = await app.db.selectFrom('export_records').selectAll().execute()
        const [record] = records
        t.match(record?.created, ISO)
        t.same(
          records,
          [
            {
              id: 1,
              kind: 'customers',
              format,
              name: 'a',
              surname: 'b',
              email: 'c@example.com',
              keyid: null,
              keyprefix: 'API_KEY',
              keyrole: 'admin',
              rows: record!.rows,
              completed: 0,
              requestid: requestId,
              created: record!.created,
            },
          ],
          'recorded as not completed',
        )
        t.ok(record!.rows < 100_000, `stopped after ${record!.rows} rows`)
        const { time: _time, pid: _pid, hostname: _hostname, ...line } = stopped
        t.same(
          line,
          {
            level: 40,
            reqId: requestId,
            key: 'API_KEY',
            export: 1,
            kind: 'customers',
            format,
            rows: record!.rows,
            reason: 'the download was closed',
            msg: 'export stopped',
          },
          'logged as a warning, with the rows sent',
        )
        return
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    t.fail('the export did not stop')
  })
}

t.test('text no XML may hold, old dates, and formulas behind spaces', async (t) => {
  const app = await build(t)
  const api = client(app)
  const refused = await api.post('/api/add/customer', newCustomer({ name: 'A\uFFFEb' }))
  t.equal(refused.status, 400, 'U+FFFE is not text a person types')
  const notText =
    'must be text on one line with a visible character, without control characters or text direction controls'
  t.same(
    refused.body,
    problemBody(refused, 400, `The request has 1 invalid field: name ${notText}.`, [
      { field: 'name', message: notText },
    ]),
  )
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
  const customers = sheetOf(t, (await download(app, '/api/customer/export')).rawPayload).sheet
  t.strictSame(
    customers.B2,
    textCell('Old\uFFFDrow\uFFFD'),
    'characters XML cannot hold become U+FFFD; the file stays readable',
  )
  const products = sheetXmlOf((await download(app, '/api/product/export')).rawPayload)
  t.equal(
    /<row r="2">.*?<\/row>/.exec(products)?.[0],
    '<row r="2"><c><v>1</v></c><c t="inlineStr"><is><t>Antique</t></is></c><c s="4"><v>1</v></c>' +
      '<c s="2"><v>1</v></c><c><v>0</v></c><c s="2"><v>1</v></c><c/>' +
      `<c s="3"><v>${excelTime(time)}</v></c><c s="3"><v>${excelTime(time)}</v></c></row>`,
    '1900-01-01 is Excel day 1, as purchased and as expiry',
  )
  const csv = (await download(app, '/api/customer/export', { ...requester, format: 'csv' })).rawPayload.toString()
  t.equal(
    csv,
    '\ufeffid,name,email,address,phone,optphone,optemail,optchat,status,revenue,created,updated\r\n' +
      `1,Old\uFFFFrow\u0001,old@example.com,"' =1+1",,false,false,false,active,0,${time},${time}\r\n`,
    'a formula behind spaces is neutralised too',
  )
})
