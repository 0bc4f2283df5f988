// Ticket schemas (a customer's request): the stored row, the record, and each operation's parameters.
import { type Static, Type } from '@sinclair/typebox'
import { Alternative, Id, MultilineText, Nullable, Paging, Timestamp } from './common.js'
import * as examples from './examples.js'

const RequestText = MultilineText({
  maxLength: 5000,
  description: "The customer's inquiry or problem.",
  examples: ['My espresso machine leaks water.'],
})

const Resolution = MultilineText({
  maxLength: 5000,
  description: 'How the ticket was resolved.',
  examples: ['Replaced the gasket under warranty.'],
})

const CustomerId = { ...Id, description: 'The customer who opened the ticket; must exist.' }

export const TicketSchema = Type.Object(
  {
    id: Id,
    customerid: CustomerId,
    request: RequestText,
    resolved: Type.Boolean({ description: 'Whether the problem was solved; false while open.', examples: [true] }),
    resolution: { ...Nullable(Resolution), description: 'How it was resolved; null while open.' },
    opened: Timestamp,
    closed: { ...Nullable(Timestamp), description: 'When the ticket was closed (UTC); null while open.' },
  },
  // The document has always named the component CustomerRequest, and generated clients use that name.
  { $id: 'CustomerRequest', description: 'A customer request (ticket).', additionalProperties: false },
)
export type Ticket = Static<typeof TicketSchema>

export const OpenTicketSchema = Type.Object(
  { request: RequestText, customerid: CustomerId },
  {
    additionalProperties: false,
    description: 'A new ticket. Unknown fields are refused.',
    examples: [examples.newTicket],
  },
)
export type OpenTicket = Static<typeof OpenTicketSchema>

export const CloseTicketSchema = Type.Object(
  {
    id: { ...Id, description: 'The ticket to close.' },
    resolved: Type.Boolean({
      description: 'Whether the problem was solved. "true" and "false" are accepted too.',
      examples: [true],
    }),
    resolution: Resolution,
  },
  {
    additionalProperties: false,
    description: 'The ticket to close and its outcome. Unknown fields are refused.',
    examples: [examples.ticketClosing],
  },
)
export type CloseTicket = Static<typeof CloseTicketSchema>

export const TicketQuerySchema = Type.Object(
  {
    id: Type.Optional({ ...Id, description: 'Get this ticket.' }),
    customerid: Type.Optional(Alternative({ ...Id, description: "List this customer's tickets." })),
    ...Paging,
  },
  { additionalProperties: false },
)
export type TicketQuery = Static<typeof TicketQuerySchema>

/** The `customer_requests` table. `resolved` is 0 or 1. */
export const TicketRowSchema = Type.Object({
  id: Type.Integer(),
  customerid: Type.Integer(),
  request: Type.String(),
  resolved: Type.Integer(),
  resolution: Type.Union([Type.String(), Type.Null()]),
  opened: Type.String(),
  closed: Type.Union([Type.String(), Type.Null()]),
})
