// Feedback endpoints: brand and product feedback, added and listed by customer.
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import { ChangeHeaders, jsonResponse, pageOf, problemResponses } from '../../schemas/common.js'
import {
  BrandFeedbackSchema,
  CreateBrandFeedbackSchema,
  CreateProductFeedbackSchema,
  FeedbackQuerySchema,
  ProductFeedbackSchema,
} from '../../schemas/feedback.js'
import { addBrandFeedback, addProductFeedback, listBrandFeedback, listProductFeedback } from '../services/feedback.js'
import * as examples from '../../schemas/examples.js'

export const tag = {
  name: 'feedback',
  description: 'What customers say about the business (brand feedback) and about products, with an optional NPS.',
}
const tags = [tag.name]
const BrandFeedback = Type.Ref(BrandFeedbackSchema)
const ProductFeedback = Type.Ref(ProductFeedbackSchema)
const listDescription =
  "The customer's feedback in the order it was given, oldest first, paged by `limit` and `offset`: an " +
  'empty list when there is none, 404 when there is no such customer. Parameters come in the query ' +
  'string or in a JSON body.'

const feedback: FastifyPluginAsyncTypebox = async (app) => {
  app.addSchema(BrandFeedbackSchema)
  app.addSchema(ProductFeedbackSchema)

  app.post(
    '/api/add/brand/feedback',
    {
      config: { role: 'editor' },
      schema: {
        operationId: 'addBrandFeedback',
        tags,
        summary: 'Record brand feedback from a customer',
        description:
          '`customerid`, `heading` and `body` are required; `nps` (0 to 10) is optional. The customer must exist.',
        body: CreateBrandFeedbackSchema,
        headers: ChangeHeaders,
        response: {
          201: jsonResponse(BrandFeedback, 'The recorded feedback.', examples.brandFeedback),
          ...problemResponses({ 404: 'No customer has this `customerid`; nothing was stored.' }, { change: true }),
        },
      },
    },
    async (request, reply) => reply.code(201).send(await addBrandFeedback(app.db, request.body, request.writer)),
  )

  app.post(
    '/api/add/product/feedback',
    {
      config: { role: 'editor' },
      schema: {
        operationId: 'addProductFeedback',
        tags,
        summary: 'Record product feedback from a customer',
        description:
          '`productid`, `customerid`, `heading` and `body` are required; `nps` (0 to 10) is optional. The ' +
          'customer and the product must both exist; the customer need not own the product now.',
        body: CreateProductFeedbackSchema,
        headers: ChangeHeaders,
        response: {
          201: jsonResponse(ProductFeedback, 'The recorded feedback.', examples.productFeedback),
          ...problemResponses(
            { 404: 'No customer has this `customerid`, or no product this `productid`.' },
            { change: true },
          ),
        },
      },
    },
    async (request, reply) => reply.code(201).send(await addProductFeedback(app.db, request.body, request.writer)),
  )

  app.get(
    '/api/get/brand/feedback',
    {
      config: { role: 'reader' },
      schema: {
        operationId: 'getBrandFeedback',
        tags,
        summary: "List a customer's brand feedback",
        description: listDescription,
        querystring: FeedbackQuerySchema,
        response: {
          200: Type.Array(BrandFeedback, {
            description: "The customer's brand feedback, oldest first.",
            examples: [[examples.brandFeedback]],
          }),
          ...problemResponses({ 404: 'No customer has this `customerid`.' }),
        },
      },
    },
    async (request) => listBrandFeedback(app.db, request.query.customerid, pageOf(request.query)),
  )

  app.get(
    '/api/get/product/feedback',
    {
      config: { role: 'reader' },
      schema: {
        operationId: 'getProductFeedback',
        tags,
        summary: "List a customer's product feedback",
        description: listDescription,
        querystring: FeedbackQuerySchema,
        response: {
          200: Type.Array(ProductFeedback, {
            description: "The customer's product feedback, oldest first.",
            examples: [[examples.productFeedback]],
          }),
          ...problemResponses({ 404: 'No customer has this `customerid`.' }),
        },
      },
    },
    async (request) => listProductFeedback(app.db, request.query.customerid, pageOf(request.query)),
  )
}

export default feedback
