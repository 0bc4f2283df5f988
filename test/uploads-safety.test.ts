// Upload safety: files too large or not what they claim, bombs, and nothing stored when refused.
import { readdirSync } from 'node:fs'
import t, { type Test } from 'tap'
import * as XLSX from 'xlsx'
import { isPostgres } from '../src/db/connect.js'
import { SPREADSHEET_LIMITS } from '../src/imports/read.js'
import { documentedFetch } from './documented.js'
import {
  AS_ADMIN,
  build,
  client,
  excelDate,
  formData,
  pageParts,
  PROBLEM_JSON,
  problemBody,
  type Reply,
  sameReport,
  serve,
  tempFolder,
  type TestApp,
  upload,
  type UploadFile,
  workbook,
} from './helper.js'

// The details of the refusals that several files share, each naming the file.
const notRead = (filename: string) => `"${filename}" is not a file this upload reads: send .csv, .txt, .xlsx, .xls.`
const notUtf8 = (filename: string) => `"${filename}" is not UTF-8 text, so it is not a CSV file this upload reads.`
const tooLong = (filename: string) => `"${filename}" has a row longer than 1 MB, as when a quote is never closed.`

/** The problem a refused upload answers with, whole, in JSON. */
function refusedWith(t: Test, res: Reply, status: number, detail: string, message = 'refused') {
  t.equal(res.status, status, message)
  t.equal(res.headers['content-type'], PROBLEM_JSON)
  t.same(res.body, problemBody(res, status, detail), message)
}

/** Nothing of a refused upload is stored: no rows, no report. */
async function nothingStored(t: Test, app: TestApp) {
  t.same(await app.db.selectFrom('customers').select('id').execute(), [], 'no customer stored')
  t.same(await app.db.selectFrom('products').select('id').execute(), [], 'no product stored')
  t.same(await app.db.selectFrom('upload_reports').select('id').execute(), [], 'no report stored')
}

/** The server still answers normally afterwards. */
async function stillHealthy(t: Test, app: TestApp) {
  const res = await upload(app, '/upload/customers', { filename: 'ok.csv', content: 'Ada,ada@example.com,London\n' })
  t.equal(res.status, 201, 'a good upload still works')
  // The first report. On SQLite a refused upload's transaction gave back the id it took, too;
  // PostgreSQL's sequences never give an id back, so there the first report's id may be a later one.
  const id = isPostgres(app.db) ? res.body.id : 1
  t.ok(id >= 1, `report ${id}`)
  sameReport(t, res.body, { id, kind: 'customers', filename: 'ok.csv', rows: 1, inserted: 1 })
}

t.test('a file over UPLOAD_MAX_BYTES is 413; nothing stored; the server stays healthy', async (t) => {
  const app = await build(t, { UPLOAD_MAX_BYTES: 1000 })
  const content = Array.from({ length: 100 }, (_, i) => `P${i},p${i}@example.com,Street`).join('\n')
  t.ok(content.length > 1000)
  const res = await upload(app, '/upload/customers', { filename: 'big.csv', content })
  refusedWith(t, res, 413, '"big.csv" is larger than the 1000 bytes an upload may be (UPLOAD_MAX_BYTES).')
  await nothingStored(t, app)
  await stillHealthy(t, app)
})

t.test('415 for an unknown extension or content that does not match it; nothing stored', async (t) => {
  const app = await build(t)
  const cases: [string, string | Buffer, string][] = [
    ['notes.pdf', '%PDF-1.4', notRead('notes.pdf')],
    ['noextension', 'Ada,ada@example.com,x', notRead('noextension')],
    [
      'list.xlsx',
      'Ada,ada@example.com,London\n',
      '"list.xlsx" is not an Excel workbook (.xlsx), though its name says so.',
    ],
    [
      'list.xls',
      workbook([['Ada', 'ada@example.com', 'London']]),
      '"list.xls" is not an Excel 97-2003 workbook (.xls), though its name says so.',
    ],
    ['list.csv', workbook([['Ada', 'ada@example.com', 'London']]), notUtf8('list.csv')],
    ['latin1.csv', Buffer.from('Ad\xe9le,adele@example.com,Paris\n', 'latin1'), notUtf8('latin1.csv')],
    ['empty.xlsx', '', '"empty.xlsx" is not an Excel workbook (.xlsx), though its name says so.'],
    [
      'zip.xlsx',
      Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(100)]),
      '"zip.xlsx" could not be read as an Excel workbook.',
    ],
  ]
  for (const [filename, content, detail] of cases) {
    refusedWith(t, await upload(app, '/upload/customers', { filename, content }), 415, detail, filename)
  }
  await nothingStored(t, app)
  await stillHealthy(t, app)
})

t.test('bytes that are not UTF-8 deep inside a CSV: 415, and the rows before them are rolled back', async (t) => {
  const app = await build(t)
  const good = Array.from({ length: 3000 }, (_, i) => `P${i},p${i}@example.com,Street`).join('\n')
  t.ok(good.length > 64 * 1024, 'past the part checked before reading')
  const content = Buffer.concat([
    Buffer.from(`${good}\n`),
    Buffer.from([0xc3, 0x28]),
    Buffer.from(',x@example.com,S\n'),
  ])
  const res = await upload(app, '/upload/customers', { filename: 'late.csv', content })
  refusedWith(t, res, 415, notUtf8('late.csv'))
  await nothingStored(t, app)
})

t.test(
  'a quote never closed, or a row of megabytes: 415 with the row, nothing stored, no file left open',
  async (t) => {
    const app = await build(t)
    const openFiles = () => readdirSync('/proc/self/fd').length
    const before = openFiles()
    const unclosed = await upload(app, '/upload/customers', {
      filename: 'quote.csv',
      content: 'Ann,ann@example.com,Street\nBob,"bob@example.com,Street\nCid,cid@example.com,Street\n',
    })
    refusedWith(t, unclosed, 415, '"quote.csv" has a quote that is never closed, in row 2.')
    const long = await upload(app, '/upload/customers', {
      filename: 'long.csv',
      content: `Ann,ann@example.com,${'x'.repeat(2 * 1024 * 1024)}\n`,
    })
    refusedWith(t, long, 415, tooLong('long.csv'))
    const quotedLong = await upload(app, '/upload/customers', {
      filename: 'quoted.csv',
      content: `Ann,ann@example.com,"${'line\n'.repeat(300_000)}"\n`,
    })
    refusedWith(t, quotedLong, 415, tooLong('quoted.csv'), 'line breaks inside quotes do not end a row')
    for (let i = 0; i < 5; i++) {
      const late = Buffer.concat([Buffer.from(`${'P,p@example.com,S\n'.repeat(5000)}`), Buffer.from([0xff, 0x0a])])
      refusedWith(
        t,
        await upload(app, '/upload/customers', { filename: 'late.csv', content: late }),
        415,
        notUtf8('late.csv'),
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
    t.ok(openFiles() <= before + 1, `no file left open (${before} before, ${openFiles()} after)`)
    await nothingStored(t, app)
    await stillHealthy(t, app)
  },
)

t.test('a workbook made to explode when unpacked is refused (413) before it is parsed', async (t) => {
  const app = await build(t)
  const limit = SPREADSHEET_LIMITS.inflatedBytes
  SPREADSHEET_LIMITS.inflatedBytes = 1024 * 1024
  t.teardown(() => {
    SPREADSHEET_LIMITS.inflatedBytes = limit
  })
  // A real workbook whose sheet is followed by 4 MB of spaces: a few KB packed, too much unpacked.
  const file = workbook([['Ada', 'ada@example.com', 'London']])
  const bomb = zipWith(file, 'xl/worksheets/sheet1.xml', Buffer.alloc(4 * 1024 * 1024, ' '))
  t.ok(bomb.length < 100_000, `small on the wire (${bomb.length} bytes)`)
  const res = await upload(app, '/upload/customers', { filename: 'bomb.xlsx', content: bomb })
  refusedWith(t, res, 413, '"bomb.xlsx" unpacks to more than 1 MB; save it as CSV, or split it into smaller workbooks.')
  await nothingStored(t, app)
  await stillHealthy(t, app)
})

t.test('a sheet with a million empty rows and one far below: read within bounds', async (t) => {
  // Writing each workbook blocks this process for seconds: done before the app starts, so that its
  // pressure valve does not take the stall for an overloaded server and answer the upload with 503.
  const tall = sheetWith(['Ada', 'ada@example.com', 'London'], ['Far', 'far@example.com', 'Away'], 'A1048576')
  const beyond = sheetWith(
    ['Ada', 'ada2@example.com', 'London'],
    ['Next', 'next@example.com', 'Away'],
    `A${SPREADSHEET_LIMITS.rows + 1}`,
  )
  const app = await build(t)
  const res = await upload(app, '/upload/customers', { filename: 'tall.xlsx', content: tall })
  t.equal(res.status, 201)
  sameReport(
    t,
    res.body,
    { id: 1, kind: 'customers', filename: 'tall.xlsx', rows: 1, inserted: 1 },
    `rows past ${SPREADSHEET_LIMITS.rows + 1} are not read`,
  )

  const tooMany = await upload(app, '/upload/customers', { filename: 'over.xlsx', content: beyond })
  refusedWith(
    t,
    tooMany,
    413,
    '"over.xlsx" has more than 1,000,000 rows; split it into smaller files.',
    'a row just past the bound is refused, not dropped',
  )
  t.same(
    await app.db.selectFrom('customers').select(['id', 'name', 'email']).execute(),
    [{ id: 1, name: 'Ada', email: 'ada@example.com' }],
    'the first workbook stored its first row alone',
  )
})

/** A workbook whose sheet holds `first` in row 1 and `far` at the cell `origin`, with nothing between. */
function sheetWith(first: string[], far: string[], origin: string): Buffer {
  const sheet = XLSX.utils.aoa_to_sheet([first])
  XLSX.utils.sheet_add_aoa(sheet, [far], { origin })
  const book = XLSX.utils.book_new()
  XLSX.utils.book_append_sheet(book, sheet, 'Sheet1')
  return XLSX.write(book, { type: 'buffer', bookType: 'xlsx', compression: true }) as Buffer
}

t.test('a number that is not a date cell is no purchase date', async (t) => {
  const app = await build(t)
  const res = await upload(app, '/upload/products', {
    filename: 'p.xlsx',
    content: workbook([
      ['Lamp', 5, 2024],
      ['Kettle', 5, excelDate('2024-02-29')],
    ]),
  })
  t.equal(res.status, 201)
  sameReport(t, res.body, {
    id: 1,
    kind: 'products',
    filename: 'p.xlsx',
    rows: 2,
    inserted: 1,
    skipped: 1,
    errors: [{ row: 1, reason: 'Purchased must be a date written YYYY-MM-DD, in the years 1900 to 2999' }],
  })
})

t.test('an upload that is not a multipart form, or holds no file', async (t) => {
  const app = await build(t)
  const json = await client(app).post('/upload/customers', { name: 'Ada' })
  refusedWith(t, json, 415, 'An upload is a multipart/form-data form holding one file.')
  const { payload, contentType } = await formData({ filename: 'x.csv', content: 'x' })
  const noFile = await app.inject({
    method: 'POST',
    url: '/upload/customers',
    payload: Buffer.from(
      payload.toString().replace(/; filename="x\.csv"\r\nContent-Type: application\/octet-stream/, ''),
    ),
    headers: { 'content-type': contentType },
  })
  t.equal(noFile.statusCode, 400)
  t.same(
    noFile.json(),
    problemBody(noFile, 400, 'The request has 1 invalid field: (body) must hold a file.', [
      { field: '(body)', message: 'must hold a file' },
    ]),
  )
  // A form submitted without choosing a file: the file part is there, with no name and no content.
  const noneChosen = await upload(app, '/upload/customers', { filename: '', content: '' })
  t.equal(noneChosen.status, 400)
  t.same(
    noneChosen.body,
    problemBody(noneChosen, 400, 'The request has 1 invalid field: (body) must hold a file: none was chosen.', [
      { field: '(body)', message: 'must hold a file: none was chosen' },
    ]),
  )
  const nameless = await upload(app, '/upload/customers', { filename: '', content: 'Ada,ada@example.com,London\n' })
  refusedWith(t, nameless, 415, notRead(''), 'a file without a name cannot say what it is')
  const longName = await upload(app, '/upload/customers', {
    filename: `${'x'.repeat(252)}.csv`,
    content: 'Ada,ada@example.com,London\n',
  })
  t.equal(longName.status, 400, 'a file name over 255 characters is refused')
  const nameTooLong = 'must hold a file whose name is at most 255 characters long'
  t.same(
    longName.body,
    problemBody(longName, 400, `The request has 1 invalid field: (body) ${nameTooLong}.`, [
      { field: '(body)', message: nameTooLong },
    ]),
  )
  const longest = await upload(app, '/upload/customers', {
    filename: `${'x'.repeat(251)}.csv`,
    content: 'Ada,ada@example.com,London\n',
  })
  t.equal(longest.status, 201, 'one of 255 is taken')
  sameReport(t, longest.body, { id: 1, kind: 'customers', filename: `${'x'.repeat(251)}.csv`, rows: 1, inserted: 1 })
  await app.db.deleteFrom('customers').execute()
  await app.db.deleteFrom('upload_reports').execute()
  await nothingStored(t, app)
})

t.test('a browser that posted the form reads a refusal as a page', async (t) => {
  const app = await build(t)
  const res = await upload(
    app,
    '/upload/products',
    { filename: 'photo.png', content: 'png', field: 'prodfile' },
    { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } },
  )
  t.equal(res.status, 415)
  t.equal(res.headers['content-type'], 'text/html; charset=utf-8')
  t.same(pageParts(res.text), {
    title: 'Unsupported Media Type · CRM API',
    main: [
      '<h1>Unsupported Media Type</h1>',
      '<p>&quot;photo.png&quot; is not a file this upload reads: send .csv, .txt, .xlsx, .xls.</p>',
      '<p>Nothing was stored. <a href="/">Back to the upload page</a></p>',
      '',
    ].join('\n'),
  })
  await nothingStored(t, app)
})

/**
 * The same ZIP archive with `extra` appended to the deflated content of entry `name`: the entry
 * then unpacks to its own bytes followed by `extra`, while it stays small when packed.
 */
function zipWith(zip: Buffer, name: string, extra: Buffer): Buffer {
  const entries = XLSX.CFB.read(zip, { type: 'buffer' })
  const index = entries.FullPaths.findIndex((path: string) => path.endsWith(name))
  const entry = entries.FileIndex[index]!
  entry.content = Buffer.concat([Buffer.from(entry.content as Uint8Array), extra])
  return XLSX.CFB.write(entries, { type: 'buffer', fileType: 'zip', compression: true }) as Buffer
}

t.test('a multipart body cut short, or without a boundary, is a 400 and leaves nothing behind', async (t) => {
  const app = await build(t)
  const { payload, contentType } = await formData({ filename: 'c.csv', content: 'Ada,ada@example.com,London\n' })
  const cut = payload.subarray(0, payload.length - 40)
  const started = Date.now()
  const res = await app.inject({
    method: 'POST',
    url: '/upload/customers',
    payload: cut,
    headers: { 'content-type': contentType },
  })
  t.equal(res.statusCode, 400)
  const cutShort = 'ends before the file in it does: the upload was cut short'
  t.same(
    res.json(),
    problemBody(res, 400, `The request has 1 invalid field: (body) ${cutShort}.`, [
      { field: '(body)', message: cutShort },
    ]),
  )
  t.ok(Date.now() - started < 10_000, 'answered, not left hanging')
  const noBoundary = await app.inject({
    method: 'POST',
    url: '/upload/customers',
    payload: 'x',
    headers: { 'content-type': 'multipart/form-data' },
  })
  t.equal(noBoundary.statusCode, 400)
  const unreadable = 'is not a multipart/form-data body that can be read (Multipart: Boundary not found)'
  t.same(
    noBoundary.json(),
    problemBody(noBoundary, 400, `The request has 1 invalid field: (body) ${unreadable}.`, [
      { field: '(body)', message: unreadable },
    ]),
  )
  await nothingStored(t, app)
})

t.test('a refused file is read to its end first, so the connection stays usable', async (t) => {
  const { base } = await serve(t)
  const form = new FormData()
  form.append('file', new Blob([Buffer.alloc(5 * 1024 * 1024, 'x')]), 'big.pdf')
  const refused = await documentedFetch(`${base}/upload/customers`, {
    method: 'POST',
    body: form,
    headers: AS_ADMIN,
  })
  t.equal(refused.status, 415)
  /** The problem a fetched answer holds, whole, with the request id its headers name. */
  const problemOfFetched = (res: typeof refused, status: number, detail: string) =>
    problemBody({ headers: { 'x-request-id': res.headers.get('x-request-id') } }, status, detail)
  t.same(JSON.parse(refused.text), problemOfFetched(refused, 415, notRead('big.pdf')))
  const started = Date.now()
  const next = await documentedFetch(`${base}/upload/report?id=1`, { headers: AS_ADMIN })
  t.equal(next.status, 404)
  t.ok(Date.now() - started < 2000, 'the next request on the connection is answered at once')
  t.same(JSON.parse(next.text), problemOfFetched(next, 404, 'Upload report 1 does not exist.'))
})

t.test('the checks come in order: the file name, then the mode, then the content', async (t) => {
  const app = await build(t)
  const pdf = await upload(app, '/upload/products', { filename: 'x.pdf', content: '%PDF-1.4', fields: { mode: 'x' } })
  refusedWith(t, pdf, 415, notRead('x.pdf'), 'a name no reader takes, before a mode the upload has not')
  const badMode = 'must be one of insert, upsert'
  const mode = await upload(app, '/upload/customers', {
    filename: 'list.xlsx',
    content: 'not a workbook',
    fields: { mode: 'sideways' },
  })
  t.equal(mode.status, 400, 'a bad mode, before content that does not match the name')
  t.same(
    mode.body,
    problemBody(mode, 400, `The request has 1 invalid field: mode ${badMode}.`, [{ field: 'mode', message: badMode }]),
  )
  await nothingStored(t, app)
})

t.test('the temporary copy of an upload is removed, whatever the outcome', async (t) => {
  // Uploads are kept under the system's temporary folder: point it at one of this test's own.
  const folder = tempFolder(t, 'uploads-kept')
  const previous = process.env.TMPDIR
  process.env.TMPDIR = folder
  t.teardown(() => {
    if (previous === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = previous
  })
  const app = await build(t, { UPLOAD_MAX_BYTES: 200_000 })
  const good = Array.from({ length: 3000 }, (_, i) => `P${i},p${i}@example.com,Street`).join('\n')
  const cases: [string, UploadFile, number][] = [
    ['stored', { filename: 'ok.csv', content: 'Ada,ada@example.com,London\n' }, 201],
    ['too large', { filename: 'big.csv', content: 'x'.repeat(300_000) }, 413],
    ['a name no reader takes', { filename: 'x.pdf', content: '%PDF-1.4' }, 415],
    ['content that does not match the name', { filename: 'list.xlsx', content: 'not a workbook' }, 415],
    [
      'refused half way through the rows',
      { filename: 'late.csv', content: Buffer.concat([Buffer.from(`${good}\n`), Buffer.from([0xc3, 0x28, 0x0a])]) },
      415,
    ],
    ['a bad mode', { filename: 'ok.csv', content: 'Ada,ada@example.com,London\n', fields: { mode: 'x' } }, 400],
  ]
  for (const [name, file, status] of cases) {
    const res = await upload(app, '/upload/customers', file)
    t.equal(res.status, status, name)
    t.same(readdirSync(folder), [], `${name}: nothing left behind`)
  }
  const { payload, contentType } = await formData({ filename: 'c.csv', content: 'Ada,ada@example.com,London\n' })
  const cut = await app.inject({
    method: 'POST',
    url: '/upload/customers',
    payload: payload.subarray(0, payload.length - 40),
    headers: { 'content-type': contentType },
  })
  t.equal(cut.statusCode, 400, 'cut short')
  t.same(readdirSync(folder), [], 'cut short: nothing left behind')
})

t.test('the product upload has no mode field', async (t) => {
  const app = await build(t)
  const res = await upload(app, '/upload/products', {
    filename: 'p.csv',
    content: 'Lamp,5\n',
    fields: { mode: 'upsert' },
  })
  t.equal(res.status, 400)
  t.same(
    res.body,
    problemBody(res, 400, 'The request has 1 invalid field: mode is not a field of a product upload.', [
      { field: 'mode', message: 'is not a field of a product upload' },
    ]),
  )
  await nothingStored(t, app)
})

t.test('a NUL byte far past the first 64 KB of a CSV: 415, and nothing is stored', async (t) => {
  const app = await build(t)
  const good = Array.from({ length: 70_000 }, (_, i) => `P${i},p${i}@example.com,Street`).join('\n')
  const content = `${good}\nN\u0000L,nul@example.com,Street\n`
  const res = await upload(app, '/upload/customers', { filename: 'nul.csv', content })
  refusedWith(t, res, 415, notUtf8('nul.csv'))
  await nothingStored(t, app)
})

t.test('control characters, bidi controls and non-characters in a file name become U+FFFD', async (t) => {
  const app = await build(t)
  const res = await upload(app, '/upload/customers', {
    filename: 'list\u0000\u001b[31m\u202egpj\uffff\u2066.csv',
    content: 'Ada,ada@example.com,London\n',
  })
  const clean = 'list\ufffd\ufffd[31m\ufffdgpj\ufffd\ufffd.csv'
  t.equal(res.status, 201)
  sameReport(t, res.body, { id: 1, kind: 'customers', filename: clean, rows: 1, inserted: 1 })
  t.same(await app.db.selectFrom('upload_reports').select('filename').execute(), [{ filename: clean }], 'stored clean')
  t.same(
    app
      .logs()
      .filter((line) => line.msg === 'upload stored')
      .map((line) => line.filename),
    [clean],
    'logged clean',
  )
  const refused = await upload(app, '/upload/customers', { filename: 'x\u0000\u202e.pdf', content: '%PDF-1.4' })
  refusedWith(t, refused, 415, notRead('x\ufffd\ufffd.pdf'), 'named clean in a refusal')
})
