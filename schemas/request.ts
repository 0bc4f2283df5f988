// Customer request (ticket) schemas: the stored row.
import { Type } from '@sinclair/typebox'

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
