// Product schemas: the stored row, the record the API returns, and each request's parameters.
import { type Static, Type } from '@sinclair/typebox'
import { Alternative, DateOnly, Id, Money, Nullable, Paging, Text, Timestamp } from './common.js'
import * as examples from './examples.js'

export const ProductName = Text({
  maxLength: 200,
  description: 'Product name. Lookups by name ignore case.',
  examples: ['Espresso machine'],
})

const Price = Type.Number({ ...Money, description: 'Price, at most two decimals, not negative.', examples: [249.99] })

const Purchased = DateOnly({ description: 'Date of purchase, `YYYY-MM-DD`.', examples: ['2024-02-29'] })

const Warranty = Type.Integer({
  minimum: 0,
  maximum: 50,
  description: 'Warranty term in whole years, 0 to 50.',
  examples: [2],
})

const Owner = Id
const NewOwner = { ...Nullable(Id), description: 'The customer to transfer the product to, or `null` to unassign it.' }

export const ProductSchema = Type.Object(
  {
    id: Id,
    name: ProductName,
    price: Price,
    purchased: Purchased,
    warranty: Warranty,
    // Not DateOnly: a purchase in 2999 with 50 years of warranty expires in 3049.
    expires: Type.String({
      format: 'date',
      readOnly: true,
      description:
        'When the warranty ends: `purchased` plus `warranty` whole years. A purchase on 29 February ' +
        'expires on 28 February of a year that is not a leap year.',
      examples: ['2026-02-28'],
    }),
    customerid: { ...Nullable(Id), description: 'The customer who owns the product, or `null`: unassigned.' },
    created: Timestamp,
    updated: Timestamp,
  },
  { $id: 'Product', description: 'A product record.', additionalProperties: false },
)
export type Product = Static<typeof ProductSchema>

export const CreateProductSchema = Type.Object(
  {
    name: ProductName,
    price: Price,
    purchased: Purchased,
    customerid: { ...Owner, description: 'The customer who owns the product; must exist.' },
    warranty: Warranty,
  },
  {
    additionalProperties: false,
    description: 'A new product, assigned to a customer. Unknown fields are refused.',
    examples: [examples.newProduct],
  },
)
export type CreateProduct = Static<typeof CreateProductSchema>

/** A product row of an upload: a new product whose owner may be left out (unassigned). */
export const ImportProductSchema = Type.Object(
  { ...CreateProductSchema.properties, customerid: Type.Optional(Nullable(Id)) },
  { additionalProperties: false },
)
export type ImportProduct = Static<typeof ImportProductSchema>

export const UpdateProductSchema = Type.Object(
  {
    id: Id,
    name: Type.Optional(ProductName),
    price: Type.Optional(Price),
    purchased: Type.Optional(Purchased),
    warranty: Type.Optional(Warranty),
    changeto: Type.Optional(NewOwner),
  },
  {
    additionalProperties: false,
    description:
      'The product to change, by `id`, and one or more changes: `warranty` (years), `changeto` (a ' +
      'customer id, or `null` to unassign), `name`, `price`, `purchased`. Unknown fields are refused.',
    examples: [examples.productChange],
  },
)
export type UpdateProduct = Static<typeof UpdateProductSchema>

export const ProductQuerySchema = Type.Object(
  {
    id: Type.Optional(Id),
    name: Type.Optional(Alternative(ProductName)),
    customerid: Type.Optional(Alternative({ ...Owner, description: "List this customer's products." })),
    ...Paging,
  },
  { additionalProperties: false },
)
export type ProductQuery = Static<typeof ProductQuerySchema>

export const DeleteProductSchema = Type.Object(
  {
    id: Type.Optional({ ...Id, description: 'Delete this product.' }),
    customerid: Type.Optional({ ...Owner, description: "Delete all of this customer's products." }),
  },
  { additionalProperties: false, description: 'Give `id` or `customerid`.', examples: [examples.productDeletion] },
)
export type DeleteProduct = Static<typeof DeleteProductSchema>

/** The `products` table. Money is integer cents; dates are `YYYY-MM-DD` text. */
export const ProductRowSchema = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  name_key: Type.String(),
  price_cents: Type.Integer(),
  purchased: Type.String(),
  warranty: Type.Integer(),
  customerid: Type.Union([Type.Integer(), Type.Null()]),
  created: Type.String(),
  updated: Type.String(),
})
