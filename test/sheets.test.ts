// Reading spreadsheets in the worker thread: rows in batches, and the worker freed when a reader stops early.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { HttpProblem } from '../src/problems.js'
import { sheetRows } from '../src/imports/sheets.js'
import { exactly, tempFolder, workbook } from './helper.js'

const folder = tempFolder(t, 'sheets')
const file = join(folder, 'big.xlsx')
writeFileSync(file, workbook(Array.from({ length: 5000 }, (_, i) => [`P${i}`, `p${i}@example.com`, 'Street'])))
const job = { kind: 'customers' as const, path: file, filename: 'big.xlsx', format: 'xlsx' as const }

t.test('the rows arrive parsed, in batches, in order', async (t) => {
  const rows = []
  let batches = 0
  for await (const batch of sheetRows(job)) {
    batches++
    rows.push(...batch)
  }
  t.equal(batches, 5, 'a batch for each 1000 rows')
  t.equal(rows.length, 5000)
  const parsed = (i: number) => {
    const given = { name: `P${i}`, email: `p${i}@example.com`, address: 'Street' }
    const customer = { status: 'active', optphone: false, optemail: false, optchat: false, ...given }
    return { row: i + 1, value: { customer, key: `p${i}@example.com`, given } }
  }
  t.same(rows[0], parsed(0))
  t.same(rows[4999], parsed(4999))
})

t.test('a reader that stops half way frees the worker for the next upload', async (t) => {
  for await (const batch of sheetRows(job)) {
    t.equal(batch.length, 1000)
    break
  }
  let count = 0
  for await (const batch of sheetRows(job)) count += batch.length
  t.equal(count, 5000, 'the next reading runs to its end')
})

t.test('two readings at once take turns', async (t) => {
  const read = async () => {
    let count = 0
    for await (const batch of sheetRows(job)) count += batch.length
    return count
  }
  t.same(await Promise.all([read(), read()]), [5000, 5000])
})

t.test('a file that is not a workbook is a 415 from the worker', async (t) => {
  const bad = join(folder, 'bad.xlsx')
  writeFileSync(bad, Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(64)]))
  await t.rejects(
    (async () => {
      for await (const _ of sheetRows({ ...job, path: bad, filename: 'bad.xlsx' })) void _
    })(),
    { statusCode: 415, message: exactly('"bad.xlsx" could not be read as an Excel workbook.') },
  )
})

t.test('reading a workbook in this thread: cells, date cells in either date system, and broken archives', async (t) => {
  const { readRows } = await import('../src/imports/read.js')
  const XLSX = await import('xlsx')
  const rowsOf = async (path: string, filename = 'x.xlsx', format: 'xlsx' | 'xls' = 'xlsx') => {
    const rows = []
    for await (const batch of readRows(path, filename, format, 5)) rows.push(...batch)
    return rows
  }
  const dated = join(folder, 'dated.xlsx')
  writeFileSync(dated, workbook([['Lamp', 5, { t: 'n', v: 45351, z: 'yyyy-mm-dd' }, 2024, true]]))
  t.same(await rowsOf(dated), [{ row: 1, cells: ['Lamp', 5, '2024-02-29', 2024, true] }])

  const book = XLSX.utils.book_new()
  XLSX.utils.book_append_sheet(book, XLSX.utils.aoa_to_sheet([['Old Mac', { t: 'n', v: 43889, z: 'yyyy-mm-dd' }]]), 'S')
  book.Workbook = { WBProps: { date1904: true } }
  const mac = join(folder, 'mac.xlsx')
  writeFileSync(mac, XLSX.write(book, { type: 'buffer', bookType: 'xlsx' }) as Buffer)
  t.same((await rowsOf(mac))[0]?.cells, ['Old Mac', '2024-02-29'], 'day 43889 of the 1904 system is 2024-02-29')

  const xls = join(folder, 'old.xls')
  writeFileSync(xls, workbook([['Ada', 'ada@example.com', { t: 'n', v: 36525, z: 'yyyy-mm-dd' }]], 'biff8'))
  t.same((await rowsOf(xls, 'old.xls', 'xls'))[0]?.cells, ['Ada', 'ada@example.com', '1999-12-31'])

  const good = workbook([['Ada']])
  const end = good.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]))
  const central = good.readUInt32LE(end + 16)
  const broken: [string, (zip: Buffer) => void, number][] = [
    ['zip64 sizes', (zip) => zip.writeUInt32LE(0xffffffff, central + 24), 413],
    ['an unknown compression', (zip) => zip.writeUInt16LE(99, central + 10), 415],
    ['a central entry that is not one', (zip) => zip.writeUInt32LE(0, central), 415],
    ['a local header that is not one', (zip) => zip.writeUInt32LE(0, zip.readUInt32LE(central + 42)), 415],
    ['no end record', (zip) => zip.writeUInt32LE(0, end), 415],
    ['too many files', (zip) => zip.writeUInt16LE(60_000, end + 10), 413],
  ]
  const detail = {
    413: '"x.xlsx" unpacks to more than 200 MB; save it as CSV, or split it into smaller workbooks.',
    415: '"x.xlsx" could not be read as an Excel workbook.',
  }
  for (const [name, damage, status] of broken) {
    const zip = Buffer.from(good)
    damage(zip)
    const path = join(folder, 'broken.xlsx')
    writeFileSync(path, zip)
    const refusal = await rowsOf(path).then(
      () => undefined,
      (error: unknown) => error,
    )
    t.ok(refusal instanceof HttpProblem, `${name}: a problem`)
    t.match(refusal, { statusCode: status, message: exactly(detail[status as 413 | 415]) }, name)
  }
})

t.test('a row is read as far as the columns asked for, however far right its cells go', async (t) => {
  const { readRows } = await import('../src/imports/read.js')
  const XLSX = await import('xlsx')
  const sheet = XLSX.utils.aoa_to_sheet([['Ada', 'ada@example.com', 'London']])
  XLSX.utils.sheet_add_aoa(sheet, [['far'], ['far']], { origin: 'XFD1' })
  const book = XLSX.utils.book_new()
  XLSX.utils.book_append_sheet(book, sheet, 'Sheet1')
  const wide = join(folder, 'wide.xlsx')
  writeFileSync(wide, XLSX.write(book, { type: 'buffer', bookType: 'xlsx' }) as Buffer)
  const rows = []
  for await (const batch of readRows(wide, 'wide.xlsx', 'xlsx', 5)) rows.push(...batch)
  t.same(rows, [
    { row: 1, cells: ['Ada', 'ada@example.com', 'London', null, null] },
    { row: 2, cells: [null, null, null, null, null] },
  ])
})

t.test('a worker that cannot start fails its upload and lets the next one have its turn', async (t) => {
  class NoThreads {
    constructor() {
      throw new Error('no threads left')
    }
  }
  const mocked = await t.mockImport<typeof import('../src/imports/sheets.js')>('../src/imports/sheets.js', {
    'node:worker_threads': { Worker: NoThreads },
  })
  const read = async () => {
    for await (const _ of mocked.sheetRows(job)) void _
  }
  await t.rejects(read(), { message: exactly('no threads left') })
  await t.rejects(read(), { message: exactly('no threads left') }, 'the second reading is not left waiting for a turn')
})
