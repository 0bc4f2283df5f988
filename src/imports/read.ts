// Reading an uploaded file as rows of cells: CSV and TXT with papaparse, XLS and XLSX with SheetJS.
import { createReadStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { Transform } from 'node:stream'
import Papa from 'papaparse'
import type * as XLSX from 'xlsx'
import { HttpProblem } from '../problems.js'
import type { Format } from './formats.js'
import { repackUnpacked } from './unpack.js'

/** A cell as read: text from CSV; text, a number or a boolean from a spreadsheet; null when empty. */
export type Cell = string | number | boolean | null

/** A row of the file, numbered as a spreadsheet shows it (the first row is 1). */
export interface SourceRow {
  row: number
  cells: Cell[]
}

/** Bounds on what a spreadsheet may make the server hold once unpacked and parsed. */
export interface SpreadsheetLimits {
  inflatedBytes: number
  entries: number
  rows: number
}

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
  const notText = () =>
    new HttpProblem(415, `"${filename}" is not UTF-8 text, so it is not a CSV file this upload reads.`)
  const records = new RecordLength(filename)
  const decode = new Transform({
    readableObjectMode: false,
    transform(chunk: Buffer, _encoding, done) {
      let text: string
      try {
        text = decoder.decode(chunk, { stream: true })
      } catch {
        return done(notText())
      }
      try {
        records.check(text)
      } catch (error) {
        return done(error as Error)
      }
      done(null, text)
    },
    flush(done) {
      try {
        done(null, decoder.decode())
      } catch {
        done(notText())
      }
    },
  })
  const source = createReadStream(path)
  const text = source.pipe(decode)
  decode.on('error', () => source.destroy())
  // Papa hands over the rows of each chunk of the file at once and waits (paused) until they are
  // stored: memory holds one chunk, and there is one await per chunk, not per row.
  const chunks: string[][][] = []
  let read = 0
  let parser: Papa.Parser | undefined
  let finished = false
  let failure: unknown
  let wake: (() => void) | undefined
  Papa.parse(text as unknown as File, {
    delimiter: ',',
    chunk(results: Papa.ParseResult<string[]>, handle: Papa.Parser) {
      // A quote never closed swallows every line after it into one field: refuse the file
      // rather than lose those rows without a word.
      const unclosed = results.errors.find((error) => error.code === 'MissingQuotes')
      if (unclosed) {
        const line = read + (unclosed.row ?? 0) + 1
        failure = new HttpProblem(415, `"${filename}" has a quote that is never closed, in row ${line}.`)
        handle.abort()
        wake?.()
        return
      }
      read += results.data.length
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
    if (!finished) parser?.abort()
    source.destroy()
  }
}

/** The longest a CSV record may be: a longer one is most likely a quote that is never closed. */
const MAX_RECORD_CHARS = 1024 * 1024

/**
 * Follows where records end (a line break outside quotes) as the text streams by, and refuses a
 * record longer than MAX_RECORD_CHARS: the parser would otherwise hold it, re-reading it whole at
 * every chunk, so that time and memory grow with the square of its length.
 */
class RecordLength {
  #quoted = false
  #length = 0
  constructor(readonly filename: string) {}

  check(text: string) {
    // Jumps from quote to quote; only line breaks outside quotes end a record. A doubled quote
    // ("" inside a quoted field) closes and reopens, which comes to the same.
    let recordStart = -1
    for (let at = 0; at < text.length;) {
      const quote = text.indexOf('"', at)
      if (this.#quoted) {
        if (quote < 0) break
        this.#quoted = false
      } else {
        const lineBreak = text.lastIndexOf('\n', (quote < 0 ? text.length : quote) - 1)
        if (lineBreak >= at) recordStart = lineBreak + 1
        if (quote < 0) break
        this.#quoted = true
      }
      at = quote + 1
    }
    this.#length = recordStart < 0 ? this.#length + text.length : text.length - recordStart
    if (this.#length > MAX_RECORD_CHARS) {
      throw new HttpProblem(
        415,
        `"${this.filename}" has a row longer than ${MAX_RECORD_CHARS / 1024 / 1024} MB, as when a quote is never closed.`,
      )
    }
  }
}

async function* spreadsheetRows(
  path: string,
  filename: string,
  format: Format,
  limits: SpreadsheetLimits,
): AsyncGenerator<SourceRow[]> {
  const file = await readFile(path)
  const buffer = format === 'xlsx' ? repackUnpacked(file, filename, limits) : file
  // SheetJS is large: it is loaded when the first spreadsheet comes, not with the server.
  const { read, SSF } = await import('xlsx')
  let workbook: XLSX.WorkBook
  try {
    workbook = read(buffer, {
      type: 'buffer',
      dense: true,
      sheets: 0,
      sheetRows: limits.rows + 1,
      cellText: false,
      cellHTML: false,
      cellNF: true,
      cellStyles: false,
    })
  } catch {
    throw new HttpProblem(415, `"${filename}" could not be read as an Excel workbook.`)
  }
  const sheet = workbook.Sheets[workbook.SheetNames[0] ?? '']
  const data = (sheet?.['!data'] ?? []) as ((XLSX.CellObject | undefined)[] | undefined)[]
  if (data.length > limits.rows) {
    throw new HttpProblem(
      413,
      `"${filename}" has more than ${limits.rows.toLocaleString('en')} rows; split it into smaller files.`,
    )
  }
  const date1904 = Boolean(workbook.Workbook?.WBProps?.date1904)
  // A number in a cell formatted as a date is a date: it is read as `YYYY-MM-DD`, in the
  // workbook's own date system (1900, or 1904 for old Mac workbooks). Any other number stays one.
  const value = (cell: XLSX.CellObject | undefined): Cell => {
    if (!cell || cell.t === 'e' || cell.t === 'z') return null
    if (cell.t === 'n' && cell.z !== undefined && SSF.is_date(cell.z)) {
      const day = SSF.parse_date_code(cell.v, { date1904 })
      if (day)
        return `${String(day.y).padStart(4, '0')}-${String(day.m).padStart(2, '0')}-${String(day.d).padStart(2, '0')}`
    }
    return (cell.v as Cell) ?? null
  }
  for (let start = 0; start < data.length; start += 1000) {
    const batch: SourceRow[] = []
    for (let r = start; r < Math.min(start + 1000, data.length); r++) {
      const row = data[r]
      if (row) batch.push({ row: r + 1, cells: Array.from(row, value) })
    }
    yield batch
  }
}
