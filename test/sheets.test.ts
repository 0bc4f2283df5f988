// Reading spreadsheets in the worker thread: rows in batches, and the worker freed when a reader stops early.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { sheetRows } from '../src/imports/sheets.js'
import { workbook } from './helper.js'

const folder = mkdtempSync(join(tmpdir(), 'crm-sheets-'))
t.teardown(() => rmSync(folder, { recursive: true, force: true }))
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
  t.ok(batches > 1, `${batches} batches`)
  t.equal(rows.length, 5000)
  t.match(rows[0], { row: 1, value: { customer: { name: 'P0', email: 'p0@example.com', status: 'active' }, key: 'p0@example.com' } })
  t.match(rows[4999], { row: 5000, value: { customer: { name: 'P4999' } } })
})

t.test('a reader that stops half way frees the worker for the next upload', async (t) => {
  for await (const batch of sheetRows(job)) {
    t.ok(batch.length > 0)
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
    { statusCode: 415, message: '"bad.xlsx" could not be read as an Excel workbook.' },
  )
})
