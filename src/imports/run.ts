// An upload from rows to a stored report: one transaction per file, rows checked and stored in batches.
import type { FastifyBaseLogger } from 'fastify'
import { REPORT_ERRORS_LIMIT, type UploadReport } from '../../schemas/upload.js'
import type { Db } from '../db/connect.js'
import { now } from '../services/values.js'
import { isBlank, text } from './cells.js'
import type { Format } from './formats.js'
import type { Candidate, ImportKind, Mode, Outcome } from './kinds.js'
import type { SourceRow } from './read.js'

/** Rows checked against the database and stored together; bounds the memory an upload holds. */
const BATCH_ROWS = 500

export type ImportOptions = { filename: string; format: Format; mode: Mode; log: FastifyBaseLogger }

/** A row waiting for its batch to be stored: valid, or already known to be skipped. */
type Pending<T> = { row: number; value?: T; reason?: string }

/**
 * Reads every row, skips the invalid ones with their reasons, stores the valid ones in batches,
 * and stores the report, all in one transaction: the rows of a file are stored together or not
 * at all. Skipped rows are logged one by one; the report lists the first of them.
 */
export async function importRows<T>(
  db: Db,
  kind: ImportKind<T>,
  rows: AsyncIterable<SourceRow[]>,
  { filename, format, mode, log }: ImportOptions,
): Promise<UploadReport> {
  return db.transaction().execute(async (trx) => {
    // The upload is one event: its report and every row it stores carry the same time.
    const created = now()
    const { id } = await trx
      .insertInto('upload_reports')
      .values({ kind: kind.kind, mode, filename, rows: 0, inserted: 0, updated: 0, skipped: 0, errors: '[]', created })
      .returning('id')
      .executeTakeFirstOrThrow()
    const report: UploadReport = { id, kind: kind.kind, mode, filename, rows: 0, inserted: 0, updated: 0, skipped: 0, errors: [], created }
    const uploadLog = log.child({ upload: id, kind: kind.kind, filename })

    const skip = (row: number, reason: string) => {
      report.skipped++
      if (report.errors.length < REPORT_ERRORS_LIMIT) report.errors.push({ row, reason })
      uploadLog.info({ row, reason }, 'upload row skipped')
    }
    const store = kind.store(trx, mode, created)
    let pending: Pending<T>[] = []
    const flush = async () => {
      const valid = pending.filter((entry) => entry.reason === undefined) as Candidate<T>[]
      const outcomes: Outcome[] = valid.length > 0 ? await store(valid) : []
      let next = 0
      for (const entry of pending) {
        const outcome = entry.reason === undefined ? outcomes[next++]! : { reason: entry.reason }
        if (outcome === 'inserted') report.inserted++
        else if (outcome === 'updated') report.updated++
        else skip(entry.row, outcome.reason)
      }
      pending = []
    }

    let first = true
    for await (const batch of rows) {
      for (const { row, cells } of batch) {
        if (isBlank(cells)) continue
        // Only a spreadsheet may open with a header row; CSV and TXT files have none.
        if (first && format !== 'csv' && isHeader(cells, kind.header)) {
          first = false
          continue
        }
        first = false
        report.rows++
        const parsed = kind.parse(cells)
        pending.push(typeof parsed === 'string' ? { row, reason: parsed } : { row, value: parsed })
        if (pending.length >= BATCH_ROWS) await flush()
      }
    }
    await flush()

    const { rows: count, inserted, updated, skipped, errors } = report
    await trx
      .updateTable('upload_reports')
      .set({ rows: count, inserted, updated, skipped, errors: JSON.stringify(errors) })
      .where('id', '=', id)
      .execute()
    uploadLog.info({ rows: count, inserted, updated, skipped }, 'upload stored')
    return report
  })
}

const isHeader = (cells: SourceRow['cells'], [first, second]: readonly [string, string]) =>
  text(cells[0])?.toLowerCase() === first && text(cells[1])?.toLowerCase() === second
