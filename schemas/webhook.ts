// Webhook schemas: a webhook as shown and as changed, its delivery log, and the stored rows.
import { type Static, Type } from '@sinclair/typebox'
import { Id, Limit, Nullable, StringEnum, Text, Timestamp } from './common.js'
import { ENTITIES } from './event.js'
import * as examples from './examples.js'

/** Every type, as the groups that hold them: what a webhook takes when it names none. */
export const EVERY_TYPE = ENTITIES.map((entity) => `${entity}.*`)

const Url = Type.String({
  minLength: 1,
  maxLength: 2000,
  description:
    'Where events are POSTed: an http or https URL, without a user name, password or fragment. Its host must not ' +
    'resolve to a loopback, private, link-local or unspecified address unless WEBHOOK_ALLOW_PRIVATE=true.',
  examples: ['https://hooks.example.com/crm'],
})

const Types = Type.Array(
  Type.String({ pattern: '^[a-z]+\\.([a-z]+|\\*)$', maxLength: 40, examples: ['customer.created'] }),
  {
    minItems: 1,
    maxItems: 20,
    description: 'The event types it takes: types such as `customer.created`, or groups such as `product.*`.',
    examples: [['customer.*', 'ticket.closed']],
  },
)

const Description = Text({ maxLength: 500, description: 'What the webhook is for.', examples: ['Sync to the shop'] })

export const WebhookSchema = Type.Object(
  {
    id: Id,
    url: Url,
    types: Types,
    description: { ...Nullable(Type.String()), description: 'What the webhook is for; null when not given.' },
    enabled: Type.Boolean({ description: 'Whether events are sent to it.', examples: [true] }),
    disabledreason: {
      ...Nullable(Type.String()),
      description: 'Why the server disabled it (5 days of nothing but failed deliveries); null otherwise.',
      examples: [null],
    },
    created: Timestamp,
    updated: Timestamp,
  },
  {
    $id: 'Webhook',
    description: 'A webhook: where events of the types it takes are sent. Its secret is never shown again.',
    additionalProperties: false,
  },
)
export type Webhook = Static<typeof WebhookSchema>

export const CreatedWebhookSchema = Type.Object(
  {
    ...WebhookSchema.properties,
    secret: Type.String({
      description:
        'The signing secret (`whsec_` and base64 of 32 random bytes), shown this once: verify each delivery with it.',
      examples: [examples.createdWebhook.secret],
    }),
  },
  { description: 'A new webhook, with its signing secret.', additionalProperties: false },
)
export type CreatedWebhook = Static<typeof CreatedWebhookSchema>

export const CreateWebhookSchema = Type.Object(
  { url: Url, types: Type.Optional(Types), description: Type.Optional(Description) },
  {
    additionalProperties: false,
    description: 'A new webhook; without `types` it takes every event.',
    examples: [examples.newWebhook],
  },
)
export type CreateWebhook = Static<typeof CreateWebhookSchema>

export const UpdateWebhookSchema = Type.Object(
  {
    id: Id,
    url: Type.Optional(Url),
    types: Type.Optional(Types),
    description: Type.Optional(Description),
    enabled: Type.Optional(
      Type.Boolean({ description: 'false stops deliveries; true starts them again (after a disable too).' }),
    ),
  },
  { additionalProperties: false, examples: [examples.webhookChange] },
)
export type UpdateWebhook = Static<typeof UpdateWebhookSchema>

export const WebhookIdSchema = Type.Object(
  { id: { ...Id, description: 'The webhook.' } },
  {
    additionalProperties: false,
    examples: [examples.webhookId],
  },
)

export const RedeliverSchema = Type.Object(
  { id: { ...Id, description: 'The webhook.' }, eventid: { ...Id, description: 'The event to send again.' } },
  { additionalProperties: false, examples: [examples.redeliveryRequest] },
)

export const DeliveriesQuerySchema = Type.Object(
  { id: { ...Id, description: 'The webhook.' }, limit: Type.Optional(Limit) },
  { additionalProperties: false },
)

export const DELIVERY_STATUSES = ['delivered', 'failed', 'pending'] as const
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number]

export const AttemptSchema = Type.Object(
  {
    eventid: { ...Id, description: 'The event sent.' },
    attempt: Type.Integer({ minimum: 1, description: 'Which attempt at this event this was: 1 for the first.' }),
    time: { ...Timestamp, description: 'When the attempt was made.' },
    status: StringEnum(DELIVERY_STATUSES, {
      description:
        '`delivered` (a 2xx within the timeout), `pending` (it failed; another attempt comes at `next_attempt`) or ' +
        '`failed` (it failed, and no attempt will follow).',
    }),
    code: { ...Nullable(Type.Integer()), description: "The receiver's HTTP status; null when none came." },
    duration_ms: Type.Integer({ minimum: 0, description: 'How long the attempt took.' }),
    error: { ...Nullable(Type.String()), description: 'Why it failed; null when delivered.' },
    next_attempt: { ...Nullable(Timestamp), description: 'When the next attempt is due; null when none will come.' },
  },
  {
    $id: 'DeliveryAttempt',
    description: 'One attempt at delivering an event to a webhook.',
    additionalProperties: false,
  },
)
export type Attempt = Static<typeof AttemptSchema>

export const RedeliverySchema = Type.Object(
  {
    id: Id,
    eventid: Id,
    next_attempt: { ...Timestamp, description: 'When it is sent: now.' },
  },
  { description: 'An event queued to be sent to a webhook again.', additionalProperties: false },
)

/** The `webhooks` table: `types` as JSON text, the secrets as made, the feed's position it has been given. */
export const WebhookRowSchema = Type.Object({
  id: Type.Integer(),
  url: Type.String(),
  types: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  enabled: Type.Integer(),
  disabledreason: Type.Union([Type.String(), Type.Null()]),
  secret: Type.String(),
  previoussecret: Type.Union([Type.String(), Type.Null()]),
  previousuntil: Type.Union([Type.String(), Type.Null()]),
  cursor: Type.Integer(),
  failingsince: Type.Union([Type.String(), Type.Null()]),
  created: Type.String(),
  updated: Type.String(),
})

/** The `webhook_deliveries` table: one event to one webhook, until delivered or given up. */
export const DeliveryRowSchema = Type.Object({
  id: Type.Integer(),
  webhookid: Type.Integer(),
  eventid: Type.Integer(),
  attempts: Type.Integer(),
  status: Type.String(),
  nextattempt: Type.Union([Type.String(), Type.Null()]),
  leaseuntil: Type.Union([Type.String(), Type.Null()]),
  created: Type.String(),
})

/** The `webhook_attempts` table: the delivery log. */
export const AttemptRowSchema = Type.Object({
  id: Type.Integer(),
  deliveryid: Type.Integer(),
  webhookid: Type.Integer(),
  eventid: Type.Integer(),
  attempt: Type.Integer(),
  time: Type.String(),
  status: Type.String(),
  code: Type.Union([Type.Integer(), Type.Null()]),
  durationms: Type.Integer(),
  error: Type.Union([Type.String(), Type.Null()]),
  nextattempt: Type.Union([Type.String(), Type.Null()]),
})
