// An upload from rows to a stored report: one transaction per file, rows stored in batches.
import type { FastifyBaseLogger } from 'fastify'
import { REPORT_ERRORS_LIMIT, type UploadKind, type UploadMode, type UploadReport } from '../../schemas/upload.js'
import type { Db } from '../db/connect.js'
import { now } from '../services/values.js'
import type { Pending, RowValue } from './parse.js'
import { type Candidate, type Outcome, stores } from './store.js'

/** Rows checked against the database and stored together; bounds the memory an upload holds. */
const BATCH_ROWS = 500

export interface ImportOptions {
  filename: string
  mode: UploadMode
  log: FastifyBaseLogger
}

/**
 * Stores the valid rows in batches, skips the others with their reasons, and stores the report,
 * all in one transaction: the rows of a file are stored together or not at all. Skipped rows are
 * logged one by one; the report lists the first of them.
 */
export async function importRows<K extends UploadKind>(
  db: Db,
  kind: K,
  rows: AsyncIterable<Pending<RowValue<K>>[]>,
  { filename, mode, log }: ImportOptions,
): Promise<UploadReport> {
  // The transaction (and with it the database) is taken when the first rows are ready, not while a
  // workbook is still being parsed: other requests go on meanwhile.
  const iterator = rows[Symbol.asyncIterator]()
  try {
    return await store(db, kind, iterator, await iterator.next(), { filename, mode, log })
  } finally {
    // Ends the reading when storing failed half way: the file closes, the worker is free again.
    await iterator.return?.(undefined)
  }
}

async function store<K extends UploadKind>(
  db: Db,
  kind: K,
  iterator: AsyncIterator<Pending<RowValue<K>>[]>,
  first: IteratorResult<Pending<RowValue<K>>[]>,
  { filename, mode, log }: ImportOptions,
): Promise<UploadReport> {
  return db.transaction().execute(async (trx) => {
    // The upload is one event: its report and every row it stores carry the same time.
    const created = now()
    const { id } = await trx
      .insertInto('upload_reports')
      .values({ kind, mode, filename, rows: 0, inserted: 0, updated: 0, skipped: 0, errors: '[]', created })
      .returning('id')
      .executeTakeFirstOrThrow()
    const report: UploadReport = {
      id,
      kind,
      mode,
      filename,
      rows: 0,
      inserted: 0,
      updated: 0,
      skipped: 0,
      errors: [],
      created,
    }
    const uploadLog = log.child({ upload: id, kind, filename })

    const skip = (row: number, reason: string) => {
      report.skipped++
      if (report.errors.length < REPORT_ERRORS_LIMIT) report.errors.push({ row, reason })
      uploadLog.info({ row, reason }, 'upload row skipped')
    }
    const storeBatch = stores[kind](trx, mode, created)
    let pending: Pending<RowValue<K>>[] = []
    const flush = async () => {
      const valid = pending.filter((entry) => entry.reason === undefined) as Candidate<RowValue<K>>[]
      const outcomes: Outcome[] = valid.length > 0 ? await storeBatch(valid) : []
      let next = 0
      for (const entry of pending) {
        const outcome = entry.reason === undefined ? outcomes[next++]! : { reason: entry.reason }
        if (outcome === 'inserted') report.inserted++
        else if (outcome === 'updated') report.updated++
        else skip(entry.row, outcome.reason)
      }
      pending = []
    }

    for (let next = first; !next.done; next = await iterator.next()) {
      const batch = next.value
      report.rows += batch.length
      for (const entry of batch) {
        pending.push(entry)
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
