// Customer uploads: every format, every row rule, the exact report, and what is stored.
import t from 'tap'
import {
  build,
  client,
  customerRecord,
  newCustomer,
  pageParts,
  PROBLEM_JSON,
  problemBody,
  sameReport,
  type TestApp,
  upload,
  workbook,
} from './helper.js'

/** The title and main content of report 1's page: two rows read, one stored, row 2 skipped for its e-mail. */
const reportPageOf = (filename: string) => ({
  title: 'Upload report 1 · CRM API',
  main: [
    `<h1>Upload of ${filename}</h1>`,
    '<dl>',
    '<dt>Kind</dt><dd>Customers</dd>',
    '<dt>Rows read</dt><dd>2</dd>',
    '<dt>Stored as new</dt><dd>1</dd>',
    '<dt>Updated</dt><dd>0</dd>',
    '<dt>Skipped</dt><dd>1</dd>',
    '</dl>',
    '<h2>Skipped rows</h2>',
    '<table>',
    '<thead><tr><th scope="col">Row</th><th scope="col">Reason</th></tr></thead>',
    '<tbody>',
    '<tr><td>2</td><td>Email must be an e-mail address</td></tr>',
    '</tbody>',
    '</table>',
    '<p>Report number 1. <a href="/">Upload another file</a></p>',
    '',
  ].join('\n'),
})

const stored = (app: TestApp) =>
  app.db
    .selectFrom('customers')
    .select(['id', 'name', 'email', 'address', 'phone', 'optemail', 'optphone', 'optchat', 'status'])
    .orderBy('id')
    .execute()

/** A customer row stored by an upload, as `stored` reads it: no phone, no consent and active unless `fields` say so. */
const uploadedRow = (
  fields: { id: number; name: string; email: string; address: string } & Record<string, unknown>,
) => ({
  phone: null,
  optemail: 0,
  optphone: 0,
  optchat: 0,
  status: 'active',
  ...fields,
})

const UPLOAD_LINES = new Set(['upload started', 'upload row skipped', 'upload stored'])

/** The log lines of the uploads, without what differs from run to run (time, pid, host). */
const uploadLines = (app: TestApp) =>
  app
    .logs()
    .filter((line) => UPLOAD_LINES.has(line.msg as string))
    .map(({ time: _time, pid: _pid, hostname: _hostname, ...line }) => line)

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
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  const errors = [
    { row: 4, reason: 'Email must be an e-mail address' },
    { row: 5, reason: 'Name is missing' },
    { row: 6, reason: 'Address is required' },
    { row: 7, reason: 'Email ADA@EXAMPLE.COM is already in row 1 of this file' },
    { row: 8, reason: 'Email Taken@Example.com belongs to a customer already stored (id 1)' },
    { row: 9, reason: 'OptEmail must be one of true, false, yes, no, y, n, 1 or 0, not "maybe"' },
    { row: 10, reason: 'Status must be equal to one of the allowed values: active, inactive, suspended' },
  ]
  sameReport(t, res.body, {
    id: 1,
    kind: 'customers',
    mode: 'insert',
    filename: 'customers.csv',
    rows: 10,
    inserted: 3,
    updated: 0,
    skipped: 7,
    errors,
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
  t.same(
    ada.body,
    customerRecord(2, res.body.created, { phone: '+44 20 7946 0958', optemail: true, optchat: true }),
    'a full record, stamped with the upload time',
  )

  const request = { level: 30, reqId: res.headers['x-request-id'], key: 'API_KEY' }
  const logged = { ...request, upload: 1, kind: 'customers', filename: 'customers.csv' }
  t.same(
    uploadLines(app),
    [
      { ...request, kind: 'customers', filename: 'customers.csv', msg: 'upload started' },
      ...errors.map(({ row, reason }) => ({ ...logged, row, reason, msg: 'upload row skipped' })),
      { ...logged, rows: 10, inserted: 3, updated: 0, skipped: 7, msg: 'upload stored' },
    ],
    'every skipped row is logged with its row number and reason, then the counts',
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
  sameReport(t, insert.body, {
    id: 1,
    kind: 'customers',
    filename: 'long.csv',
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
  sameReport(t, upsert.body, {
    id: 2,
    kind: 'customers',
    mode: 'upsert',
    filename: 'long.csv',
    rows: 1501,
    updated: 1498,
    skipped: 3,
    errors: [
      { row: 1100, reason: 'Email P2@Example.com is already in row 3 of this file' },
      { row: 1300, reason: 'Email stored@example.com is already in row 2 of this file' },
      { row: 1501, reason: 'Email p1499@example.com is already in row 1500 of this file' },
    ],
  })
  t.equal((await app.db.selectFrom('customers').select('id').execute()).length, 1498)
  const skippedLines = [1, 1099, 1299, 1500]
  t.same(
    await app.db.selectFrom('customers').select(['name', 'email']).orderBy('id').execute(),
    [
      { name: 'Stored Again', email: 'STORED@example.com' },
      ...lines
        .filter((_, i) => !skippedLines.includes(i))
        .map((line) => {
          const [name, email] = line.split(',')
          return { name, email }
        }),
    ],
    'the stored customer as its first row in the file made it, then each address once, in file order',
  )
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
  sameReport(t, res.body, { id: 1, kind: 'customers', filename: 'LIST.TXT', rows: 1, inserted: 1 })
  t.same(await stored(app), [uploadedRow({ id: 1, name: 'Ada', email: 'ada@example.com', address: 'London' })])
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
  sameReport(t, res.body, {
    id: 1,
    kind: 'customers',
    filename: 'Customers.XLSX',
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
  // Written before the app starts: under load this blocks the process long enough for the app's pressure valve to
  // take the stall for an overloaded server and answer with 503.
  const file = workbook(Array.from({ length: 20_000 }, (_, i) => [`P${i}`, `p${i}@example.com`, 'Street']))
  const app = await build(t)
  const api = client(app)
  const order: string[] = []
  const uploading = upload(app, '/upload/customers', { filename: 'big.xlsx', content: file }).then((res) => {
    order.push('upload')
    return res
  })
  await new Promise((resolve) => setTimeout(resolve, 50))
  const answer = await api.get('/api/get/customer', { query: { name: 'nobody' } })
  order.push('get')
  t.equal(answer.status, 200)
  t.same(answer.body, [], 'nobody of that name')
  sameReport(t, (await uploading).body, {
    id: 1,
    kind: 'customers',
    filename: 'big.xlsx',
    rows: 20_000,
    inserted: 20_000,
  })
  t.same(order, ['get', 'upload'], 'a lookup made during the upload is answered before it ends')
})

t.test('an XLS (Excel 97-2003) workbook, without a header row', async (t) => {
  const app = await build(t)
  const file = workbook([['Ada Lovelace', 'ada@example.com', 'London', '', false, true, false, 'active']], 'biff8')
  const res = await upload(app, '/upload/customers', { filename: 'old.xls', content: file })
  t.equal(res.status, 201)
  sameReport(t, res.body, { id: 1, kind: 'customers', filename: 'old.xls', rows: 1, inserted: 1 })
  t.same(await stored(app), [
    uploadedRow({ id: 1, name: 'Ada Lovelace', email: 'ada@example.com', address: 'London', optphone: 1 }),
  ])
})

t.test('empty files and a header-only spreadsheet: a report of nothing, not an error', async (t) => {
  const app = await build(t)
  const empty = await upload(app, '/upload/customers', { filename: 'empty.csv', content: '' })
  t.equal(empty.status, 201)
  sameReport(t, empty.body, { id: 1, kind: 'customers', filename: 'empty.csv' })
  const blank = await upload(app, '/upload/customers', { filename: 'blank.csv', content: '\r\n\r\n,,,\r\n' })
  t.equal(blank.status, 201)
  sameReport(t, blank.body, { id: 2, kind: 'customers', filename: 'blank.csv' })
  const header = await upload(app, '/upload/customers', {
    filename: 'header.xlsx',
    content: workbook([['Name', 'Email', 'Address']]),
  })
  t.equal(header.status, 201)
  sameReport(t, header.body, { id: 3, kind: 'customers', filename: 'header.xlsx' })
  t.same(await stored(app), [])
})

t.test('a CSV has no header row: a first line reading Name,Email is a row like any other', async (t) => {
  const app = await build(t)
  const res = await upload(app, '/upload/customers', {
    filename: 'c.csv',
    content: 'Name,Email,Address\nAda,ada@example.com,London\n',
  })
  t.equal(res.status, 201)
  sameReport(t, res.body, {
    id: 1,
    kind: 'customers',
    filename: 'c.csv',
    rows: 2,
    inserted: 1,
    skipped: 1,
    errors: [{ row: 1, reason: 'Email must be an e-mail address' }],
  })
  t.same(await stored(app), [uploadedRow({ id: 1, name: 'Ada', email: 'ada@example.com', address: 'London' })])
})

t.test('a file whose rows are all bad stores nothing but its report', async (t) => {
  const app = await build(t)
  const lines = Array.from({ length: 1200 }, (_, i) => `Person ${i},person${i}-at-example.com,Street`)
  const res = await upload(app, '/upload/customers', { filename: 'bad.csv', content: lines.join('\n') })
  t.equal(res.status, 201)
  t.equal(res.body.errors.length, 1000, 'the report lists the first 1000 skipped rows')
  sameReport(t, res.body, {
    id: 1,
    kind: 'customers',
    filename: 'bad.csv',
    rows: 1200,
    skipped: 1200,
    errors: Array.from({ length: 1000 }, (_, i) => ({ row: i + 1, reason: 'Email must be an e-mail address' })),
  })
  t.same(await stored(app), [])
  const request = { level: 30, reqId: res.headers['x-request-id'], key: 'API_KEY' }
  const logged = { ...request, upload: 1, kind: 'customers', filename: 'bad.csv' }
  t.same(
    uploadLines(app),
    [
      { ...request, kind: 'customers', filename: 'bad.csv', msg: 'upload started' },
      ...lines.map((_, i) => ({
        ...logged,
        row: i + 1,
        reason: 'Email must be an e-mail address',
        msg: 'upload row skipped',
      })),
      { ...logged, rows: 1200, inserted: 0, updated: 0, skipped: 1200, msg: 'upload stored' },
    ],
    'all 1200 are logged',
  )
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
  sameReport(t, res.body, {
    id: 1,
    kind: 'customers',
    mode: 'upsert',
    filename: 'up.csv',
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
      updated: res.body.created,
    },
    'only the given cells changed: address, phone, optchat and status stayed; stamped with the upload time',
  )
  t.not(after.updated, ada.updated)

  const viaForm = await upload(app, '/upload/customers', {
    filename: 'form.csv',
    content: 'Ada Lovelace,ada@example.com\n',
    fields: { mode: 'upsert' },
  })
  sameReport(
    t,
    viaForm.body,
    { id: 2, kind: 'customers', mode: 'upsert', filename: 'form.csv', rows: 1, updated: 1 },
    'the page sends mode as a form field',
  )
  t.equal((await api.get('/api/get/customer', { query: { id: ada.id } })).body.name, 'Ada Lovelace')

  const insertMode = await upload(app, '/upload/customers', {
    filename: 'again.csv',
    content: 'X,ada@example.com,Street\n',
  })
  sameReport(t, insertMode.body, {
    id: 3,
    kind: 'customers',
    filename: 'again.csv',
    rows: 1,
    skipped: 1,
    errors: [{ row: 1, reason: `Email ada@example.com belongs to a customer already stored (id ${ada.id})` }],
  })

  const bad = await upload(app, '/upload/customers?mode=merge', {
    filename: 'x.csv',
    content: 'X,x@example.com,Street\n',
  })
  t.equal(bad.status, 400)
  t.equal(bad.headers['content-type'], PROBLEM_JSON)
  const notAMode = 'must be equal to one of the allowed values: insert, upsert'
  t.same(
    bad.body,
    problemBody(bad, 400, `The request has 1 invalid field: mode ${notAMode}.`, [{ field: 'mode', message: notAMode }]),
  )
  const badField = await upload(app, '/upload/customers', {
    filename: 'x.csv',
    content: 'X,x@example.com,S\n',
    fields: { mode: 'merge' },
  })
  t.equal(badField.status, 400)
  t.same(
    badField.body,
    problemBody(badField, 400, 'The request has 1 invalid field: mode must be one of insert, upsert.', [
      { field: 'mode', message: 'must be one of insert, upsert' },
    ]),
  )
  t.same(await stored(app), [
    uploadedRow({
      id: ada.id,
      name: 'Ada Lovelace',
      email: 'ada@example.com',
      address: '12 St James Square, London',
      phone: '123',
      optemail: 1,
      optchat: 1,
      status: 'suspended',
    }),
    uploadedRow({ id: ada.id + 1, name: 'New Person', email: 'new@example.com', address: 'Street' }),
  ])
})

t.test('the report is kept and can be fetched again by id, as JSON or as a page', async (t) => {
  const app = await build(t)
  const api = client(app)
  const report = (
    await upload(app, '/upload/customers', { filename: 'r.csv', content: 'A,a@example.com,S\nB,bad,S\n' })
  ).body
  sameReport(t, report, {
    id: 1,
    kind: 'customers',
    filename: 'r.csv',
    rows: 2,
    inserted: 1,
    skipped: 1,
    errors: [{ row: 2, reason: 'Email must be an e-mail address' }],
  })
  const again = await api.get('/upload/report', { query: { id: report.id } })
  t.equal(again.status, 200)
  t.same(again.body, report)
  t.same((await api.get('/upload/report', { body: { id: String(report.id) } })).body, report)
  const missing = await api.get('/upload/report', { query: { id: 99 } })
  t.equal(missing.status, 404)
  t.equal(missing.headers['content-type'], PROBLEM_JSON)
  t.same(missing.body, problemBody(missing, 404, 'Upload report 99 does not exist.'))
  const page = await app.inject({ url: `/upload/report?id=${report.id}`, headers: { accept: 'text/html' } })
  t.equal(page.statusCode, 200)
  t.equal(page.headers['content-type'], 'text/html; charset=utf-8')
  t.same(pageParts(page.body), reportPageOf('r.csv'))
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
  t.equal(res.headers['content-type'], 'text/html; charset=utf-8')
  t.same(pageParts(res.text), reportPageOf('&lt;i&gt;list.csv'))
  t.notMatch(res.text, /<script>/)
})

t.test('mode in the query string and in the form: the same value is taken, different ones are a 400', async (t) => {
  const app = await build(t)
  const content = 'Ada,ada@example.com,London\n'
  const conflict = await upload(app, '/upload/customers?mode=upsert', {
    filename: 'c.csv',
    content,
    fields: { mode: 'insert' },
  })
  const differs = 'is given in the query string and in the form, with different values'
  t.equal(conflict.status, 400)
  t.equal(conflict.headers['content-type'], PROBLEM_JSON)
  t.same(
    conflict.body,
    problemBody(conflict, 400, `The request has 1 invalid field: mode ${differs}.`, [
      { field: 'mode', message: differs },
    ]),
  )
  const badField = await upload(app, '/upload/customers?mode=upsert', {
    filename: 'c.csv',
    content,
    fields: { mode: 'merge' },
  })
  t.same(
    badField.body,
    problemBody(badField, 400, 'The request has 1 invalid field: mode must be one of insert, upsert.', [
      { field: 'mode', message: 'must be one of insert, upsert' },
    ]),
    'a form field the query string would have hidden is checked',
  )
  t.same(await stored(app), [], 'nothing stored')
  const same = await upload(app, '/upload/customers?mode=upsert', {
    filename: 'c.csv',
    content,
    fields: { mode: 'upsert' },
  })
  t.equal(same.status, 201)
  sameReport(t, same.body, { id: 1, kind: 'customers', mode: 'upsert', filename: 'c.csv', rows: 1, inserted: 1 })
})

t.test('a form with two mode fields is a 400 that says so', async (t) => {
  const app = await build(t)
  /** A form with `mode` given once for each of `modes`, then the file. */
  const twice = async (url: string, modes: string[]) => {
    const form = new FormData()
    for (const mode of modes) form.append('mode', mode)
    form.append('file', new Blob(['Ada,ada@example.com,London\n']), 'c.csv')
    const encoded = new Response(form)
    const response = await app.inject({
      method: 'POST',
      url,
      payload: Buffer.from(await encoded.arrayBuffer()),
      headers: { 'content-type': encoded.headers.get('content-type')! },
    })
    return { status: response.statusCode, headers: response.headers, body: response.json() }
  }
  const moreThanOnce = 'is given more than once'
  for (const [url, modes] of [
    ['/upload/customers', ['insert', 'upsert']],
    ['/upload/customers', ['upsert', 'upsert']],
    ['/upload/customers?mode=upsert', ['upsert', 'upsert']],
  ] as const) {
    const res = await twice(url, [...modes])
    t.equal(res.status, 400, `${url} with ${modes.join(' and ')}`)
    t.same(
      res.body,
      problemBody(res, 400, `The request has 1 invalid field: mode ${moreThanOnce}.`, [
        { field: 'mode', message: moreThanOnce },
      ]),
      `${url} with ${modes.join(' and ')}`,
    )
  }
  t.same(await stored(app), [], 'nothing stored')
  t.same(await app.db.selectFrom('upload_reports').select('id').execute(), [], 'no report stored')
})
