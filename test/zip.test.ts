// The ZIP codec: what its two writers make, read back by its reader and by SheetJS; and what the reader refuses.
import { inflateRawSync } from 'node:zlib'
import t from 'tap'
import * as XLSX from 'xlsx'
import { xlsxBytes } from '../src/exports/xlsx.js'
import { repackUnpacked } from '../src/imports/unpack.js'
import { SPREADSHEET_LIMITS } from '../src/imports/read.js'
import { HttpProblem } from '../src/problems.js'
import {
  crc,
  DEFLATED,
  dosTime,
  FLAG_DESCRIPTOR,
  FLAG_UTF8,
  readCentralDirectory,
  readEndRecord,
  readEntryData,
  SIGNATURE,
  STORED,
  storedZip,
  usesZip64,
  ZipFormatError,
  ZipWriter,
} from '../src/zip.js'
import { exactly } from './helper.js'

async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const chunk of chunks) parts.push(chunk)
  return Buffer.concat(parts)
}

/** Every entry of `zip` as the codec reads it, with its data unpacked. */
function entriesOf(zip: Buffer) {
  return [...readCentralDirectory(zip, readEndRecord(zip))].map((entry) => {
    const packed = readEntryData(zip, entry)
    return { ...entry, data: entry.method === DEFLATED ? inflateRawSync(packed) : packed }
  })
}

/** Bytes that deflate poorly, so an entry takes many deflate chunks. */
const noisy = (length: number) => Buffer.from(Array.from({ length }, (_, i) => (i * 2_654_435_761) >>> 24))

const sheet = (rows: unknown[][]) => {
  const book = XLSX.utils.book_new()
  XLSX.utils.book_append_sheet(book, XLSX.utils.aoa_to_sheet(rows), 'Sheet1')
  return XLSX.write(book, { type: 'buffer', bookType: 'xlsx', compression: true }) as Buffer
}

const rowsOf = (file: Buffer) => {
  const book = XLSX.read(file, { type: 'buffer' })
  return XLSX.utils.sheet_to_json<unknown[]>(book.Sheets[book.SheetNames[0]!]!, { header: 1 })
}

t.test('the CRC is CRC-32 as ZIP wants it, and continues over chunks', async (t) => {
  t.equal(crc(Buffer.from('123456789')), 0xcbf43926, 'the check value of CRC-32')
  t.equal(crc(Buffer.from('6789'), crc(Buffer.from('12345'))), 0xcbf43926)
})

t.test('DOS time: hours, minutes and seconds halved; years from 1980', async (t) => {
  const { time, date } = dosTime(new Date(Date.UTC(2024, 1, 29, 13, 45, 59)))
  t.equal(time, (13 << 11) | (45 << 5) | 29)
  t.equal(date, (44 << 9) | (2 << 5) | 29)
})

t.test('the streaming writer: read back by the codec, entry by entry, and by SheetJS', async (t) => {
  const zip = new ZipWriter()
  const big = noisy(300_000)
  const archive = await collect(
    (async function* () {
      yield* zip.entry('hello.txt', ['Hello, ', Buffer.from('world'), '!'])
      yield* zip.entry('empty', [])
      yield* zip.entry('dossier/café.bin', [big.subarray(0, 100_000), big.subarray(100_000)])
      yield zip.finish()
    })(),
  )
  const entries = entriesOf(archive)
  t.same(
    entries.map((entry) => entry.name.toString()),
    ['hello.txt', 'empty', 'dossier/café.bin'],
  )
  const contents = [Buffer.from('Hello, world!'), Buffer.alloc(0), big]
  entries.forEach((entry, i) => {
    const content = contents[i]!
    t.equal(entry.method, DEFLATED)
    t.equal(entry.flags, FLAG_DESCRIPTOR | FLAG_UTF8, 'sizes in a data descriptor; names in UTF-8')
    t.equal(entry.size, content.length)
    t.equal(entry.crc, crc(content))
    t.ok(entry.data.equals(content), `${entry.name.toString()}: the same bytes`)
    // The descriptor follows the data and says what the central directory says.
    const descriptor = readEntryData(archive, entry).byteOffset - archive.byteOffset + entry.compressed
    t.equal(archive.readUInt32LE(descriptor), SIGNATURE.descriptor)
    t.same(
      [
        archive.readUInt32LE(descriptor + 4),
        archive.readUInt32LE(descriptor + 8),
        archive.readUInt32LE(descriptor + 12),
      ],
      [entry.crc, entry.compressed, entry.size],
    )
  })
  t.equal(entries[0]!.offset, 0, 'the first entry opens the archive')

  const read = XLSX.CFB.read(archive, { type: 'buffer' })
  // SheetJS reads names as Latin-1 whatever the UTF-8 flag says, so the entry is found by its ending.
  const index = read.FullPaths.findIndex((path: string) => path.endsWith('.bin'))
  t.ok(Buffer.from(read.FileIndex[index]!.content as Uint8Array).equals(big), 'SheetJS reads the same bytes')
})

t.test('a workbook from the streaming writer is read by SheetJS, cell by cell', async (t) => {
  const columns = [
    { name: 'id', type: 'number' as const, width: 9 },
    { name: 'name', type: 'text' as const, width: 20 },
    { name: 'ok', type: 'boolean' as const, width: 10 },
  ]
  async function* rows() {
    yield [
      [1, 'Ada', true],
      [2, '=SUM(A1)', null],
    ]
    yield [[3, 'Grace', false]]
    // Enough to make the sheet several chunks of XML.
    yield Array.from({ length: 3000 }, (_, i) => [4 + i, `Person number ${i}`, i % 2 === 0])
  }
  const file = await collect(xlsxBytes('people', columns, rows()))
  t.same(
    entriesOf(file).map((entry) => entry.name.toString()),
    [
      '[Content_Types].xml',
      '_rels/.rels',
      'xl/workbook.xml',
      'xl/_rels/workbook.xml.rels',
      'xl/styles.xml',
      'xl/worksheets/sheet1.xml',
    ],
  )
  const book = XLSX.read(file, { type: 'buffer' })
  t.same(book.SheetNames, ['people'])
  const read = rowsOf(file)
  t.same(read.slice(0, 4), [
    ['id', 'name', 'ok'],
    [1, 'Ada', true],
    [2, '=SUM(A1)'],
    [3, 'Grace', false],
  ])
  t.equal(read.length, 3004)
  t.same(read[3003], [3003, 'Person number 2999', false])
})

t.test('a writer whose caller stops half way stops reading its content', async (t) => {
  let finished = false
  async function* endless() {
    try {
      for (;;) yield noisy(70_000)
    } finally {
      finished = true
    }
  }
  const chunks = new ZipWriter().entry('endless', endless())
  for (let i = 0; i < 3; i++) await chunks.next()
  await chunks.return(undefined)
  t.ok(finished, 'the content was told to stop')
})

t.test('storedZip: read back by the codec with real sizes and CRCs, and by SheetJS', async (t) => {
  const files = [
    { name: Buffer.from('a.txt'), data: Buffer.from('first') },
    { name: Buffer.from('empty'), data: Buffer.alloc(0) },
    { name: Buffer.from('b/c.bin'), data: noisy(10_000) },
  ]
  const archive = storedZip(files)
  const entries = entriesOf(archive)
  t.equal(entries.length, 3)
  entries.forEach((entry, i) => {
    const file = files[i]!
    t.ok(entry.name.equals(file.name))
    t.equal(entry.method, STORED)
    t.equal(entry.compressed, file.data.length)
    t.equal(entry.size, file.data.length)
    t.equal(entry.crc, crc(file.data), 'a real CRC')
    t.ok(entry.data.equals(file.data))
  })
  const read = XLSX.CFB.read(archive, { type: 'buffer' })
  const index = read.FullPaths.findIndex((path: string) => path.endsWith('b/c.bin'))
  t.ok(Buffer.from(read.FileIndex[index]!.content as Uint8Array).equals(files[2]!.data))
  t.same(entriesOf(storedZip([])), [], 'an archive of nothing is an empty archive')
})

t.test('a workbook repacked by storedZip is the same workbook to SheetJS', async (t) => {
  const rows = [
    ['Name', 'Email'],
    ['Ada', 'ada@example.com'],
    ['Grace', 'grace@example.com'],
  ]
  const file = sheet(rows)
  const repacked = repackUnpacked(file, 'people.xlsx', SPREADSHEET_LIMITS)
  const entries = entriesOf(repacked)
  t.ok(
    entries.every((entry) => entry.method === STORED && entry.crc === crc(entry.data)),
    'every entry stored, with its CRC',
  )
  t.same(
    entries.map((entry) => entry.name.toString()),
    entriesOf(file).map((entry) => entry.name.toString()),
    'the same files, in the same order',
  )
  t.same(rowsOf(repacked), rows)
})

t.test('the reader finds the end record before a comment', async (t) => {
  const archive = storedZip([{ name: Buffer.from('a'), data: Buffer.from('x') }])
  const comment = Buffer.from('made by hand')
  archive.writeUInt16LE(comment.length, archive.length - 2)
  const commented = Buffer.concat([archive, comment])
  t.same(
    entriesOf(commented).map((entry) => entry.data.toString()),
    ['x'],
  )
})

t.test('the reader refuses an archive that does not hold together', async (t) => {
  const archive = storedZip([
    { name: Buffer.from('a'), data: Buffer.from('first') },
    { name: Buffer.from('b'), data: Buffer.from('second') },
  ])
  const directory = readEndRecord(archive)

  t.throws(() => readEndRecord(Buffer.from('not a zip archive at all, just text')), ZipFormatError, 'no end record')
  t.throws(() => readEndRecord(Buffer.alloc(10)), ZipFormatError, 'too short to hold one')
  t.throws(() => readEndRecord(archive.subarray(0, archive.length - 1)), ZipFormatError, 'the end record cut short')

  const badCentral = Buffer.from(archive)
  const second = directory.offset + 46 + 1
  badCentral.writeUInt32LE(0x12345678, second)
  t.throws(() => [...readCentralDirectory(badCentral, directory)], ZipFormatError, 'a bad central signature')
  const firstOnly = readCentralDirectory(badCentral, directory)
  t.equal(firstOnly.next().value?.name.toString(), 'a', 'the entries before it are read, one at a time')
  t.throws(() => firstOnly.next(), ZipFormatError)

  const pastEnd = Buffer.from(archive)
  pastEnd.writeUInt32LE(archive.length - 10, directory.offset + 42)
  const [entry] = readCentralDirectory(pastEnd, directory)
  t.throws(() => readEntryData(pastEnd, entry!), ZipFormatError, 'a local header offset past the end')
  pastEnd.writeUInt32LE(archive.length + 1000, directory.offset + 42)
  const [farEntry] = readCentralDirectory(pastEnd, directory)
  t.throws(() => readEntryData(pastEnd, farEntry!), ZipFormatError, 'far past the end')

  const badLocal = Buffer.from(archive)
  badLocal.writeUInt32LE(0, 0)
  t.throws(() => entriesOf(badLocal), ZipFormatError, 'a bad local signature')

  const longData = Buffer.from(archive)
  longData.writeUInt32LE(archive.length, directory.offset + 20)
  t.throws(() => entriesOf(longData), ZipFormatError, 'data running past the end')

  const directoryPastEnd = Buffer.from(archive)
  directoryPastEnd.writeUInt32LE(archive.length, archive.length - 6)
  t.throws(() => entriesOf(directoryPastEnd), ZipFormatError, 'a central directory past the end')

  const zip64 = Buffer.from(archive)
  zip64.writeUInt32LE(0xffffffff, directory.offset + 24)
  t.ok(usesZip64([...readCentralDirectory(zip64, directory)][0]!), 'a size in a ZIP64 field is seen as such')
})

t.test('an upload whose archive does not hold together is a 415 naming the file', async (t) => {
  const file = sheet([['Name', 'Email']])
  const directory = readEndRecord(file)
  const broken = Buffer.from(file)
  broken.writeUInt32LE(0, directory.offset)
  for (const zip of [Buffer.from('PK not really'), broken]) {
    const refusal = refusalOf(zip)
    t.ok(refusal instanceof HttpProblem)
    t.match(refusal, { statusCode: 415, message: exactly('"x.xlsx" could not be read as an Excel workbook.') })
  }
  const bzip2 = Buffer.from(file)
  bzip2.writeUInt16LE(12, directory.offset + 10)
  t.match(
    refusalOf(bzip2),
    { statusCode: 415, message: exactly('"x.xlsx" could not be read as an Excel workbook.') },
    'a compression method other than store and deflate',
  )
  const zip64 = Buffer.from(file)
  zip64.writeUInt32LE(0xffffffff, directory.offset + 20)
  t.match(
    refusalOf(zip64),
    {
      statusCode: 413,
      message: exactly('"x.xlsx" unpacks to more than 200 MB; save it as CSV, or split it into smaller workbooks.'),
    },
    'ZIP64 is past any bound',
  )
})

function refusalOf(zip: Buffer): unknown {
  try {
    repackUnpacked(zip, 'x.xlsx', SPREADSHEET_LIMITS)
  } catch (error) {
    return error
  }
  return undefined
}
