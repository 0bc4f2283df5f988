// The rows of an upload stored batch by batch inside its transaction, each counted in the upload's report.
import type { FastifyBaseLogger } from 'fastify'
import { REPORT_ERRORS_LIMIT, type UploadKind, type UploadReport } from '../../schemas/upload.js'
import type { Db } from '../db/connect.js'
import type { Pending, RowValue } from './parse.js'
import { type Candidate, type Outcome, type Store, stores } from './store.js'

/** Rows checked against the database and stored together; bounds the memory an upload holds. */
const BATCH_ROWS = 500

/**
 * Stores the valid rows in batches, stamped with the report's time, and counts every row in
 * `report`: skipped rows are logged one by one, and the report lists the first of them. `first` is
 * the first batch read, taken before the transaction began; `rest` reads the others.
 */
export async function storeRows<K extends UploadKind>(
  trx: Db,
  kind: K,
  report: UploadReport,
  first: IteratorResult<Pending<RowValue<K>>[]>,
  rest: AsyncIterator<Pending<RowValue<K>>[]>,
  log: FastifyBaseLogger,
): Promise<void> {
  const storeBatch = stores[kind](trx, report.mode, report.created)
  let pending: Pending<RowValue<K>>[] = []
  for (let next = first; !next.done; next = await rest.next()) {
    const batch = next.value
    report.rows += batch.length
    for (const entry of batch) {
      pending.push(entry)
      if (pending.length >= BATCH_ROWS) {
        count(report, pending, await storeValid(storeBatch, pending), log)
        pending = []
      }
    }
  }
  count(report, pending, await storeValid(storeBatch, pending), log)
}

/** Stores the valid rows among `pending`; the outcome of each, in order. */
async function storeValid<T>(storeBatch: Store<T>, pending: Pending<T>[]): Promise<Outcome[]> {
  const valid = pending.filter((entry) => entry.reason === undefined) as Candidate<T>[]
  return valid.length > 0 ? storeBatch(valid) : []
}

/** Counts the rows of a stored batch in the report: a valid row by its outcome, the others as skipped. */
function count<T>(report: UploadReport, pending: Pending<T>[], outcomes: Outcome[], log: FastifyBaseLogger) {
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
