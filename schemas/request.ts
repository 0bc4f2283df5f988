// Customer request (ticket) schemas: the stored row, the record, and each request's parameters.
import { type Static, Type } from '@sinclair/typebox'
import { Alternative, Id, MultilineText, Nullable, Paging, Timestamp } from './common.js'
import * as examples from './examples.js'

const Request = MultilineText({
  maxLength: 5000,
  description: "The customer's inquiry or problem.",
  examples: ['My espresso machine leaks water.'],
})

const Resolution = MultilineText({
  maxLength: 5000,
  description: 'How the ticket was resolved.',
  examples: ['Replaced the gasket under warranty.'],
})

const Customer = { ...Id, description: 'The customer who opened the ticket; must exist.' }

export const CustomerRequestSchema = Type.Object(
  {
    id: Id,
    customerid: Customer,
    request: Request,
    resolved: Type.Boolean({ description: 'Whether the problem was solved; false while open.', examples: [true] }),
    resolution: { ...Nullable(Resolution), description: 'How it was resolved; null while open.' },
    opened: Timestamp,
    closed: { ...Nullable(Timestamp), description: 'When the ticket was closed (UTC); null while open.' },
  },
  { $id: 'CustomerRequest', description: 'A customer request (ticket).', additionalProperties: false },
)
export type CustomerRequest = Static<typeof CustomerRequestSchema>

export const OpenRequestSchema = Type.Object(
  { request: Request, customerid: Customer },
  {
    additionalProperties: false,
    description: 'A new ticket. Unknown fields are refused.',
    examples: [examples.newTicket],
  },
)
export type OpenRequest = Static<typeof OpenRequestSchema>

export const CloseRequestSchema = Type.Object(
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
export type CloseRequest = Static<typeof CloseRequestSchema>

export const RequestQuerySchema = Type.Object(
  {
    id: Type.Optional({ ...Id, description: 'Get this ticket.' }),
    customerid: Type.Optional(Alternative({ ...Id, description: "List this customer's tickets." })),
    ...Paging,
  },
  { additionalProperties: false },
)
export type RequestQuery = Static<typeof RequestQuerySchema>

/** The `customer_requests` table. `resolved` is 0 or 1. */
export const CustomerRequestRowSchema = Type.Object({
  id: Type.Integer(),
  customerid: Type.Integer(),
  request: Type.String(),
  resolved: Type.Integer(),
  resolution: Type.Union([Type.String(), Type.Null()]),
  opened: Type.String(),
  closed: Type.Union([Type.String(), Type.Null()]),
})
