// The Kysely `Database` interface, derived from the row schemas of each domain.
import type { Static, TObject } from '@sinclair/typebox'
import type { Generated, Insertable, Selectable, Updateable } from 'kysely'
import type { CustomerRowSchema } from './customer.js'
import type { TicketRowSchema } from './ticket.js'
import type { FeedbackRowSchema, ProductFeedbackRowSchema } from './feedback.js'
import type { ProductRowSchema } from './product.js'
import type { UploadReportRowSchema } from './upload.js'
import type { ExportRecordRowSchema } from './export.js'
import type { ApiKeyRowSchema } from './key.js'
import type { EventRowSchema, IdempotencyKeyRowSchema } from './event.js'
import type { AttemptRowSchema, DeliveryRowSchema, WebhookRowSchema } from './webhook.js'

/** A table's columns from its row schema; the `id` the database assigns is `Generated`. */
type Table<S extends TObject> = { [K in keyof Static<S>]: K extends 'id' ? Generated<Static<S>[K]> : Static<S>[K] }

export interface Database {
  customers: Table<typeof CustomerRowSchema>
  products: Table<typeof ProductRowSchema>
  feedback: Table<typeof FeedbackRowSchema>
  product_feedback: Table<typeof ProductFeedbackRowSchema>
  customer_requests: Table<typeof TicketRowSchema>
  upload_reports: Table<typeof UploadReportRowSchema>
  export_records: Table<typeof ExportRecordRowSchema>
  api_keys: Table<typeof ApiKeyRowSchema>
  events: Table<typeof EventRowSchema>
  idempotency_keys: Table<typeof IdempotencyKeyRowSchema>
  webhooks: Table<typeof WebhookRowSchema>
  webhook_deliveries: Table<typeof DeliveryRowSchema>
  webhook_attempts: Table<typeof AttemptRowSchema>
}

export type CustomerRow = Selectable<Database['customers']>
export type NewCustomerRow = Insertable<Database['customers']>
export type CustomerRowUpdate = Updateable<Database['customers']>
export type ProductRow = Selectable<Database['products']>
export type NewProductRow = Insertable<Database['products']>
export type FeedbackRow = Selectable<Database['feedback']>
export type ProductFeedbackRow = Selectable<Database['product_feedback']>
export type TicketRow = Selectable<Database['customer_requests']>
export type EventRow = Selectable<Database['events']>
export type NewEventRow = Insertable<Database['events']>
export type IdempotencyKeyRow = Selectable<Database['idempotency_keys']>
export type WebhookRow = Selectable<Database['webhooks']>
export type DeliveryRow = Selectable<Database['webhook_deliveries']>
