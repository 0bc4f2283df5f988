// Reading an uploaded file as rows of cells: CSV and TXT with papaparse, XLS and XLSX with SheetJS.
import { createReadStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { Transform } from 'node:stream'
import { inflateRawSync } from 'node:zlib'
import Papa from 'papaparse'
import type * as XLSX from 'xlsx'
import { HttpProblem } from '../errors.js'
import type { Format } from './formats.js'

/** A cell as read: text from CSV; text, a number or a boolean from a spreadsheet; null when empty. */
export type Cell = string | number | boolean | null

/** A row of the file, numbered as a spreadsheet shows it (the first row is 1). */
export type SourceRow = { row: number; cells: Cell[] }

/** Bounds on what a spreadsheet may make the server hold once unpacked and parsed. */
export type SpreadsheetLimits = { inflatedBytes: number; entries: number; rows: number }

export const SPREADSHEET_LIMITS: SpreadsheetLimits = {
  /** The sum of the sizes of the files inside an .xlsx once unpacked. */
  inflatedBytes: 200 * 1024 * 1024,
  /** Files inside an .xlsx. */
  entries: 10_000,
  /** Rows read from the first sheet; rows past this are not read at all. */
  rows: 1_000_000,
}

/** The rows of a file, in batches (one await per batch, not per row: it counts at a million rows). */
export function readRows(
  path: string,
  filename: string,
  format: Format,
  limits: SpreadsheetLimits = SPREADSHEET_LIMITS,
): AsyncIterable<SourceRow[]> {
  return format === 'csv' ? csvRows(path, filename) : spreadsheetRows(path, filename, format, limits)
}

/**
 * CSV (RFC 4180: commas, quotes around fields holding commas, quotes or line breaks), UTF-8 with or
 * without a byte order mark, LF or CRLF. Streamed: memory does not grow with the file. A record
 * is a row, whatever line breaks its quoted fields hold.
 */
async function* csvRows(path: string, filename: string): AsyncGenerator<SourceRow[]> {
  // `fatal`: bytes that are not UTF-8 stop the upload (415) instead of turning into U+FFFD.
  const decoder = new TextDecoder('utf-8', { fatal: true })
  const notText = () => new HttpProblem(415, `"${filename}" is not UTF-8 text, so it is not a CSV file this upload reads.`)
  const decode = new Transform({
    readableObjectMode: false,
    transform(chunk: Buffer, _encoding, done) {
      try {
        done(null, decoder.decode(chunk, { stream: true }))
      } catch {
        done(notText())
      }
    },
    flush(done) {
      try {
        done(null, decoder.decode())
      } catch {
        done(notText())
      }
    },
  })
  const text = createReadStream(path).pipe(decode)
  // Papa hands over the rows of each chunk of the file at once and waits (paused) until they are
  // stored: memory holds one chunk, and there is one await per chunk, not per row.
  const chunks: string[][][] = []
  let parser: Papa.Parser | undefined
  let finished = false
  let failure: unknown
  let wake: (() => void) | undefined
  Papa.parse(text as unknown as File, {
    delimiter: ',',
    chunk(results: Papa.ParseResult<string[]>, handle: Papa.Parser) {
      chunks.push(results.data)
      parser = handle
      handle.pause()
      wake?.()
    },
    complete() {
      finished = true
      wake?.()
    },
    error(error: Error) {
      failure = error
      wake?.()
    },
  })
  let row = 0
  try {
    for (;;) {
      const data = chunks.shift()
      if (data) {
        yield data.map((cells) => ({ row: ++row, cells }))
        if (!finished) parser?.resume()
      } else if (failure !== undefined) {
        throw failure
      } else if (finished) {
        return
      } else {
        await new Promise<void>((resolve) => (wake = resolve))
        wake = undefined
      }
    }
  } finally {
    // Stopped early (the upload failed): close the file rather than leave the parser paused on it.
    if (!finished) {
      parser?.abort()
      text.destroy()
    }
  }
}

async function* spreadsheetRows(
  path: string,
  filename: string,
  format: Format,
  limits: SpreadsheetLimits,
): AsyncGenerator<SourceRow[]> {
  const buffer = await readFile(path)
  if (format === 'xlsx') checkUnpackedSize(buffer, filename, limits)
  // SheetJS is large: it is loaded when the first spreadsheet comes, not with the server.
  const { read } = await import('xlsx')
  let workbook: XLSX.WorkBook
  try {
    workbook = read(buffer, {
      type: 'buffer',
      dense: true,
      sheets: 0,
      sheetRows: limits.rows,
      cellText: false,
      cellHTML: false,
      cellNF: false,
      cellStyles: false,
    })
  } catch {
    throw new HttpProblem(415, `"${filename}" could not be read as an Excel workbook.`)
  }
  const sheet = workbook.Sheets[workbook.SheetNames[0] ?? '']
  const data = (sheet?.['!data'] ?? []) as Array<Array<XLSX.CellObject | undefined> | undefined>
  const value = (cell: XLSX.CellObject | undefined): Cell => (cell && cell.t !== 'e' && cell.t !== 'z' ? ((cell.v as Cell) ?? null) : null)
  for (let start = 0; start < data.length; start += 1000) {
    const batch: SourceRow[] = []
    for (let r = start; r < Math.min(start + 1000, data.length); r++) {
      const row = data[r]
      if (row) batch.push({ row: r + 1, cells: Array.from(row, value) })
    }
    yield batch
  }
}

/**
 * An .xlsx is a ZIP archive, and a small one can unpack to gigabytes. Each file inside is unpacked
 * here with a bound on its output before SheetJS sees the workbook (its own unpacking has none),
 * so a file made to explode is refused (413) having cost at most the bound.
 */
function checkUnpackedSize(zip: Buffer, filename: string, limits: SpreadsheetLimits): void {
  const tooLarge = () =>
    new HttpProblem(
      413,
      `"${filename}" unpacks to more than ${limits.inflatedBytes / 1024 / 1024} MB; ` +
        'save it as CSV, or split it into smaller workbooks.',
    )
  const broken = () => new HttpProblem(415, `"${filename}" could not be read as an Excel workbook.`)
  // The end-of-central-directory record: within the last 64 KiB + 22 bytes of the archive.
  let end = zip.length - 22
  const lowest = Math.max(0, zip.length - 65_557)
  while (end >= lowest && zip.readUInt32LE(end) !== 0x06054b50) end--
  if (end < lowest) throw broken()
  const entries = zip.readUInt16LE(end + 10)
  if (entries > limits.entries) throw tooLarge()
  let offset = zip.readUInt32LE(end + 16)
  let unpacked = 0
  try {
    for (let i = 0; i < entries; i++) {
      if (zip.readUInt32LE(offset) !== 0x02014b50) throw broken()
      const method = zip.readUInt16LE(offset + 10)
      const compressed = zip.readUInt32LE(offset + 20)
      const local = zip.readUInt32LE(offset + 42)
      offset += 46 + zip.readUInt16LE(offset + 28) + zip.readUInt16LE(offset + 30) + zip.readUInt16LE(offset + 32)
      const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28)
      const data = zip.subarray(start, start + compressed)
      const room = limits.inflatedBytes - unpacked
      unpacked += method === 8 ? inflateRawSync(data, { maxOutputLength: room + 1 }).length : data.length
      if (unpacked > limits.inflatedBytes) throw tooLarge()
    }
  } catch (error) {
    if (error instanceof HttpProblem) throw error
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge()
    throw broken()
  }
}
