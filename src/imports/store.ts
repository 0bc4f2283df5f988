// Storing the valid rows of an upload, batch by batch, inside its transaction.
import type { ImportProduct } from '../../schemas/product.js'
import type { UploadReport } from '../../schemas/upload.js'
import { insertMany } from '../db/bulk.js'
import type { Db } from '../db/connect.js'
import { newCustomerRow, toColumns } from '../services/customers.js'
import { newProductRow } from '../services/products.js'
import type { CustomerCandidate, Kind, Value } from './parse.js'

export type Mode = UploadReport['mode']

/** What became of a valid row when its batch was stored. */
export type Outcome = 'inserted' | 'updated' | { reason: string }

export type Candidate<T> = { row: number; value: T }

/** Stores a batch of valid rows; the outcome of each, in order. */
export type Store<T> = (batch: Candidate<T>[]) => Promise<Outcome[]>

/**
 * Customer rows are unique by e-mail address, in the file and among stored customers. The rows
 * this upload inserted are found again through the database (not a set held in memory, which
 * would grow with the file): their ids are consecutive, so an id tells which row inserted it.
 */
function customerStore(trx: Db, mode: Mode, time: string): Store<CustomerCandidate> {
  let firstId: number | undefined
  const insertedRows: number[] = []
  const updatedRows = new Map<number, number>()
  const earlierRow = (id: number) =>
    firstId !== undefined && id >= firstId ? insertedRows[id - firstId] : updatedRows.get(id)

  return async (batch) => {
    const keys = batch.map(({ value }) => value.key)
    const stored = await trx.selectFrom('customers').select(['id', 'email_key']).where('email_key', 'in', keys).execute()
    const existing = new Map(stored.map((row) => [row.email_key, row.id]))
    const inBatch = new Map<string, number>()
    const inserts = []
    const rows = []
    const outcomes: Outcome[] = []
    for (const { row, value } of batch) {
      const id = existing.get(value.key)
      const earlier = inBatch.get(value.key) ?? (id === undefined ? undefined : earlierRow(id))
      if (earlier !== undefined) {
        outcomes.push({ reason: `Email ${value.customer.email} is already in row ${earlier} of this file` })
      } else if (id === undefined && value.incomplete) {
        outcomes.push({ reason: value.incomplete })
      } else if (id === undefined) {
        inserts.push(newCustomerRow(value.customer, time))
        rows.push(row)
        inBatch.set(value.key, row)
        outcomes.push('inserted')
      } else if (mode === 'upsert') {
        // Only the cells the row gave change: an empty cell leaves the stored value as it is.
        await trx
          .updateTable('customers')
          .set({ ...toColumns(value.given), updated: time })
          .where('id', '=', id)
          .execute()
        updatedRows.set(id, row)
        inBatch.set(value.key, row)
        outcomes.push('updated')
      } else {
        outcomes.push({ reason: `Email ${value.customer.email} belongs to a customer already stored (id ${id})` })
      }
    }
    const lastId = await insertMany(trx, 'customers', inserts)
    if (lastId !== undefined) {
      firstId ??= lastId - inserts.length + 1
      insertedRows.push(...rows)
    }
    return outcomes
  }
}

function productStore(trx: Db, _mode: Mode, time: string): Store<ImportProduct> {
  return async (batch) => {
      const owners = [...new Set(batch.map(({ value }) => value.customerid).filter((id) => id != null))] as number[]
      const found = owners.length > 0 ? await trx.selectFrom('customers').select('id').where('id', 'in', owners).execute() : []
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
export const stores: { [K in Kind]: (trx: Db, mode: Mode, time: string) => Store<Value<K>> } = {
  customers: customerStore,
  products: productStore,
}
