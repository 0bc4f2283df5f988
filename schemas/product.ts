// Product schemas: the stored row.
import { Type } from '@sinclair/typebox'

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
