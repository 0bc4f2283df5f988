// Ticket queries (a customer's requests, in the `customer_requests` table).
import type { Page } from '../../schemas/common.js'
import type { TicketRow } from '../../schemas/database.js'
import type { CloseTicket, Ticket, OpenTicket } from '../../schemas/ticket.js'
import type { Db } from '../db/connect.js'
import { change, changesOf, recordEvents, type Writer } from '../changes.js'
import { assertIfMatch } from '../conditional.js'
import { conflict, notFound } from '../problems.js'
import { assertCustomerExists } from './customers.js'
import { now, paged } from './values.js'

export const toTicket = (row: TicketRow): Ticket => ({
  id: row.id,
  customerid: row.customerid,
  request: row.request,
  resolved: row.resolved === 1,
  resolution: row.resolution,
  opened: row.opened,
  closed: row.closed,
})

export async function openTicket(db: Db, input: OpenTicket, by: Writer): Promise<Ticket> {
  return change(db, by, async (trx) => {
    await assertCustomerExists(trx, input.customerid)
    const row = await trx
      .insertInto('customer_requests')
      .values({ ...input, resolved: 0, resolution: null, opened: now(), closed: null })
      .returningAll()
      .executeTakeFirstOrThrow()
    const ticket = toTicket(row)
    await recordEvents(trx, by, ticket.opened, [
      { type: 'ticket.opened', entity: 'ticket', entityid: ticket.id, data: ticket },
    ])
    return ticket
  })
}

/**
 * Closes an open ticket with its outcome; with `ifMatch` (the request's If-Match), only if it holds
 * for the ticket as it is (412 otherwise). The update only matches an open ticket, so of two closes
 * racing, one wins and the other gets the 409; a closed ticket is never changed.
 */
export async function closeTicket(
  db: Db,
  { id, resolved, resolution }: CloseTicket,
  by: Writer,
  ifMatch?: string,
): Promise<Ticket> {
  return change(db, by, async (trx) => {
    const before = await getTicket(trx, id)
    assertIfMatch(ifMatch, before, `Ticket ${id}`)
    const row = await trx
      .updateTable('customer_requests')
      .set({ resolved: resolved ? 1 : 0, resolution, closed: now() })
      .where('id', '=', id)
      .where('closed', 'is', null)
      .returningAll()
      .executeTakeFirst()
    if (!row) {
      throw conflict(`Ticket ${id} was already closed at ${before.closed}; a closed ticket cannot be closed again.`)
    }
    const ticket = toTicket(row)
    await recordEvents(trx, by, ticket.closed!, [
      { type: 'ticket.closed', entity: 'ticket', entityid: id, data: ticket, changes: changesOf(before, ticket) },
    ])
    return ticket
  })
}

export async function getTicket(db: Db, id: number): Promise<Ticket> {
  const row = await db.selectFrom('customer_requests').selectAll().where('id', '=', id).executeTakeFirst()
  if (!row) throw notFound(`Ticket ${id}`)
  return toTicket(row)
}

/** A customer's tickets, oldest first; 404 when there is no such customer. */
export async function listTickets(db: Db, customerid: number, page: Page): Promise<Ticket[]> {
  await assertCustomerExists(db, customerid)
  const rows = await db
    .selectFrom('customer_requests')
    .selectAll()
    .where('customerid', '=', customerid)
    .$call(paged(page))
    .execute()
  return rows.map(toTicket)
}
