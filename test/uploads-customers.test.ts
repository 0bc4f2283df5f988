// Customer uploads: every format, every row rule, the exact report, and what is stored.
import t from 'tap'
import { build, client, newCustomer, type TestApp, upload, workbook } from './helper.js'

const stored = (app: TestApp) =>
  app.db
    .selectFrom('customers')
    .select(['id', 'name', 'email', 'address', 'phone', 'optemail', 'optphone', 'optchat', 'status'])
    .orderBy('id')
    .execute()

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

t.test('a CSV file with a BOM, CRLF line ends, quoted commas and line breaks: the exact report and rows', async (t) => {
  const app = await build(t)
  await client(app).post('/api/add/customer', newCustomer({ email: 'taken@example.com' }))
  const csv = [
    'Ada Lovelace,ada@example.com,"12 St James Square, London",+44 20 7946 0958,yes,No,Y,Active',
    'Grace Hopper,grace@example.com,"1 Navy Way\nArlington",,TRUE,false,0,inactive',
    '',
    'Bad Email,not-an-address,Somewhere',
    ',nobody@example.com,Somewhere',
    'No Address,noaddress@example.com',
    'Again Ada,ADA@EXAMPLE.COM,Elsewhere',
    'Taken,Taken@Example.com,Elsewhere',
    'Odd Flag,odd@example.com,Somewhere,,maybe',
    'Odd Status,status@example.com,Somewhere,,,,,gone',
    'Plain,plain@example.com,"Quoted ""Street"""',
    ',,,',
  ].join('\r\n')
  const res = await upload(app, '/upload/customers', {
    filename: 'customers.csv',
    content: `\ufeff${csv}\r\n`,
    field: 'custfile',
  })
  t.equal(res.status, 201)
  t.match(res.headers['content-type'], /^application\/json/)
  t.match(res.body.created, ISO)
  t.same(res.body, {
    id: 1,
    kind: 'customers',
    mode: 'insert',
    filename: 'customers.csv',
    rows: 10,
    inserted: 3,
    updated: 0,
    skipped: 7,
    errors: [
      { row: 4, reason: 'Email must be an e-mail address' },
      { row: 5, reason: 'Name is missing' },
      { row: 6, reason: 'Address is required' },
      { row: 7, reason: 'Email ADA@EXAMPLE.COM is already in row 1 of this file' },
      { row: 8, reason: 'Email Taken@Example.com belongs to a customer already stored (id 1)' },
      { row: 9, reason: 'OptEmail must be one of true, false, yes, no, y, n, 1 or 0, not "maybe"' },
      { row: 10, reason: 'Status must be equal to one of the allowed values: active, inactive, suspended' },
    ],
    created: res.body.created,
  })
  // Ids come from the database's sequence: a row it refused may have used one up.
  t.same(
    (await stored(app)).slice(1).map(({ id: _, ...row }) => row),
    [
      {
        name: 'Ada Lovelace',
        email: 'ada@example.com',
        address: '12 St James Square, London',
        phone: '+44 20 7946 0958',
        optemail: 1,
        optphone: 0,
        optchat: 1,
        status: 'active',
      },
      {
        name: 'Grace Hopper',
        email: 'grace@example.com',
        address: '1 Navy Way\nArlington',
        phone: null,
        optemail: 1,
        optphone: 0,
        optchat: 0,
        status: 'inactive',
      },
      {
        name: 'Plain',
        email: 'plain@example.com',
        address: 'Quoted "Street"',
        phone: null,
        optemail: 0,
        optphone: 0,
        optchat: 0,
        status: 'active',
      },
    ],
  )
  const ada = await client(app).get('/api/get/customer', { query: { id: 2 } })
  t.match(
    ada.body,
    { revenue: 0, created: res.body.created, updated: res.body.created },
    'a full record, stamped with the upload time',
  )

  const skipped = app.logs().filter((line) => line.msg === 'upload row skipped')
  t.same(
    skipped.map((line) => [line.row, line.reason, line.upload, line.filename]),
    res.body.errors.map((error: { row: number; reason: string }) => [error.row, error.reason, 1, 'customers.csv']),
    'every skipped row is logged with its row number and reason',
  )
})

t.test('duplicates far apart in a long file: the earlier row is named, in either mode', async (t) => {
  const app = await build(t)
  const api = client(app)
  const existing = (await api.post('/api/add/customer', newCustomer({ email: 'stored@example.com' }))).body
  const lines = Array.from({ length: 1500 }, (_, i) => `P${i},p${i}@example.com,Street`)
  lines[1] = 'Stored Again,STORED@example.com,Street'
  lines[1099] = 'Copy,P2@Example.com,Street'
  lines[1299] = 'Stored Twice,stored@example.com,Street'
  lines.push('Late,p1499@example.com,Street')
  const insert = await upload(app, '/upload/customers', { filename: 'long.csv', content: lines.join('\n') })
  t.match(insert.body, {
    rows: 1501,
    inserted: 1497,
    skipped: 4,
    errors: [
      { row: 2, reason: `Email STORED@example.com belongs to a customer already stored (id ${existing.id})` },
      { row: 1100, reason: 'Email P2@Example.com is already in row 3 of this file' },
      { row: 1300, reason: `Email stored@example.com belongs to a customer already stored (id ${existing.id})` },
      { row: 1501, reason: 'Email p1499@example.com is already in row 1500 of this file' },
    ],
  })
  const upsert = await upload(app, '/upload/customers?mode=upsert', { filename: 'long.csv', content: lines.join('\n') })
  t.match(upsert.body, {
    rows: 1501,
    inserted: 0,
    updated: 1498,
    skipped: 3,
    errors: [
      { row: 1100, reason: 'Email P2@Example.com is already in row 3 of this file' },
      { row: 1300, reason: 'Email stored@example.com is already in row 2 of this file' },
      { row: 1501, reason: 'Email p1499@example.com is already in row 1500 of this file' },
    ],
  })
  t.equal((await app.db.selectFrom('customers').select('id').execute()).length, 1498)
  t.equal(
    (await api.get('/api/get/customer', { query: { id: existing.id } })).body.name,
    'Stored Again',
    'the first row won',
  )
})

t.test('a .txt file is read as CSV; any field name works', async (t) => {
  const app = await build(t)
  const res = await upload(app, '/upload/customers', {
    filename: 'LIST.TXT',
    content: 'Ada,ada@example.com,London\n',
    field: 'whatever',
  })
  t.equal(res.status, 201)
  t.match(res.body, { filename: 'LIST.TXT', rows: 1, inserted: 1, skipped: 0, errors: [] })
  t.equal((await stored(app)).length, 1)
})

t.test('an XLSX workbook: a header row, real booleans, numbers as text, row numbers as Excel shows them', async (t) => {
  const app = await build(t)
  const file = workbook([
    ['NAME', 'Email', 'Address', 'Phone', 'OptEmail', 'OptPhone', 'OptChat', 'Status'],
    ['Ada Lovelace', 'ada@example.com', 'London', 442079460958, true, false, 1, 'active'],
    [],
    ['Grace Hopper', 'grace', 'Arlington'],
    ['  Padded  ', ' padded@example.com ', ' Somewhere ', null, 'n', 'YES', null, 'SUSPENDED'],
  ])
  const res = await upload(app, '/upload/customers', { filename: 'Customers.XLSX', content: file, field: 'custfile' })
  t.equal(res.status, 201)
  t.match(res.body, {
    kind: 'customers',
    rows: 3,
    inserted: 2,
    skipped: 1,
    errors: [{ row: 4, reason: 'Email must be an e-mail address' }],
  })
  t.same(await stored(app), [
    {
      id: 1,
      name: 'Ada Lovelace',
      email: 'ada@example.com',
      address: 'London',
      phone: '442079460958',
      optemail: 1,
      optphone: 0,
      optchat: 1,
      status: 'active',
    },
    {
      id: 2,
      name: 'Padded',
      email: 'padded@example.com',
      address: 'Somewhere',
      phone: null,
      optemail: 0,
      optphone: 1,
      optchat: 0,
      status: 'suspended',
    },
  ])
})

t.test('the server goes on answering while a workbook is read', async (t) => {
  const app = await build(t)
  const api = client(app)
  const rows = Array.from({ length: 20_000 }, (_, i) => [`P${i}`, `p${i}@example.com`, 'Street'])
  const file = workbook(rows)
  const order: string[] = []
  const uploading = upload(app, '/upload/customers', { filename: 'big.xlsx', content: file }).then((res) => {
    order.push('upload')
    return res
  })
  await new Promise((resolve) => setTimeout(resolve, 50))
  const answer = await api.get('/api/get/customer', { query: { name: 'nobody' } })
  order.push('get')
  t.equal(answer.status, 200)
  t.match((await uploading).body, { rows: 20_000, inserted: 20_000 })
  t.same(order, ['get', 'upload'], 'a lookup made during the upload is answered before it ends')
})

t.test('an XLS (Excel 97-2003) workbook, without a header row', async (t) => {
  const app = await build(t)
  const file = workbook([['Ada Lovelace', 'ada@example.com', 'London', '', false, true, false, 'active']], 'biff8')
  const res = await upload(app, '/upload/customers', { filename: 'old.xls', content: file })
  t.equal(res.status, 201)
  t.match(res.body, { rows: 1, inserted: 1, skipped: 0 })
  t.match(await stored(app), [{ name: 'Ada Lovelace', optemail: 0, optphone: 1, optchat: 0 }])
})

t.test('empty files and a header-only spreadsheet: a report of nothing, not an error', async (t) => {
  const app = await build(t)
  const empty = await upload(app, '/upload/customers', { filename: 'empty.csv', content: '' })
  t.equal(empty.status, 201)
  t.match(empty.body, { rows: 0, inserted: 0, updated: 0, skipped: 0, errors: [] })
  const blank = await upload(app, '/upload/customers', { filename: 'blank.csv', content: '\r\n\r\n,,,\r\n' })
  t.match(blank.body, { rows: 0, inserted: 0, skipped: 0 })
  const header = await upload(app, '/upload/customers', {
    filename: 'header.xlsx',
    content: workbook([['Name', 'Email', 'Address']]),
  })
  t.equal(header.status, 201)
  t.match(header.body, { rows: 0, inserted: 0, skipped: 0, errors: [] })
  t.same(await stored(app), [])
})

t.test('a CSV has no header row: a first line reading Name,Email is a row like any other', async (t) => {
  const app = await build(t)
  const res = await upload(app, '/upload/customers', {
    filename: 'c.csv',
    content: 'Name,Email,Address\nAda,ada@example.com,London\n',
  })
  t.match(res.body, {
    rows: 2,
    inserted: 1,
    skipped: 1,
    errors: [{ row: 1, reason: 'Email must be an e-mail address' }],
  })
})

t.test('a file whose rows are all bad stores nothing but its report', async (t) => {
  const app = await build(t)
  const lines = Array.from({ length: 1200 }, (_, i) => `Person ${i},person${i}-at-example.com,Street`)
  const res = await upload(app, '/upload/customers', { filename: 'bad.csv', content: lines.join('\n') })
  t.equal(res.status, 201)
  t.match(res.body, { rows: 1200, inserted: 0, skipped: 1200 })
  t.equal(res.body.errors.length, 1000, 'the report lists the first 1000 skipped rows')
  t.same(res.body.errors[999], { row: 1000, reason: 'Email must be an e-mail address' })
  t.same(await stored(app), [])
  t.equal(app.logs().filter((line) => line.msg === 'upload row skipped').length, 1200, 'all 1200 are logged')
})

t.test('mode=upsert updates the customer with the same e-mail address, with the cells the row gives', async (t) => {
  const app = await build(t)
  const api = client(app)
  const ada = (await api.post('/api/add/customer', newCustomer({ phone: '123', optchat: true, status: 'suspended' })))
    .body
  const content =
    'Ada King,ADA@example.com,,,yes\nNew Person,new@example.com,Street\nMissing Address,missing@example.com\n'
  const res = await upload(app, '/upload/customers?mode=upsert', { filename: 'up.csv', content })
  t.equal(res.status, 201)
  t.match(res.body, {
    mode: 'upsert',
    rows: 3,
    inserted: 1,
    updated: 1,
    skipped: 1,
    errors: [{ row: 3, reason: 'Address is required' }],
  })
  const after = (await api.get('/api/get/customer', { query: { id: ada.id } })).body
  t.same(
    after,
    {
      ...ada,
      name: 'Ada King',
      email: 'ADA@example.com',
      optemail: true,
      updated: after.updated,
    },
    'only the given cells changed: address, phone, optchat and status stayed',
  )
  t.not(after.updated, ada.updated)

  const viaForm = await upload(app, '/upload/customers', {
    filename: 'form.csv',
    content: 'Ada Lovelace,ada@example.com\n',
    fields: { mode: 'upsert' },
  })
  t.match(viaForm.body, { mode: 'upsert', updated: 1, inserted: 0, skipped: 0 }, 'the page sends mode as a form field')
  t.equal((await api.get('/api/get/customer', { query: { id: ada.id } })).body.name, 'Ada Lovelace')

  const insertMode = await upload(app, '/upload/customers', {
    filename: 'again.csv',
    content: 'X,ada@example.com,Street\n',
  })
  t.match(insertMode.body, { mode: 'insert', updated: 0, skipped: 1 })

  const bad = await upload(app, '/upload/customers?mode=merge', {
    filename: 'x.csv',
    content: 'X,x@example.com,Street\n',
  })
  t.equal(bad.status, 400)
  t.match(bad.body.errors, [{ field: 'mode' }])
  const badField = await upload(app, '/upload/customers', {
    filename: 'x.csv',
    content: 'X,x@example.com,S\n',
    fields: { mode: 'merge' },
  })
  t.equal(badField.status, 400)
  t.same(badField.body.errors, [{ field: 'mode', message: 'must be one of insert, upsert' }])
  t.equal((await stored(app)).length, 2)
})

t.test('the report is kept and can be fetched again by id, as JSON or as a page', async (t) => {
  const app = await build(t)
  const api = client(app)
  const report = (
    await upload(app, '/upload/customers', { filename: 'r.csv', content: 'A,a@example.com,S\nB,bad,S\n' })
  ).body
  const again = await api.get('/upload/report', { query: { id: report.id } })
  t.equal(again.status, 200)
  t.same(again.body, report)
  t.same((await api.get('/upload/report', { body: { id: String(report.id) } })).body, report)
  const missing = await api.get('/upload/report', { query: { id: 99 } })
  t.equal(missing.status, 404)
  t.equal(missing.body.detail, 'Upload report 99 does not exist.')
  const page = await app.inject({ url: `/upload/report?id=${report.id}`, headers: { accept: 'text/html' } })
  t.match(page.headers['content-type'], /^text\/html/)
  t.match(page.body, /<h1>Upload of r\.csv<\/h1>/)
})

t.test('a browser form post gets the report as a page, with the reasons escaped', async (t) => {
  const app = await build(t)
  const res = await upload(
    app,
    '/upload/customers',
    { filename: '<i>list.csv', content: 'A,a@example.com,S\n<script>x</script>,bad,S\n', field: 'custfile' },
    { headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' } },
  )
  t.equal(res.status, 201)
  t.match(res.headers['content-type'], /^text\/html/)
  t.match(res.text, /<h1>Upload of &lt;i&gt;list\.csv<\/h1>/)
  t.match(res.text, /<dt>Rows read<\/dt><dd>2<\/dd>/)
  t.match(res.text, /<dt>Stored as new<\/dt><dd>1<\/dd>/)
  t.match(res.text, /<dt>Skipped<\/dt><dd>1<\/dd>/)
  t.match(res.text, /<tr><td>2<\/td><td>Email must be an e-mail address<\/td><\/tr>/)
  t.match(res.text, /<a href="\/">Upload another file<\/a>/)
  t.notMatch(res.text, /<script>/)
})
