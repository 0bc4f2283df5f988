// Storing the valid rows of an upload, batch by batch, inside its transaction.
import type { ImportProduct } from '../../schemas/product.js'
import type { UploadKind, UploadMode } from '../../schemas/upload.js'
import { insertMany } from '../db/bulk.js'
import type { NewEvent } from '../changes.js'
import type { Db } from '../db/connect.js'
import {
  createdEvent,
  newCustomerRow,
  selectCustomers,
  toColumns,
  toCustomer,
  updatedEvent,
} from '../services/customers.js'
import { newProductRow, productCreatedEvent, toProduct } from '../services/products.js'
import type { CustomerCandidate, RowValue } from './parse.js'

/** What became of a valid row when its batch was stored. */
export type Outcome = 'inserted' | 'updated' | { reason: string }

/** A valid row of the file: its number and the record it makes. */
export interface Candidate<T> {
  row: number
  value: T
}

/** Stores a batch of valid rows; the outcome of each, in order. */
export type Store<T> = (batch: Candidate<T>[]) => Promise<Outcome[]>

/** Records the events of what a batch stored, in the upload's transaction. */
export type RecordEvents = (events: NewEvent[]) => Promise<void>

const inFile = ({ customer }: CustomerCandidate, row: number) => ({
  reason: `Email ${customer.email} is already in row ${row} of this file`,
})
const storedAlready = ({ customer }: CustomerCandidate, id: number) => ({
  reason: `Email ${customer.email} belongs to a customer already stored (id ${id})`,
})

/**
 * The row of the file that inserted or updated each customer this upload stored. The rows it
 * inserted are found again through the database (not a set of addresses held in memory, which
 * would grow with the file): an id tells which row inserted it, counting from the first id this
 * upload inserted. (A row skipped by the database still uses up an id, so there may be holes.)
 */
class RowsById {
  #firstId: number | undefined
  readonly #inserted: number[] = []
  readonly #updated = new Map<number, number>()

  inserted(id: number, row: number) {
    this.#firstId ??= id
    this.#inserted[id - this.#firstId] = row
  }

  updated(id: number, row: number) {
    this.#updated.set(id, row)
  }

  /** The row of the file that stored customer `id`; undefined when no row of this upload did. */
  rowOf(id: number): number | undefined {
    return this.#firstId !== undefined && id >= this.#firstId
      ? this.#inserted[id - this.#firstId]
      : this.#updated.get(id)
  }
}

/**
 * Customer rows are unique by e-mail address, in the file and among stored customers. An upsert
 * looks every address up before it stores; an insert inserts first, skipping the addresses taken,
 * and looks up only those. Either way one rule, `#outcome`, says what each row comes to.
 */
class CustomerStore {
  readonly #rows = new RowsById()

  constructor(
    private readonly trx: Db,
    private readonly mode: UploadMode,
    private readonly time: string,
    private readonly record: RecordEvents,
  ) {}

  async store(batch: Candidate<CustomerCandidate>[]): Promise<Outcome[]> {
    const outcomes = new Array<Outcome>(batch.length)
    const unique = this.#firstOfEachAddress(batch, outcomes)
    if (this.mode === 'upsert') await this.#upsert(batch, unique, outcomes)
    else await this.#insert(batch, unique, outcomes)
    return outcomes
  }

  /**
   * What a row comes to, given the customer its address belongs to (`holder`, undefined when none):
   * inserted, updated (upsert only), or skipped because an earlier row of the file has the address,
   * a stored customer has it, or the row lacks what a new customer needs.
   */
  #outcome({ value }: Candidate<CustomerCandidate>, holder: number | undefined): Outcome {
    if (holder === undefined) return value.incomplete ? { reason: value.incomplete } : 'inserted'
    const earlier = this.#rows.rowOf(holder)
    if (earlier !== undefined) return inFile(value, earlier)
    return this.mode === 'upsert' ? 'updated' : storedAlready(value, holder)
  }

  /**
   * Skips each row whose address an earlier row of the batch has, and returns the indexes of the
   * others. A row that cannot make a new customer only counts as the first with its address where
   * it may update a stored one.
   */
  #firstOfEachAddress(batch: Candidate<CustomerCandidate>[], outcomes: Outcome[]): number[] {
    const firstInBatch = new Map<string, number>()
    const unique: number[] = []
    for (const [i, { row, value }] of batch.entries()) {
      const earlier = firstInBatch.get(value.key)
      if (earlier !== undefined) {
        outcomes[i] = inFile(value, earlier)
        continue
      }
      if (!value.incomplete || this.mode === 'upsert') firstInBatch.set(value.key, row)
      unique.push(i)
    }
    return unique
  }

  async #upsert(batch: Candidate<CustomerCandidate>[], unique: number[], outcomes: Outcome[]) {
    const holders = await this.#holders(unique.map((i) => batch[i]!.value.key))
    const inserts: Candidate<CustomerCandidate>[] = []
    const updates: [number, Candidate<CustomerCandidate>][] = []
    for (const i of unique) {
      const candidate = batch[i]!
      const holder = holders.get(candidate.value.key)
      const outcome = (outcomes[i] = this.#outcome(candidate, holder))
      if (outcome === 'inserted') inserts.push(candidate)
      else if (outcome === 'updated') updates.push([holder!, candidate])
    }
    await this.#updateAll(updates)
    await this.#insertRows(inserts)
  }

  /** Updates the customers, each from its row, and records each change as it shows before and after. */
  async #updateAll(updates: [number, Candidate<CustomerCandidate>][]) {
    if (updates.length === 0) return
    const ids = updates.map(([id]) => id)
    const before = await this.#customers(ids)
    for (const [id, candidate] of updates) await this.#update(id, candidate)
    const after = await this.#customers(ids)
    await this.record(ids.map((id) => updatedEvent(before.get(id)!, after.get(id)!)))
  }

  async #customers(ids: number[]) {
    const rows = await selectCustomers(this.trx).where('customers.id', 'in', ids).execute()
    return new Map(rows.map((row) => [row.id, toCustomer(row)]))
  }

  async #insert(batch: Candidate<CustomerCandidate>[], unique: number[], outcomes: Outcome[]) {
    const complete = unique.filter((i) => !batch[i]!.value.incomplete)
    const incomplete = unique.filter((i) => batch[i]!.value.incomplete)
    const ids = await this.#insertRows(complete.map((i) => batch[i]!))
    // Only the rows not inserted have an address that may be taken: look those up, when there are any.
    const taken = [...complete.filter((_, k) => ids[k] === undefined), ...incomplete]
    const holders = taken.length > 0 ? await this.#holders(taken.map((i) => batch[i]!.value.key)) : undefined
    for (const [k, i] of complete.entries()) {
      outcomes[i] = ids[k] === undefined ? this.#outcome(batch[i]!, this.#takenBy(holders, batch[i]!)) : 'inserted'
    }
    for (const i of incomplete) outcomes[i] = this.#outcome(batch[i]!, holders?.get(batch[i]!.value.key))
  }

  /** Who holds the address of a row the database refused to insert: someone must, or the row was lost. */
  #takenBy(holders: Map<string, number> | undefined, { row, value }: Candidate<CustomerCandidate>): number {
    const holder = holders?.get(value.key)
    if (holder === undefined) throw new Error(`row ${row} was neither inserted nor taken by a stored customer`)
    return holder
  }

  /** Only the cells the row gave change: an empty cell leaves the stored value as it is. */
  async #update(id: number, { row, value }: Candidate<CustomerCandidate>) {
    await this.trx
      .updateTable('customers')
      .set({ ...toColumns(value.given), updated: this.time })
      .where('id', '=', id)
      .execute()
    this.#rows.updated(id, row)
  }

  /**
   * Inserts the rows, skipping those whose e-mail address is taken (by a stored customer or by an
   * earlier batch), and returns the id of each inserted one. Looks ids up only when the insert
   * cannot tell them (SQLite, with rows skipped).
   */
  async #insertRows(rows: Candidate<CustomerCandidate>[]): Promise<(number | undefined)[]> {
    const customers = rows.map(({ value }) => newCustomerRow(value.customer, this.time))
    const result = await insertMany(this.trx, 'customers', customers, { skipTaken: 'email_key' })
    const ids =
      result.ids ??
      (await this.#newIds(
        rows.map(({ value }) => value.key),
        result.count,
      ))
    const events: NewEvent[] = []
    for (const [i, id] of ids.entries()) {
      if (id === undefined) continue
      this.#rows.inserted(id, rows[i]!.row)
      events.push(createdEvent(toCustomer({ ...customers[i]!, id, revenue_cents: 0 })))
    }
    await this.record(events)
    return ids
  }

  /** The ids of the `count` rows an insert of these addresses stored: above every id before it. */
  async #newIds(keys: string[], count: number): Promise<(number | undefined)[]> {
    const found = await this.#holders(keys)
    const all = keys.map((key) => found.get(key)!)
    const lowestNew = [...all].sort((x, y) => y - x)[count - 1] ?? Number.POSITIVE_INFINITY
    return all.map((id) => (id >= lowestNew ? id : undefined))
  }

  /** The stored customer holding each of these (case-folded) addresses. */
  async #holders(keys: string[]): Promise<Map<string, number>> {
    const rows = await this.trx
      .selectFrom('customers')
      .select(['id', 'email_key'])
      .where('email_key', 'in', keys)
      .execute()
    return new Map(rows.map((row) => [row.email_key, row.id]))
  }
}

function customerStore(trx: Db, mode: UploadMode, time: string, record: RecordEvents): Store<CustomerCandidate> {
  const customers = new CustomerStore(trx, mode, time, record)
  return (batch) => customers.store(batch)
}

/** Product rows may repeat; a row naming a customer that is not stored is skipped. */
function productStore(trx: Db, _mode: UploadMode, time: string, record: RecordEvents): Store<ImportProduct> {
  return async (batch) => {
    const owners = [...new Set(batch.map(({ value }) => value.customerid).filter((id) => id != null))] as number[]
    const found =
      owners.length > 0 ? await trx.selectFrom('customers').select('id').where('id', 'in', owners).execute() : []
    const known = new Set(found.map((row) => row.id))
    const inserts: ReturnType<typeof newProductRow>[] = []
    const outcomes: Outcome[] = []
    for (const { value } of batch) {
      if (value.customerid != null && !known.has(value.customerid)) {
        outcomes.push({ reason: `CustomerId ${value.customerid} is not a stored customer` })
      } else {
        inserts.push(newProductRow(value, time))
        outcomes.push('inserted')
      }
    }
    const { ids } = await insertMany(trx, 'products', inserts)
    await record(inserts.map((row, i) => productCreatedEvent(toProduct({ ...row, id: ids![i]! }))))
    return outcomes
  }
}

/** The store of one upload of each kind: inside its transaction, stamping rows with its `time`, recording their events. */
export const stores: {
  [K in UploadKind]: (trx: Db, mode: UploadMode, time: string, record: RecordEvents) => Store<RowValue<K>>
} = {
  customers: customerStore,
  products: productStore,
}
