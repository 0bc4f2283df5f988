// Ticket endpoints (a customer's requests): open, close, get by id, list by customer.
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import {
  ChangeHeaders,
  IfMatchHeaders,
  IfNoneMatchHeaders,
  notModifiedResponse,
  pageOf,
  PRECONDITION_FAILED,
  problemResponses,
  recordResponse,
} from '../../schemas/common.js'
import { CloseTicketSchema, TicketSchema, OpenTicketSchema, TicketQuerySchema } from '../../schemas/ticket.js'
import { oneOf } from '../plugins/parameters.js'
import { etagOf, withEtag } from '../conditional.js'
import { closeTicket, getTicket, listTickets, openTicket } from '../services/tickets.js'
import * as examples from '../../schemas/examples.js'

export const tag = {
  name: 'tickets',
  description: "Customer requests (tickets): a customer's inquiry or problem, opened and then closed with its outcome.",
}
const tags = [tag.name]
const Ticket = Type.Ref(TicketSchema)

const tickets: FastifyPluginAsyncTypebox = async (app) => {
  app.addSchema(TicketSchema)

  app.post(
    '/api/open/customer/request',
    {
      config: { role: 'editor' },
      schema: {
        operationId: 'openTicket',
        tags,
        summary: 'Open a ticket for a customer',
        description: '`request` and `customerid` are required; the customer must exist. The ticket opens now.',
        body: OpenTicketSchema,
        headers: ChangeHeaders,
        response: {
          201: recordResponse(Ticket, 'The opened ticket.', examples.openTicket),
          ...problemResponses({ 404: 'No customer has this `customerid`; nothing was stored.' }, { change: true }),
        },
      },
    },
    async (request, reply) => {
      const ticket = await openTicket(app.db, request.body, request.writer)
      return reply.code(201).header('etag', etagOf(ticket)).send(ticket)
    },
  )

  app.post(
    '/api/close/customer/request',
    {
      config: { role: 'editor' },
      schema: {
        operationId: 'closeTicket',
        tags,
        summary: 'Close a ticket with its outcome',
        description:
          '`id`, `resolved` (true or false, also as the strings "true" and "false") and `resolution` are ' +
          'required. Closing stores the outcome and the closing time. A ticket closes once: closing it again ' +
          'is a 409 and changes nothing.',
        body: CloseTicketSchema,
        headers: IfMatchHeaders,
        response: {
          200: recordResponse(Ticket, 'The closed ticket.', examples.closedTicket),
          ...problemResponses(
            {
              404: 'No ticket has this `id`.',
              409: 'The ticket is already closed; the detail says when.',
              412: PRECONDITION_FAILED,
            },
            { change: true },
          ),
        },
      },
    },
    async (request, reply) => {
      const ticket = await closeTicket(app.db, request.body, request.writer, request.headers['if-match'])
      return reply.header('etag', etagOf(ticket)).send(ticket)
    },
  )

  app.get(
    '/api/get/customer/request',
    {
      config: { role: 'reader' },
      schema: {
        operationId: 'getTicket',
        tags,
        summary: "Get a ticket by id, or a customer's tickets",
        description:
          "Give `id` for that ticket (404 if there is none) or `customerid` for that customer's tickets, oldest " +
          'first, paged by `limit` and `offset` (404 if there is no such customer, an empty list if they have ' +
          'none). Parameters come in the query string or in a JSON body.',
        querystring: TicketQuerySchema,
        headers: IfNoneMatchHeaders,
        response: {
          200: recordResponse(
            Type.Union([Ticket, Type.Array(Ticket)]),
            'One ticket (by `id`, with its ETag) or a list of tickets (by `customerid`).',
            examples.closedTicket,
          ),
          304: notModifiedResponse,
          ...problemResponses({ 404: 'No ticket has this `id`, or no customer has this `customerid`.' }),
        },
      },
    },
    async (request, reply) => {
      const { query } = request
      return oneOf(query, ['id', 'customerid']) === 'id'
        ? withEtag(request, reply, await getTicket(app.db, query.id!))
        : listTickets(app.db, query.customerid!, pageOf(query))
    },
  )
}

export default tickets
