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
  /** The sum of the sizes of the files inside an .xlsx once unpacked. */
  inflatedBytes: number
  /** Files inside an .xlsx. */
  entries: number
  /** Rows read from the first sheet; rows past this are not read at all. */
  rows: number
}

/** The bounds every spreadsheet upload is held to. */
export const SPREADSHEET_LIMITS: SpreadsheetLimits = {
  inflatedBytes: 200 * 1024 * 1024,
  entries: 10_000,
  rows: 1_000_000,
}

/** How a file is read, besides its format. */
export interface ReadOptions {
  /** The bounds a spreadsheet is held to. */
  limits?: SpreadsheetLimits
  /** Ends the reading of a CSV: the batch asked for next fails with the signal's reason. */
  signal?: AbortSignal
}

/**
 * The rows of a file, in batches (one await per batch, not per row: it counts at a million rows),
 * each row cut to its first `columns` cells: the cells past them are never looked at, so that the
 * work grows with the cells read, not with how wide the sheet is.
 */
export function readRows(
  path: string,
  filename: string,
  format: Format,
  columns: number,
  { limits = SPREADSHEET_LIMITS, signal }: ReadOptions = {},
): AsyncIterable<SourceRow[]> {
  return format === 'csv'
    ? csvRows(path, filename, columns, signal)
    : spreadsheetRows(path, filename, format, columns, limits)
}

/**
 * CSV (RFC 4180: commas, quotes around fields holding commas, quotes or line breaks), UTF-8 with or
 * without a byte order mark, LF or CRLF. Streamed: memory does not grow with the file. A record
 * is a row, whatever line breaks its quoted fields hold.
 */
async function* csvRows(
  path: string,
  filename: string,
  columns: number,
  signal?: AbortSignal,
): AsyncGenerator<SourceRow[]> {
  const source = createReadStream(path)
  const text = source.pipe(utf8Text(filename))
  text.on('error', () => source.destroy())
  const chunks = new CsvChunks(text, filename, signal)
  let row = 0
  try {
    for (let data = await chunks.next(); data !== undefined; data = await chunks.next()) {
      yield data.map((cells) => ({ row: ++row, cells: cells.length > columns ? cells.slice(0, columns) : cells }))
    }
  } finally {
    // Stopped early (the upload failed): close the file rather than leave the parser paused on it.
    chunks.stop()
    source.destroy()
  }
}

/**
 * The file's bytes as text, checked as they stream by, to the end of the file: bytes that are not
 * UTF-8 stop the upload (415) instead of turning into U+FFFD, and so do a NUL byte (no text file
 * holds one) and a record longer than MAX_RECORD_CHARS.
 */
function utf8Text(filename: string): Transform {
  const decoder = new TextDecoder('utf-8', { fatal: true })
  const notText = () =>
    new HttpProblem(415, `"${filename}" is not UTF-8 text, so it is not a CSV file this upload reads.`)
  const records = new RecordLength(filename)
  return new Transform({
    readableObjectMode: false,
    transform(chunk: Buffer, _encoding, done) {
      if (chunk.includes(0)) return done(notText())
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
}

/**
 * The records of CSV text, a chunk of the file at a time: papaparse hands over the rows of each
 * chunk at once and waits (paused) until they are taken and the next are asked for. Memory holds
 * one chunk, and there is one await per chunk, not per row.
 */
class CsvChunks {
  readonly #chunks: string[][][] = []
  /** Records handed over so far, to number the row where a quote opens and never closes. */
  #read = 0
  #parser: Papa.Parser | undefined
  #handedOut = false
  #finished = false
  #failure: Error | undefined
  #wake: (() => void) | undefined

  constructor(
    text: NodeJS.ReadableStream,
    private readonly filename: string,
    private readonly signal?: AbortSignal,
  ) {
    signal?.addEventListener('abort', this.#onAbort)
    Papa.parse(text, {
      delimiter: ',',
      chunk: (results: Papa.ParseResult<string[]>, parser: Papa.Parser) => this.#take(results, parser),
      complete: () => this.#end(),
      error: (error: Error) => this.#end(error),
    })
  }

  /** The records of the next chunk, once there is one; undefined after the last; the signal's reason once aborted. */
  async next(): Promise<string[][] | undefined> {
    this.signal?.throwIfAborted()
    if (this.#handedOut && !this.#finished) this.#parser?.resume()
    for (;;) {
      this.signal?.throwIfAborted()
      const data = this.#chunks.shift()
      if (data) {
        this.#handedOut = true
        return data
      }
      if (this.#failure !== undefined) throw this.#failure
      if (this.#finished) return undefined
      await new Promise<void>((resolve) => (this.#wake = resolve))
      this.#wake = undefined
    }
  }

  /** Ends the parsing before the end of the file. */
  stop() {
    this.signal?.removeEventListener('abort', this.#onAbort)
    if (!this.#finished) this.#parser?.abort()
  }

  readonly #onAbort = () => this.#wake?.()

  #take(results: Papa.ParseResult<string[]>, parser: Papa.Parser) {
    // A quote never closed swallows every line after it into one field: refuse the file rather
    // than lose those rows without a word.
    const unclosed = results.errors.find((error) => error.code === 'MissingQuotes')
    if (unclosed) {
      const line = this.#read + (unclosed.row ?? 0) + 1
      this.#failure = new HttpProblem(415, `"${this.filename}" has a quote that is never closed, in row ${line}.`)
      parser.abort()
      this.#wake?.()
      return
    }
    this.#read += results.data.length
    this.#chunks.push(results.data)
    this.#parser = parser
    parser.pause()
    this.#wake?.()
  }

  #end(error?: Error) {
    if (error) this.#failure = error
    else this.#finished = true
    this.#wake?.()
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

/**
 * The part of SheetJS's number format library (SSF) read here, which its typings leave as `any`.
 */
interface DateCodes {
  /** Whether a number format shows a date. */
  is_date(format: XLSX.NumberFormat): boolean
  /** The day an Excel date serial number stands for; null when it is out of range. */
  parse_date_code(serial: number, options: { date1904: boolean }): { y: number; m: number; d: number } | null
}

/** The rows of the first sheet of an .xls or .xlsx workbook, a thousand at a time. */
async function* spreadsheetRows(
  path: string,
  filename: string,
  format: Format,
  columns: number,
  limits: SpreadsheetLimits,
): AsyncGenerator<SourceRow[]> {
  const file = await readFile(path)
  const buffer = format === 'xlsx' ? repackUnpacked(file, filename, limits) : file
  // SheetJS is large: it is loaded when the first spreadsheet comes, not with the server.
  const xlsx = await import('xlsx')
  const workbook = readWorkbook(xlsx.read, buffer, filename, limits)
  const data = firstSheet(workbook, filename, limits)
  const value = cellValue(xlsx.SSF as DateCodes, Boolean(workbook.Workbook?.WBProps?.date1904))
  for (let start = 0; start < data.length; start += 1000) {
    const batch: SourceRow[] = []
    for (let r = start; r < Math.min(start + 1000, data.length); r++) {
      const row = data[r]
      // A row with a cell in column XFD is an array of 16,384 slots: only the first `columns` are read.
      if (row) {
        batch.push({
          row: r + 1,
          cells: Array.from({ length: Math.min(columns, row.length) }, (_, c) => value(row[c])),
        })
      }
    }
    yield batch
  }
}

/** Parses the workbook: its first sheet only, and at most one row past the bound; 415 when it is none. */
function readWorkbook(
  read: typeof XLSX.read,
  buffer: Buffer,
  filename: string,
  limits: SpreadsheetLimits,
): XLSX.WorkBook {
  try {
    return read(buffer, {
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
}

/** The rows of the first sheet, each an array of cells or a hole where the row is empty; 413 past the bound. */
function firstSheet(workbook: XLSX.WorkBook, filename: string, limits: SpreadsheetLimits) {
  const sheet = workbook.Sheets[workbook.SheetNames[0] ?? '']
  const data = (sheet?.['!data'] ?? []) as ((XLSX.CellObject | undefined)[] | undefined)[]
  if (data.length > limits.rows) {
    throw new HttpProblem(
      413,
      `"${filename}" has more than ${limits.rows.toLocaleString('en')} rows; split it into smaller files.`,
    )
  }
  return data
}

/**
 * How a workbook's cells read. A number in a cell formatted as a date is a date: it is read as
 * `YYYY-MM-DD`, in the workbook's own date system (1900, or 1904 for old Mac workbooks). Any other
 * number stays one.
 */
function cellValue(ssf: DateCodes, date1904: boolean): (cell: XLSX.CellObject | undefined) => Cell {
  return (cell) => {
    if (!cell || cell.t === 'e' || cell.t === 'z') return null
    if (cell.t === 'n' && typeof cell.v === 'number' && cell.z !== undefined && ssf.is_date(cell.z)) {
      const day = ssf.parse_date_code(cell.v, { date1904 })
      if (day) {
        return `${String(day.y).padStart(4, '0')}-${String(day.m).padStart(2, '0')}-${String(day.d).padStart(2, '0')}`
      }
    }
    return (cell.v as Cell) ?? null
  }
}
