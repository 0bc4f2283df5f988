// Customer request (ticket) queries.
import type { Page } from '../../schemas/common.js'
import type { CustomerRequestRow } from '../../schemas/database.js'
import type { CloseRequest, CustomerRequest, OpenRequest } from '../../schemas/request.js'
import type { Db } from '../db/connect.js'
import { conflict, notFound } from '../errors.js'
import { assertCustomerExists } from './customers.js'
import { now, paged } from './values.js'

const toRequest = (row: CustomerRequestRow): CustomerRequest => ({
  id: row.id,
  customerid: row.customerid,
  request: row.request,
  resolved: row.resolved === 1,
  resolution: row.resolution,
  opened: row.opened,
  closed: row.closed,
})

export async function openRequest(db: Db, input: OpenRequest): Promise<CustomerRequest> {
  return db.transaction().execute(async (trx) => {
    await assertCustomerExists(trx, input.customerid)
    const row = await trx
      .insertInto('customer_requests')
      .values({ ...input, resolved: 0, resolution: null, opened: now(), closed: null })
      .returningAll()
      .executeTakeFirstOrThrow()
    return toRequest(row)
  })
}

/**
 * Closes an open ticket with its outcome. The update only matches an open ticket, so of two
 * closes racing, one wins and the other gets the 409; a closed ticket is never changed.
 */
export async function closeRequest(db: Db, { id, resolved, resolution }: CloseRequest): Promise<CustomerRequest> {
  const row = await db
    .updateTable('customer_requests')
    .set({ resolved: resolved ? 1 : 0, resolution, closed: now() })
    .where('id', '=', id)
    .where('closed', 'is', null)
    .returningAll()
    .executeTakeFirst()
  if (row) return toRequest(row)
  const existing = await getRequest(db, id)
  throw conflict(`Ticket ${id} was already closed at ${existing.closed}; a closed ticket cannot be closed again.`)
}

export async function getRequest(db: Db, id: number): Promise<CustomerRequest> {
  const row = await db.selectFrom('customer_requests').selectAll().where('id', '=', id).executeTakeFirst()
  if (!row) throw notFound(`Ticket ${id}`)
  return toRequest(row)
}

/** A customer's tickets, oldest first; 404 when there is no such customer. */
export async function listRequests(db: Db, customerid: number, page: Page): Promise<CustomerRequest[]> {
  await assertCustomerExists(db, customerid)
  const rows = await db
    .selectFrom('customer_requests')
    .selectAll()
    .where('customerid', '=', customerid)
    .$call(paged(page))
    .execute()
  return rows.map(toRequest)
}
