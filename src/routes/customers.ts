// Customer endpoints: add, get (by id or by name), update, delete.
import { type FastifyPluginAsyncTypebox, type Static, Type } from '@fastify/type-provider-typebox'
import {
  ChangeHeaders,
  DeletedSchema,
  IfMatchHeaders,
  IfNoneMatchHeaders,
  jsonResponse,
  notModifiedResponse,
  pageOf,
  PRECONDITION_FAILED,
  problemResponses,
  recordResponse,
} from '../../schemas/common.js'
import {
  CreateCustomerSchema,
  CustomerIdSchema,
  CustomerQuerySchema,
  CustomerSchema,
  UpdateCustomerSchema,
} from '../../schemas/customer.js'
import { etagOf, withEtag } from '../conditional.js'
import { oneOf } from '../plugins/parameters.js'
import { invalid, WHOLE_BODY } from '../problems.js'
import {
  createCustomer,
  deleteCustomer,
  findCustomersByName,
  getCustomer,
  updateCustomer,
} from '../services/customers.js'
import * as examples from '../../schemas/examples.js'

export const tag = { name: 'customers', description: 'Customer records: add, look up, change and delete customers.' }
const tags = [tag.name]
const Customer = Type.Ref(CustomerSchema)

const customers: FastifyPluginAsyncTypebox = async (app) => {
  app.addSchema(CustomerSchema)

  app.post(
    '/api/add/customer',
    {
      config: { role: 'editor' },
      schema: {
        operationId: 'addCustomer',
        tags,
        summary: 'Add a customer',
        description:
          'Creates a customer. `name`, `email`, `address` and `status` are required; `phone` and the three ' +
          'consent flags are optional (flags default to false). The e-mail address must be valid and not ' +
          'already used by another customer, ignoring case.',
        body: CreateCustomerSchema,
        headers: ChangeHeaders,
        response: {
          201: recordResponse(Customer, 'The created customer.', examples.customer),
          ...problemResponses(
            { 409: 'A customer with this e-mail address (in any case) already exists.' },
            { change: true },
          ),
        },
      },
    },
    async (request, reply) => {
      const customer = await createCustomer(app.db, request.body, request.writer)
      return reply.code(201).header('etag', etagOf(customer)).send(customer)
    },
  )

  app.get(
    '/api/get/customer',
    {
      config: { role: 'reader' },
      schema: {
        operationId: 'getCustomer',
        tags,
        summary: 'Get a customer by id, or the customers with a name',
        description:
          'With `id`: that customer (404 if there is none). With `name`: the list of customers with that ' +
          'name, ignoring case, in id order and paged by `limit` and `offset` (an empty list when none ' +
          'match). Give one of `id` and `name`. Parameters come in the query string or, as older clients ' +
          'send them, in a JSON body.',
        querystring: CustomerQuerySchema,
        headers: IfNoneMatchHeaders,
        response: {
          200: recordResponse(
            Type.Union([Customer, Type.Array(Customer)]),
            'One customer (by `id`, with its ETag) or a list of customers (by `name`).',
            examples.customerWithProduct,
          ),
          304: notModifiedResponse,
          ...problemResponses({ 404: 'No customer has this `id`.' }),
        },
      },
    },
    async (request, reply) => {
      const { query } = request
      return oneOf(query, ['id', 'name']) === 'id'
        ? withEtag(request, reply, await getCustomer(app.db, query.id!))
        : findCustomersByName(app.db, query.name!, pageOf(query))
    },
  )

  app.post(
    '/api/update/customer',
    {
      config: { role: 'editor' },
      schema: {
        operationId: 'updateCustomer',
        tags,
        summary: 'Change a customer',
        description:
          'Sets every attribute given (`name`, `email`, `address`, `phone`, `status`, `optphone`, ' +
          '`optemail`, `optchat`) on the customer with `id`, together, and returns the whole record with ' +
          'a new `updated` time. At least one attribute is required.',
        body: UpdateCustomerSchema,
        headers: IfMatchHeaders,
        response: {
          200: recordResponse(Customer, 'The updated customer.', examples.changedCustomer),
          ...problemResponses(
            {
              404: 'No customer has this `id`.',
              409: 'Another customer already has this e-mail address (in any case).',
              412: PRECONDITION_FAILED,
            },
            { change: true },
          ),
        },
      },
    },
    async (request, reply) => {
      if (Object.keys(request.body).length === 1) {
        throw invalid(WHOLE_BODY, 'must set at least one attribute besides id')
      }
      const customer = await updateCustomer(app.db, request.body, request.writer, request.headers['if-match'])
      return reply.header('etag', etagOf(customer)).send(customer)
    },
  )

  // The seed deletes with GET; POST and DELETE do the same, for clients that will not send a GET that changes data.
  const deletions = [
    { method: 'DELETE', operationId: 'deleteCustomer', parameters: 'querystring' },
    { method: 'GET', operationId: 'deleteCustomerViaGet', parameters: 'querystring' },
    { method: 'POST', operationId: 'deleteCustomerViaPost', parameters: 'body' },
  ] as const
  for (const { method, operationId, parameters } of deletions) {
    app.route({
      method,
      url: '/api/delete/customer',
      config: { role: 'editor' },
      schema: {
        operationId,
        tags,
        summary: `Delete a customer (${method})`,
        description:
          'Deletes the customer with `id`, together with their feedback and tickets. Refused with 409 ' +
          'while products are assigned to the customer: unassign or delete those first.' +
          (parameters === 'querystring' ? ' `id` comes in the query string or in a JSON body.' : ''),
        [parameters]: CustomerIdSchema,
        headers: IfMatchHeaders,
        response: {
          200: jsonResponse(Type.Ref(DeletedSchema), 'The id of the deleted customer.', examples.deleted),
          ...problemResponses(
            {
              404: 'No customer has this `id`.',
              409: 'Products are still assigned to the customer; the detail says how many.',
              412: PRECONDITION_FAILED,
            },
            { change: true },
          ),
        },
      },
      handler: async (request) => {
        const { id } = (parameters === 'body' ? request.body : request.query) as Static<typeof CustomerIdSchema>
        return deleteCustomer(app.db, id, request.writer, request.headers['if-match'])
      },
    })
  }
}

export default customers
