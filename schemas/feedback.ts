// Feedback schemas: brand and product feedback, stored rows, records and requests.
import { type Static, Type } from '@sinclair/typebox'
import { Id, MultilineText, Nullable, Paging, Text, Timestamp } from './common.js'
import * as examples from './examples.js'

const Heading = Text({ maxLength: 200, description: 'A short title for the feedback.', examples: ['Great service'] })

const Body = MultilineText({
  maxLength: 5000,
  description: 'What the customer said.',
  examples: ['The repair was quick and the staff were friendly.'],
})

const Nps = {
  ...Nullable(Type.Integer({ minimum: 0, maximum: 10 })),
  description: 'Net Promoter Score: how likely the customer is to recommend us, 0 to 10, or null.',
  examples: [9],
}

const Customer = { ...Id, description: 'The customer who gave the feedback; must exist.' }
const Product = { ...Id, description: 'The product the feedback is about; must exist.' }

export const BrandFeedbackSchema = Type.Object(
  { id: Id, customerid: Customer, heading: Heading, body: Body, nps: Nps, created: Timestamp },
  { $id: 'BrandFeedback', description: 'Feedback about the business as a whole.', additionalProperties: false },
)
export type BrandFeedback = Static<typeof BrandFeedbackSchema>

export const ProductFeedbackSchema = Type.Object(
  {
    id: Id,
    customerid: Customer,
    productid: {
      ...Nullable(Id),
      description: 'The product the feedback is about; `null` once that product has been deleted.',
    },
    heading: Heading,
    body: Body,
    nps: Nps,
    created: Timestamp,
  },
  { $id: 'ProductFeedback', description: 'Feedback about one product.', additionalProperties: false },
)
export type ProductFeedback = Static<typeof ProductFeedbackSchema>

export const CreateBrandFeedbackSchema = Type.Object(
  { customerid: Customer, heading: Heading, body: Body, nps: Type.Optional(Nps) },
  {
    additionalProperties: false,
    description: 'New brand feedback. `nps` is optional. Unknown fields are refused.',
    examples: [examples.newBrandFeedback],
  },
)
export type CreateBrandFeedback = Static<typeof CreateBrandFeedbackSchema>

export const CreateProductFeedbackSchema = Type.Object(
  { productid: Product, customerid: Customer, heading: Heading, body: Body, nps: Type.Optional(Nps) },
  {
    additionalProperties: false,
    description: 'New product feedback. `nps` is optional. Unknown fields are refused.',
    examples: [examples.newProductFeedback],
  },
)
export type CreateProductFeedback = Static<typeof CreateProductFeedbackSchema>

export const FeedbackQuerySchema = Type.Object(
  { customerid: { ...Id, description: "List this customer's feedback." }, ...Paging },
  { additionalProperties: false },
)
export type FeedbackQuery = Static<typeof FeedbackQuerySchema>

/** The `feedback` table: brand feedback. */
export const FeedbackRowSchema = Type.Object({
  id: Type.Integer(),
  customerid: Type.Integer(),
  heading: Type.String(),
  body: Type.String(),
  nps: Type.Union([Type.Integer(), Type.Null()]),
  created: Type.String(),
})

/** The `product_feedback` table. `productid` becomes null when the product is deleted. */
export const ProductFeedbackRowSchema = Type.Object({
  ...FeedbackRowSchema.properties,
  productid: Type.Union([Type.Integer(), Type.Null()]),
})
