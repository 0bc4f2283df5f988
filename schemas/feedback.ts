// Feedback schemas: the stored rows of brand and product feedback.
import { Type } from '@sinclair/typebox'

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
