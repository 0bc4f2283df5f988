// Product endpoints: add, get (by id, name or customer), update (warranty, transfer, name, price), delete.
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
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
  CreateProductSchema,
  DeleteProductSchema,
  ProductQuerySchema,
  ProductSchema,
  UpdateProductSchema,
} from '../../schemas/product.js'
import { etagOf, withEtag } from '../conditional.js'
import { oneOf } from '../plugins/parameters.js'
import { invalid, WHOLE_BODY } from '../problems.js'
import {
  createProduct,
  deleteProducts,
  findProductsByName,
  findProductsOfCustomer,
  getProduct,
  updateProduct,
} from '../services/products.js'
import * as examples from '../../schemas/examples.js'

export const tag = {
  name: 'products',
  description:
    'Products and their owners: add products to customers, look them up, transfer, unassign and delete them. ' +
    'Prices are exact to the cent; `expires` follows `purchased` and `warranty`.',
}
const tags = [tag.name]
const Product = Type.Ref(ProductSchema)

const products: FastifyPluginAsyncTypebox = async (app) => {
  app.addSchema(ProductSchema)

  app.post(
    '/api/add/product',
    {
      config: { role: 'editor' },
      schema: {
        operationId: 'addProduct',
        tags,
        summary: 'Add a product to a customer',
        description:
          'Creates a product owned by `customerid`. `name`, `price` (at most two decimals, not negative), ' +
          '`purchased` (`YYYY-MM-DD`), `warranty` (0 to 50 whole years) and `customerid` are required; the ' +
          "customer must exist (404 otherwise). The customer's `revenue` grows by the price.",
        body: CreateProductSchema,
        headers: ChangeHeaders,
        response: {
          201: recordResponse(Product, 'The created product, with its `expires` date.', examples.product),
          ...problemResponses({ 404: 'No customer has this `customerid`; nothing was stored.' }, { change: true }),
        },
      },
    },
    async (request, reply) => {
      const product = await createProduct(app.db, request.body, request.writer)
      return reply.code(201).header('etag', etagOf(product)).send(product)
    },
  )

  app.get(
    '/api/get/product',
    {
      config: { role: 'reader' },
      schema: {
        operationId: 'getProduct',
        tags,
        summary: 'Get a product by id, or the products with a name or of a customer',
        description:
          'Give exactly one of: `id` for that product (404 if there is none); `name` for the products with ' +
          "that name, ignoring case; `customerid` for that customer's products (404 if there is no such " +
          'customer). Lists are in id order, paged by `limit` and `offset`, and empty when nothing matches. ' +
          'Parameters come in the query string or in a JSON body.',
        querystring: ProductQuerySchema,
        headers: IfNoneMatchHeaders,
        response: {
          200: recordResponse(
            Type.Union([Product, Type.Array(Product)]),
            'One product (by `id`, with its ETag) or a list of products (by `name` or `customerid`).',
            examples.product,
          ),
          304: notModifiedResponse,
          ...problemResponses({ 404: 'No product has this `id`, or no customer has this `customerid`.' }),
        },
      },
    },
    async (request, reply) => {
      const { query } = request
      const by = oneOf(query, ['id', 'name', 'customerid'])
      if (by === 'id') return withEtag(request, reply, await getProduct(app.db, query.id!))
      if (by === 'name') return findProductsByName(app.db, query.name!, pageOf(query))
      return findProductsOfCustomer(app.db, query.customerid!, pageOf(query))
    },
  )

  app.post(
    '/api/update/product',
    {
      config: { role: 'editor' },
      schema: {
        operationId: 'updateProduct',
        tags,
        summary: 'Change a product: warranty, owner, name, price or purchase date',
        description:
          'Applies every change given to the product with `id`, together: `warranty` sets the term in years ' +
          '(`expires` follows), `changeto` transfers the product to another customer or, with `null`, ' +
          'unassigns it; `name`, `price` and `purchased` may change too. At least one change is required. ' +
          'An unknown product or `changeto` customer is a 404 and changes nothing. Returns the whole record.',
        body: UpdateProductSchema,
        headers: IfMatchHeaders,
        response: {
          200: recordResponse(Product, 'The updated product.', examples.changedProduct),
          ...problemResponses(
            {
              404: 'No product has this `id`, or no customer has the `changeto` id.',
              412: PRECONDITION_FAILED,
            },
            { change: true },
          ),
        },
      },
    },
    async (request, reply) => {
      if (Object.keys(request.body).length === 1) throw invalid(WHOLE_BODY, 'must make at least one change besides id')
      const product = await updateProduct(app.db, request.body, request.writer, request.headers['if-match'])
      return reply.header('etag', etagOf(product)).send(product)
    },
  )

  app.post(
    '/api/delete/product',
    {
      config: { role: 'editor' },
      schema: {
        operationId: 'deleteProduct',
        tags,
        summary: "Delete a product, or all of a customer's products",
        description:
          "Give `id` to delete that product, or `customerid` to delete all of that customer's products. " +
          '404 when nothing matched. Feedback about a deleted product is kept: its `productid` becomes null.',
        body: DeleteProductSchema,
        headers: IfMatchHeaders,
        response: {
          200: jsonResponse(Type.Ref(DeletedSchema), 'The ids of the deleted products.', examples.deleted),
          ...problemResponses(
            {
              404: 'No product has this `id`, or no customer has this `customerid`, or the customer has no products.',
              412: `${PRECONDITION_FAILED} (With \`id\` only: deleting by \`customerid\` ignores If-Match.)`,
            },
            { change: true },
          ),
        },
      },
    },
    async (request) => {
      const { body } = request
      const by = oneOf(body, ['id', 'customerid'])
      return deleteProducts(
        app.db,
        by === 'id' ? { id: body.id!, ifMatch: request.headers['if-match'] } : { customerid: body.customerid! },
        request.writer,
      )
    },
  )
}

export default products
