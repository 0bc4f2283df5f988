// Storing the valid rows of an upload, batch by batch, inside its transaction.
import type { ImportProduct } from '../../schemas/product.js'
import type { UploadKind, UploadMode } from '../../schemas/upload.js'
import { insertMany } from '../db/bulk.js'
import type { Db } from '../db/connect.js'
import { newCustomerRow, toColumns } from '../services/customers.js'
import { newProductRow } from '../services/products.js'
import type { CustomerCandidate, RowValue } from './parse.js'

/** What became of a valid row when its batch was stored. */
export type Outcome = 'inserted' | 'updated' | { reason: string }

export interface Candidate<T> {
  row: number
  value: T
}

/** Stores a batch of valid rows; the outcome of each, in order. */
export type Store<T> = (batch: Candidate<T>[]) => Promise<Outcome[]>

/**
 * Customer rows are unique by e-mail address, in the file and among stored customers. The rows
 * this upload inserted are found again through the database (not a set held in memory, which
 * would grow with the file): an id tells which row of the file inserted it.
 */
function customerStore(trx: Db, mode: UploadMode, time: string): Store<CustomerCandidate> {
  // The row of the file that inserted each id, from the first id this upload inserted. (A row
  // skipped by the database still uses up an id, so there may be holes.)
  let firstId: number | undefined
  const insertedRows: number[] = []
  const updatedRows = new Map<number, number>()
  const earlierRow = (id: number) =>
    firstId !== undefined && id >= firstId ? insertedRows[id - firstId] : updatedRows.get(id)
  const inFile = (value: CustomerCandidate, row: number) => ({
    reason: `Email ${value.customer.email} is already in row ${row} of this file`,
  })
  const stored = (value: CustomerCandidate, id: number) => ({
    reason: `Email ${value.customer.email} belongs to a customer already stored (id ${id})`,
  })
  const idsOf = async (keys: string[]) =>
    new Map(
      (await trx.selectFrom('customers').select(['id', 'email_key']).where('email_key', 'in', keys).execute()).map(
        (row) => [row.email_key, row.id],
      ),
    )

  /**
   * Inserts the rows, skipping those whose e-mail address is taken (by a stored customer or by an
   * earlier batch), and returns the id of each inserted one. Looks ids up only when some were
   * skipped: otherwise they are the consecutive ids up to the last.
   */
  async function insert(rows: Candidate<CustomerCandidate>[]): Promise<(number | undefined)[]> {
    const result = await insertMany(
      trx,
      'customers',
      rows.map(({ value }) => newCustomerRow(value.customer, time)),
      {
        skipTaken: 'email_key',
      },
    )
    const count = result?.count ?? 0
    let ids: (number | undefined)[]
    if (count === rows.length) {
      ids = rows.map((_, i) => result!.lastId - count + 1 + i)
    } else {
      // The ids this statement gave are above every id before it: the `count` highest are new.
      const found = await idsOf(rows.map(({ value }) => value.key))
      const all = rows.map(({ value }) => found.get(value.key)!)
      const lowestNew = [...all].sort((x, y) => y - x)[count - 1] ?? Number.POSITIVE_INFINITY
      ids = all.map((id) => (id >= lowestNew ? id : undefined))
    }
    for (const [i, id] of ids.entries()) {
      if (id === undefined) continue
      firstId ??= id
      insertedRows[id - firstId] = rows[i]!.row
    }
    return ids
  }

  return async (batch) => {
    const outcomes: Outcome[] = new Array(batch.length)
    const firstInBatch = new Map<string, number>()
    const unique: number[] = []
    for (const [i, { row, value }] of batch.entries()) {
      const earlier = firstInBatch.get(value.key)
      if (earlier !== undefined) {
        outcomes[i] = inFile(value, earlier)
        continue
      }
      // A row that cannot make a new customer only counts as the first with its address where it
      // may update a stored one.
      if (!value.incomplete || mode === 'upsert') firstInBatch.set(value.key, row)
      unique.push(i)
    }
    /** A row whose address is taken: by an earlier row of the file, or by a stored customer. */
    const takenBy = (i: number, id: number) => {
      const earlier = earlierRow(id)
      return earlier === undefined ? stored(batch[i]!.value, id) : inFile(batch[i]!.value, earlier)
    }

    if (mode === 'upsert') {
      const existing = await idsOf(unique.map((i) => batch[i]!.value.key))
      const inserts: number[] = []
      for (const i of unique) {
        const { row, value } = batch[i]!
        const id = existing.get(value.key)
        if (id !== undefined && earlierRow(id) !== undefined) outcomes[i] = takenBy(i, id)
        else if (id === undefined && value.incomplete) outcomes[i] = { reason: value.incomplete }
        else if (id === undefined) inserts.push(i)
        else {
          // Only the cells the row gave change: an empty cell leaves the stored value as it is.
          await trx
            .updateTable('customers')
            .set({ ...toColumns(value.given), updated: time })
            .where('id', '=', id)
            .execute()
          updatedRows.set(id, row)
          outcomes[i] = 'updated'
        }
      }
      await insert(inserts.map((i) => batch[i]!))
      for (const i of inserts) outcomes[i] = 'inserted'
      return outcomes
    }

    // Insert mode: insert first, and look the taken addresses up only when there are some.
    const complete = unique.filter((i) => !batch[i]!.value.incomplete)
    const incomplete = unique.filter((i) => batch[i]!.value.incomplete)
    const ids = await insert(complete.map((i) => batch[i]!))
    const skipped = complete.filter((_, k) => ids[k] === undefined)
    const taken =
      skipped.length + incomplete.length > 0
        ? await idsOf([...skipped, ...incomplete].map((i) => batch[i]!.value.key))
        : undefined
    for (const [k, i] of complete.entries())
      outcomes[i] = ids[k] === undefined ? takenBy(i, taken!.get(batch[i]!.value.key)!) : 'inserted'
    for (const i of incomplete) {
      const id = taken!.get(batch[i]!.value.key)
      outcomes[i] = id === undefined ? { reason: batch[i]!.value.incomplete! } : takenBy(i, id)
    }
    return outcomes
  }
}

function productStore(trx: Db, _mode: UploadMode, time: string): Store<ImportProduct> {
  return async (batch) => {
    const owners = [...new Set(batch.map(({ value }) => value.customerid).filter((id) => id != null))] as number[]
    const found =
      owners.length > 0 ? await trx.selectFrom('customers').select('id').where('id', 'in', owners).execute() : []
    const known = new Set(found.map((row) => row.id))
    const inserts = []
    const outcomes: Outcome[] = []
    for (const { value } of batch) {
      if (value.customerid != null && !known.has(value.customerid)) {
        outcomes.push({ reason: `CustomerId ${value.customerid} is not a stored customer` })
      } else {
        inserts.push(newProductRow(value, time))
        outcomes.push('inserted')
      }
    }
    await insertMany(trx, 'products', inserts)
    return outcomes
  }
}

/** The store of one upload of each kind: inside its transaction, stamping rows with its `time`. */
export const stores: { [K in UploadKind]: (trx: Db, mode: UploadMode, time: string) => Store<RowValue<K>> } = {
  customers: customerStore,
  products: productStore,
}
