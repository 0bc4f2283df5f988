// Reading the rows of an upload as records: the same rules as the JSON API, in a spreadsheet's words.
import type { CreateCustomer, UpdateCustomer } from '../../schemas/customer.js'
import { CreateCustomerSchema } from '../../schemas/customer.js'
import { type ImportProduct, ImportProductSchema } from '../../schemas/product.js'
import type { UploadKind } from '../../schemas/upload.js'
import { HttpProblem } from '../problems.js'
import { amountToCents, foldCase, now } from '../services/values.js'
import { compileValidator } from '../validation.js'
import { FLAG_WORDS, flag, isBlank, reasonOf, text } from './cells.js'
import type { Format } from './formats.js'
import type { Cell, SourceRow } from './read.js'

/** A row of the file as read: a valid record, or the reason it is skipped. */
export interface Pending<T> {
  row: number
  value?: T
  reason?: string
}

export interface RowParser<T> {
  /**
   * How many cells of a row it reads, from the first: the reader takes no more, so that a cell far
   * to the right (column XFD is the 16,384th) costs nothing, and a row with only such cells is blank.
   */
  columns: number
  /** The first two cells of a header row, in lower case. */
  header: readonly [string, string]
  /** The row as a valid record, or the reason it is not one. */
  parse(cells: Cell[]): T | string
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
const CUSTOMER_ORDER = Object.keys(CUSTOMER_COLUMNS) as (keyof typeof CUSTOMER_COLUMNS)[]
const validateCustomer = compileValidator(CreateCustomerSchema)

/**
 * A customer row: the new customer it makes (or, when cells a new customer needs are missing, why it
 * cannot be one), and the cells it gave, which is what an upsert changes in a stored customer.
 */
export interface CustomerCandidate {
  customer: CreateCustomer
  /** The case-folded e-mail address: what makes two rows, or a row and a stored customer, the same. */
  key: string
  incomplete?: string
  given: Omit<UpdateCustomer, 'id'>
}

function parseCustomer(cells: Cell[]): CustomerCandidate | string {
  const given: Partial<Record<keyof typeof CUSTOMER_COLUMNS, string | boolean>> = {}
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
    const missing = (['name', 'email'] as const)
      .filter((field) => given[field] === undefined)
      .map((field) => CUSTOMER_COLUMNS[field])
    return `${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} missing`
  }
  const customer = { status: 'active', optphone: false, optemail: false, optchat: false, ...given }
  const errors = validateCustomer(customer)
  // A bad cell skips the row; a missing one only matters if the row makes a new customer.
  const bad = errors.filter((error) => error.message !== 'is required')
  if (bad.length > 0) return reasonOf(bad, CUSTOMER_COLUMNS)
  // Every cell given has passed the schema by now; only cells a new customer needs may be missing.
  return {
    customer: customer as CreateCustomer,
    key: foldCase(given.email as string),
    ...(errors.length > 0 && { incomplete: reasonOf(errors, CUSTOMER_COLUMNS) }),
    given: given as CustomerCandidate['given'],
  }
}

// ---- Products: Name, Price, Purchased, Warranty, CustomerId ----

const PRODUCT_COLUMNS = {
  name: 'Name',
  price: 'Price',
  purchased: 'Purchased',
  warranty: 'Warranty',
  customerid: 'CustomerId',
}
const validateProduct = compileValidator(ImportProductSchema)

/** Defaults: purchased today (UTC), a warranty of 2 years, no owner. */
function parseProduct(cells: Cell[]): ImportProduct | string {
  // A spreadsheet's date cells arrive as `YYYY-MM-DD` text (read.ts); a plain number is no date.
  const [name, price, purchased, warranty, customerid] = [text(cells[0]), cells[1], text(cells[2]), cells[3], cells[4]]
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

export const parsers = {
  customers: {
    columns: CUSTOMER_ORDER.length,
    header: ['name', 'email'],
    parse: parseCustomer,
  } as RowParser<CustomerCandidate>,
  products: {
    columns: Object.keys(PRODUCT_COLUMNS).length,
    header: ['name', 'price'],
    parse: parseProduct,
  } as RowParser<ImportProduct>,
}

export type RowValue<K extends UploadKind> = (typeof parsers)[K] extends RowParser<infer T> ? T : never

/**
 * The rows of a file as records (of `kind`) or reasons, batch by batch: blank rows passed over,
 * and a header row too when a spreadsheet opens with one (CSV and TXT files have none).
 */
export async function* parsedRows<K extends UploadKind>(
  kind: K,
  rows: AsyncIterable<SourceRow[]>,
  format: Format,
): AsyncGenerator<Pending<RowValue<K>>[]> {
  const parser = parsers[kind] as RowParser<RowValue<K>>
  let first = true
  for await (const batch of rows) {
    const parsed: Pending<RowValue<K>>[] = []
    for (const { row, cells } of batch) {
      if (isBlank(cells)) continue
      if (first && format !== 'csv' && isHeader(cells, parser.header)) {
        first = false
        continue
      }
      first = false
      const value = parser.parse(cells)
      parsed.push(typeof value === 'string' ? { row, reason: value } : { row, value })
    }
    if (parsed.length > 0) yield parsed
  }
}

const isHeader = (cells: Cell[], [first, second]: readonly [string, string]) =>
  text(cells[0])?.toLowerCase() === first && text(cells[1])?.toLowerCase() === second
