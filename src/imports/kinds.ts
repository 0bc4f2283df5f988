// What each kind of upload reads from a row, and how it stores a batch of valid rows.
import type { CreateCustomer, UpdateCustomer } from '../../schemas/customer.js'
import { CreateCustomerSchema } from '../../schemas/customer.js'
import { type ImportProduct, ImportProductSchema } from '../../schemas/product.js'
import type { UploadReport } from '../../schemas/upload.js'
import { insertMany } from '../db/bulk.js'
import type { Db } from '../db/connect.js'
import { HttpProblem } from '../errors.js'
import { newCustomerRow, toColumns } from '../services/customers.js'
import { newProductRow } from '../services/products.js'
import { amountToCents, foldCase, now } from '../services/values.js'
import { compileValidator } from '../validation.js'
import { date, FLAG_WORDS, flag, reasonOf, text } from './cells.js'
import type { Cell } from './read.js'

export type Mode = UploadReport['mode']

/** What became of a valid row when its batch was stored. */
export type Outcome = 'inserted' | 'updated' | { reason: string }

export type Candidate<T> = { row: number; value: T }

/** Stores a batch of valid rows; the outcome of each, in order. */
export type Store<T> = (batch: Candidate<T>[]) => Promise<Outcome[]>

export interface ImportKind<T> {
  kind: UploadReport['kind']
  /** The first two cells of a header row, in lower case. */
  header: readonly [string, string]
  /** The row as a valid record, or the reason it is not one. */
  parse(cells: Cell[]): T | string
  /** The store of one upload: inside its transaction, stamping rows with its `time`. */
  store(trx: Db, mode: Mode, time: string): Store<T>
}

// ---- Customers: Name, Email, Address, Phone, OptEmail, OptPhone, OptChat, Status ----

const CUSTOMER_COLUMNS = {
  name: 'Name',
  email: 'Email',
  address: 'Address',
  phone: 'Phone',
  optemail: 'OptEmail',
  optphone: 'OptPhone',
  optchat: 'OptChat',
  status: 'Status',
}
const CUSTOMER_ORDER = Object.keys(CUSTOMER_COLUMNS) as Array<keyof typeof CUSTOMER_COLUMNS>
const validateCustomer = compileValidator(CreateCustomerSchema)

/**
 * A customer row: the new customer it makes (or, when cells a new customer needs are missing, why it
 * cannot be one), and the cells it gave, which is what an upsert changes in a stored customer.
 */
export type CustomerCandidate = {
  customer: CreateCustomer
  /** The case-folded e-mail address: what makes two rows, or a row and a stored customer, the same. */
  key: string
  incomplete?: string
  given: Omit<UpdateCustomer, 'id'>
}

function parseCustomer(cells: Cell[]): CustomerCandidate | string {
  const given: Record<string, unknown> = {}
  for (const [i, field] of CUSTOMER_ORDER.entries()) {
    const cell = cells[i]
    if (field.startsWith('opt')) {
      if (text(cell) === undefined && typeof cell !== 'boolean') continue
      const value = flag(cell)
      if (value === undefined) return `${CUSTOMER_COLUMNS[field]} must be one of ${FLAG_WORDS}, not "${text(cell)}"`
      given[field] = value
    } else {
      const value = text(cell)
      if (value !== undefined) given[field] = field === 'status' ? value.toLowerCase() : value
    }
  }
  if (given.name === undefined || given.email === undefined) {
    const missing = ['name', 'email'].filter((field) => given[field] === undefined).map((field) => CUSTOMER_COLUMNS[field as 'name'])
    return `${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} missing`
  }
  const customer = { status: 'active', optphone: false, optemail: false, optchat: false, ...given }
  const errors = validateCustomer(customer)
  // A bad cell skips the row; a missing one only matters if the row makes a new customer.
  const bad = errors.filter((error) => error.message !== 'is required')
  if (bad.length > 0) return reasonOf(bad, CUSTOMER_COLUMNS)
  return {
    customer: customer as CreateCustomer,
    key: foldCase(String(given.email)),
    ...(errors.length > 0 && { incomplete: reasonOf(errors, CUSTOMER_COLUMNS) }),
    given: given as CustomerCandidate['given'],
  }
}

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

export const customerImport: ImportKind<CustomerCandidate> = {
  kind: 'customers',
  header: ['name', 'email'],
  parse: parseCustomer,
  store: customerStore,
}

// ---- Products: Name, Price, Purchased, Warranty, CustomerId ----

const PRODUCT_COLUMNS = { name: 'Name', price: 'Price', purchased: 'Purchased', warranty: 'Warranty', customerid: 'CustomerId' }
const validateProduct = compileValidator(ImportProductSchema)

/** Defaults: purchased today (UTC), a warranty of 2 years, no owner. */
function parseProduct(cells: Cell[]): ImportProduct | string {
  const [name, price, purchased, warranty, customerid] = [text(cells[0]), cells[1], date(cells[2]), cells[3], cells[4]]
  const missing = [name === undefined && 'Name', text(price) === undefined && 'Price'].filter(Boolean)
  if (missing.length > 0) return `${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} missing`
  const product = {
    name,
    price: typeof price === 'string' ? price.trim() : price,
    purchased: purchased ?? now().slice(0, 10),
    warranty: text(warranty) === undefined ? 2 : typeof warranty === 'string' ? warranty.trim() : warranty,
    customerid: text(customerid) === undefined ? null : typeof customerid === 'string' ? customerid.trim() : customerid,
  }
  const errors = validateProduct(product)
  if (errors.length > 0) return reasonOf(errors, PRODUCT_COLUMNS)
  try {
    amountToCents(product.price as number, 'price')
  } catch (error) {
    if (error instanceof HttpProblem && error.errors) return reasonOf(error.errors, PRODUCT_COLUMNS)
    throw error
  }
  return product as ImportProduct
}

export const productImport: ImportKind<ImportProduct> = {
  kind: 'products',
  header: ['name', 'price'],
  parse: parseProduct,
  store: (trx, _mode, time) => async (batch) => {
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
  },
}
