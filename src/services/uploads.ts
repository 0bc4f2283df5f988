// Uploads of customer and product lists: from the received file to its stored report, and the reports read again.
import type { FastifyBaseLogger } from 'fastify'
import {
  REPORT_ERRORS_LIMIT,
  UploadModeSchema,
  type UploadKind,
  type UploadMode,
  type UploadReport,
} from '../../schemas/upload.js'
import { change, type NewEvent, recordEvents, type Writer } from '../changes.js'
import type { Db } from '../db/connect.js'
import { checkContent, type Format, formatOf } from '../imports/formats.js'
import { parsedRows, parsers, type Pending, type RowValue } from '../imports/parse.js'
import { readRows } from '../imports/read.js'
import type { ReceivedFile } from '../imports/receive.js'
import { sheetRows } from '../imports/sheets.js'
import { type Candidate, type Outcome, type RecordEvents, type Store, stores } from '../imports/store.js'
import { invalid, notFound } from '../problems.js'
import { now } from './values.js'

export interface UploadOptions {
  /** The mode the query string asked for; the form's `mode` field may ask too, for the same one. */
  mode?: UploadMode
  /** The request's log: every skipped row is logged, and the upload's start and end. */
  log: FastifyBaseLogger
  /** Who uploads: every change is recorded as theirs, with the upload's id. */
  by: Writer
  /**
   * Aborted when the client goes away: the reading stops (the worker's job ends, the CSV parser
   * stops), nothing is stored, and the upload fails with the signal's reason.
   */
  signal?: AbortSignal
}

/**
 * Reads an uploaded file of `kind` and stores its valid rows, skipping the others with their
 * reasons: 415 when its name or its content is not one of the formats read, 400 for a `mode` it
 * cannot take. The rows and the report are stored in one transaction, or nothing is. The file is
 * discarded once read, whatever the outcome.
 */
export async function runUpload(
  db: Db,
  file: ReceivedFile,
  kind: UploadKind,
  { mode: queryMode, log, signal, by }: UploadOptions,
): Promise<UploadReport> {
  const { path, filename } = file
  try {
    const format = formatOf(filename)
    const mode = modeOf(kind, queryMode, file.modeFields)
    await checkContent(path, filename, format)
    const rows = rowsOf(kind, path, filename, format, signal)
    return await storeUpload(db, kind, rows, { filename, mode, log, signal, by })
  } catch (error) {
    if (signal?.aborted) log.warn({ kind, filename, reason: (signal.reason as Error).message }, 'upload stopped')
    throw error
  } finally {
    await file.discard()
  }
}

/** The rows of the file as records or reasons: a CSV streamed here, a spreadsheet read in the worker thread. */
function rowsOf<K extends UploadKind>(
  kind: K,
  path: string,
  filename: string,
  format: Format,
  signal: AbortSignal | undefined,
): AsyncIterable<Pending<RowValue<K>>[]> {
  if (format !== 'csv') return sheetRows({ kind, path, filename, format }, signal)
  return parsedRows(kind, readRows(path, filename, format, parsers[kind].columns, { signal }), format)
}

const MODES = UploadModeSchema.enum as readonly string[]
const isMode = (value: string): value is UploadMode => MODES.includes(value)

/**
 * The upload's mode: the query string's, the form field's, or `insert`. Asked in both places, it
 * must be the same; only customer uploads have one.
 */
function modeOf(kind: UploadKind, query: UploadMode | undefined, fields: string[]): UploadMode {
  const field = formMode(kind, fields)
  if (query !== undefined && field !== undefined && query !== field) {
    throw invalid('mode', 'is given in the query string and in the form, with different values')
  }
  return query ?? field ?? 'insert'
}

/** The mode the `mode` form field asks for, if there is one. */
function formMode(kind: UploadKind, fields: string[]): UploadMode | undefined {
  const [field] = fields
  if (field === undefined) return undefined
  if (kind !== 'customers') throw invalid('mode', 'is not a field of a product upload')
  if (fields.length > 1) throw invalid('mode', 'is given more than once')
  if (!isMode(field)) throw invalid('mode', `must be one of ${MODES.join(', ')}`)
  return field
}

/**
 * Stores the rows with their report in one transaction. The transaction (and with it the database)
 * is taken when the first rows are ready, not while a workbook is still being parsed: other
 * requests go on meanwhile.
 */
async function storeUpload<K extends UploadKind>(
  db: Db,
  kind: K,
  rows: AsyncIterable<Pending<RowValue<K>>[]>,
  { filename, mode, log, signal, by }: Omit<UploadOptions, 'mode'> & { filename: string; mode: UploadMode },
): Promise<UploadReport> {
  const batches = rows[Symbol.asyncIterator]()
  try {
    log.info({ kind, filename }, 'upload started')
    const first = await batches.next()
    return await change(db, by, async (trx) => {
      const report = await createReport(trx, kind, mode, filename)
      const uploadLog = log.child({ upload: report.id, kind, filename })
      const record = (events: NewEvent[]) => recordEvents(trx, by, report.created, events, report.id)
      await storeRows(trx, kind, report, first, batches, { log: uploadLog, signal, record })
      await saveReport(trx, report)
      uploadLog.info(
        { rows: report.rows, inserted: report.inserted, updated: report.updated, skipped: report.skipped },
        'upload stored',
      )
      return report
    })
  } finally {
    // Ends the reading when storing failed half way: the file closes, the worker is free again.
    await batches.return?.(undefined)
  }
}

// ---- The rows, stored batch by batch and counted in the report ----

/** Rows checked against the database and stored together; bounds the memory an upload holds. */
const BATCH_ROWS = 500

/**
 * Stores the valid rows in batches, stamped with the report's time, with their events (`record`), and counts every row in
 * `report`: skipped rows are logged one by one, and the report lists the first of them. `first` is
 * the first batch read, taken before the transaction began; `rest` reads the others.
 */
async function storeRows<K extends UploadKind>(
  trx: Db,
  kind: K,
  report: UploadReport,
  first: IteratorResult<Pending<RowValue<K>>[]>,
  rest: AsyncIterator<Pending<RowValue<K>>[]>,
  { log, signal, record }: { log: FastifyBaseLogger; signal?: AbortSignal | undefined; record: RecordEvents },
): Promise<void> {
  const storeBatch = stores[kind](trx, report.mode, report.created, record)
  let pending: Pending<RowValue<K>>[] = []
  for (let next = first; !next.done; next = await rest.next()) {
    // The client went away: the transaction rolls back, however far the file has been read.
    signal?.throwIfAborted()
    const batch = next.value
    report.rows += batch.length
    for (const entry of batch) {
      pending.push(entry)
      if (pending.length >= BATCH_ROWS) {
        tally(report, pending, await storeValid(storeBatch, pending), log)
        pending = []
      }
    }
  }
  tally(report, pending, await storeValid(storeBatch, pending), log)
}

/** Stores the valid rows among `pending`; the outcome of each, in order. */
async function storeValid<T>(storeBatch: Store<T>, pending: Pending<T>[]): Promise<Outcome[]> {
  const valid = pending.filter((entry) => entry.reason === undefined) as Candidate<T>[]
  return valid.length > 0 ? storeBatch(valid) : []
}

/** Counts the rows of a stored batch in the report: a valid row by its outcome, the others as skipped. */
function tally<T>(report: UploadReport, pending: Pending<T>[], outcomes: Outcome[], log: FastifyBaseLogger) {
  let next = 0
  for (const { row, reason } of pending) {
    if (reason !== undefined) {
      skip(report, row, reason, log)
      continue
    }
    const outcome = outcomes[next++]!
    if (outcome === 'inserted') report.inserted++
    else if (outcome === 'updated') report.updated++
    else skip(report, row, outcome.reason, log)
  }
}

function skip(report: UploadReport, row: number, reason: string, log: FastifyBaseLogger) {
  report.skipped++
  if (report.errors.length < REPORT_ERRORS_LIMIT) report.errors.push({ row, reason })
  log.info({ row, reason }, 'upload row skipped')
}

// ---- The `upload_reports` table: written here, as an upload begins and ends, and read here ----

/** The report of an upload that begins, stored with nothing counted yet: its id names the upload in the log. */
async function createReport(trx: Db, kind: UploadKind, mode: UploadMode, filename: string): Promise<UploadReport> {
  // The upload is one event: its report and every row it stores carry the same time.
  const created = now()
  const { id } = await trx
    .insertInto('upload_reports')
    .values({ kind, mode, filename, rows: 0, inserted: 0, updated: 0, skipped: 0, errors: '[]', created })
    .returning('id')
    .executeTakeFirstOrThrow()
  return { id, kind, mode, filename, rows: 0, inserted: 0, updated: 0, skipped: 0, errors: [], created }
}

/** Stores what the upload counted, once all its rows are stored. */
async function saveReport(trx: Db, { id, rows, inserted, updated, skipped, errors }: UploadReport): Promise<void> {
  await trx
    .updateTable('upload_reports')
    .set({ rows, inserted, updated, skipped, errors: JSON.stringify(errors) })
    .where('id', '=', id)
    .execute()
}

/** A stored report, as it was answered when the file was uploaded. */
export async function getReport(db: Db, id: number): Promise<UploadReport> {
  const row = await db.selectFrom('upload_reports').selectAll().where('id', '=', id).executeTakeFirst()
  if (!row) throw notFound(`Upload report ${id}`)
  return { ...row, errors: JSON.parse(row.errors) as UploadReport['errors'] }
}
