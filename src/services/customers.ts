// Customer queries. Each takes the database (or a transaction) first; transactions start here.
import type { ExpressionBuilder } from 'kysely'
import type { Deleted, Page } from '../../schemas/common.js'
import type { CreateCustomer, Customer, UpdateCustomer } from '../../schemas/customer.js'
import type { CustomerRow, CustomerRowUpdate, Database } from '../../schemas/database.js'
import { type Db, isUniqueViolation } from '../db/connect.js'
import { change, changesOf, deletedEvent, type NewEvent, recordEvents, type Writer } from '../changes.js'
import { assertIfMatch } from '../conditional.js'
import { conflict, notFound } from '../problems.js'
import { toBrandFeedback, toProductFeedback } from './feedback.js'
import { toTicket } from './tickets.js'
import { centsToAmount, foldCase, now, paged } from './values.js'

/** The sum of the prices, in cents, of the products assigned to the customer of the outer row. */
const revenueCents = (eb: ExpressionBuilder<Database, 'customers'>) =>
  eb
    .selectFrom('products')
    .whereRef('products.customerid', '=', 'customers.id')
    .select((sub) => sub.fn.coalesce(sub.fn.sum<number>('products.price_cents'), sub.lit(0)).as('total'))
    .as('revenue_cents')

export const selectCustomers = (db: Db) => db.selectFrom('customers').selectAll('customers').select(revenueCents)

export function toCustomer(row: CustomerRow & { revenue_cents: number | string | bigint | null }): Customer {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    address: row.address,
    phone: row.phone,
    optphone: row.optphone === 1,
    optemail: row.optemail === 1,
    optchat: row.optchat === 1,
    status: row.status,
    revenue: centsToAmount(Number(row.revenue_cents ?? 0)),
    created: row.created,
    updated: row.updated,
  }
}

const flag = (value: boolean | undefined) => (value ? 1 : 0)

/** The stored form of the attributes an update sets: flags as 0/1, with the case-folded lookup keys. */
export function toColumns(attributes: Omit<UpdateCustomer, 'id'>): CustomerRowUpdate {
  const { optphone, optemail, optchat, ...text } = attributes
  const columns: CustomerRowUpdate = { ...text }
  if (optphone !== undefined) columns.optphone = flag(optphone)
  if (optemail !== undefined) columns.optemail = flag(optemail)
  if (optchat !== undefined) columns.optchat = flag(optchat)
  if (text.name !== undefined) columns.name_key = foldCase(text.name)
  if (text.email !== undefined) columns.email_key = foldCase(text.email)
  return columns
}

function duplicateEmail(email: string) {
  return conflict(`A customer with the e-mail address ${email} already exists (e-mail addresses ignore case).`)
}

/** Throws the 404 for a customer id that a request refers to and nobody has. */
export async function assertCustomerExists(db: Db, id: number): Promise<void> {
  const customer = await db.selectFrom('customers').select('id').where('id', '=', id).executeTakeFirst()
  if (!customer) throw notFound(`Customer ${id}`)
}

export async function getCustomer(db: Db, id: number): Promise<Customer> {
  const row = await selectCustomers(db).where('customers.id', '=', id).executeTakeFirst()
  if (!row) throw notFound(`Customer ${id}`)
  return toCustomer(row)
}

export async function findCustomersByName(db: Db, name: string, page: Page): Promise<Customer[]> {
  const rows = await selectCustomers(db).where('customers.name_key', '=', foldCase(name)).$call(paged(page)).execute()
  return rows.map(toCustomer)
}

/** The row of a new customer, created at `time`. */
export function newCustomerRow(input: CreateCustomer, time: string): Omit<CustomerRow, 'id'> {
  return {
    name: input.name,
    name_key: foldCase(input.name),
    email: input.email,
    email_key: foldCase(input.email),
    address: input.address,
    phone: input.phone ?? null,
    optphone: flag(input.optphone),
    optemail: flag(input.optemail),
    optchat: flag(input.optchat),
    status: input.status,
    created: time,
    updated: time,
  }
}

export async function createCustomer(db: Db, input: CreateCustomer, by: Writer): Promise<Customer> {
  try {
    return await change(db, by, async (trx) => {
      const stored = await trx
        .insertInto('customers')
        .values(newCustomerRow(input, now()))
        .returningAll()
        .executeTakeFirstOrThrow()
      const customer = toCustomer({ ...stored, revenue_cents: 0 })
      await recordEvents(trx, by, customer.created, [createdEvent(customer)])
      return customer
    })
  } catch (error) {
    if (isUniqueViolation(error)) throw duplicateEmail(input.email)
    throw error
  }
}

/** The event of a customer created (by the API or an upload). */
export const createdEvent = (customer: Customer): NewEvent => ({
  type: 'customer.created',
  entity: 'customer',
  entityid: customer.id,
  data: customer,
})

/** The event of a customer changed from `before` to `after`. */
export const updatedEvent = (before: Customer, after: Customer): NewEvent => ({
  type: 'customer.updated',
  entity: 'customer',
  entityid: after.id,
  data: after,
  changes: changesOf(before, after),
})

/**
 * Applies every attribute given, together, and returns the whole updated record; with `ifMatch`
 * (the request's If-Match), only if it holds for the customer as they are (412 otherwise).
 */
export async function updateCustomer(
  db: Db,
  { id, ...attributes }: UpdateCustomer,
  by: Writer,
  ifMatch?: string,
): Promise<Customer> {
  try {
    return await change(db, by, async (trx) => {
      const before = await getCustomer(trx, id)
      assertIfMatch(ifMatch, before, `Customer ${id}`)
      await trx
        .updateTable('customers')
        .set({ ...toColumns(attributes), updated: now() })
        .where('id', '=', id)
        .execute()
      const after = await getCustomer(trx, id)
      await recordEvents(trx, by, after.updated, [updatedEvent(before, after)])
      return after
    })
  } catch (error) {
    if (isUniqueViolation(error)) throw duplicateEmail(attributes.email ?? '')
    throw error
  }
}

/**
 * Deletes a customer with their feedback and tickets (the foreign keys cascade). Refused while
 * products are assigned to them: those are unassigned or deleted first, on purpose. With `ifMatch`
 * (the request's If-Match), only if it holds for the customer as they are (412 otherwise).
 */
export async function deleteCustomer(db: Db, id: number, by: Writer, ifMatch?: string): Promise<Deleted> {
  return change(db, by, async (trx) => {
    const customer = await getCustomer(trx, id)
    assertIfMatch(ifMatch, customer, `Customer ${id}`)
    const { count } = await trx
      .selectFrom('products')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('customerid', '=', id)
      .executeTakeFirstOrThrow()
    const products = Number(count)
    if (products > 0) {
      const owned = products === 1 ? '1 product' : `${products} products`
      throw conflict(`Customer ${id} still has ${owned} assigned; unassign or delete them first.`)
    }
    // The foreign keys cascade to the feedback and tickets: each is recorded as deleted first.
    const brand = await trx.selectFrom('feedback').selectAll().where('customerid', '=', id).orderBy('id').execute()
    const product = await trx
      .selectFrom('product_feedback')
      .selectAll()
      .where('customerid', '=', id)
      .orderBy('id')
      .execute()
    const tickets = await trx
      .selectFrom('customer_requests')
      .selectAll()
      .where('customerid', '=', id)
      .orderBy('id')
      .execute()
    await trx.deleteFrom('customers').where('id', '=', id).execute()
    await recordEvents(trx, by, now(), [
      ...brand.map((row) => deletedEvent('feedback', toBrandFeedback(row))),
      ...product.map((row) => deletedEvent('feedback', toProductFeedback(row))),
      ...tickets.map((row) => deletedEvent('ticket', toTicket(row))),
      deletedEvent('customer', customer),
    ])
    return { deleted: [id] }
  })
}
