// Change feed schemas: an event as the API shows it, the feed's query, and the stored rows of the
// feed and of idempotency keys.
import { type Static, Type } from '@sinclair/typebox'
import { Id, Nullable, StringEnum, Timestamp } from './common.js'
import { Role, ROLE_NAMES } from './key.js'
import * as examples from './examples.js'

/** Every kind of event, by the record it is about. */
export const EVENT_TYPES = [
  'customer.created',
  'customer.updated',
  'customer.deleted',
  'product.created',
  'product.updated',
  'product.transferred',
  'product.deleted',
  'feedback.created',
  'feedback.deleted',
  'ticket.opened',
  'ticket.closed',
  'ticket.deleted',
] as const
export type EventType = (typeof EVENT_TYPES)[number]

export const ENTITIES = ['customer', 'product', 'feedback', 'ticket'] as const
export type Entity = (typeof ENTITIES)[number]

export const EntitySchema = StringEnum(ENTITIES, {
  description: 'The kind of record: `customer`, `product`, `feedback` (brand or product feedback) or `ticket`.',
  examples: ['customer'],
})

const Change = Type.Object(
  {
    from: Type.Unknown({ description: 'The value before.' }),
    to: Type.Unknown({ description: 'The value after.' }),
  },
  { additionalProperties: false },
)

export const EventSchema = Type.Object(
  {
    id: {
      ...Id,
      description:
        'Increasing: an event never becomes visible with an id below one already read. Ids may skip (a change ' +
        'that was rolled back used one up).',
      examples: [42],
    },
    type: StringEnum(EVENT_TYPES, {
      description:
        'What happened. `product.transferred`: its `customerid` changed (to another customer or to null), ' +
        'maybe with other fields.',
      examples: ['customer.updated'],
    }),
    time: { ...Timestamp, description: 'When the change was made (UTC); the record shows the same time.' },
    entity: EntitySchema,
    entityid: { ...Id, description: 'The id of the record.', examples: [1] },
    data: Type.Object(
      {},
      {
        additionalProperties: true,
        description:
          'The record as the API shows it after the change (before it, for a delete): a `Customer`, `Product`, ' +
          '`BrandFeedback` or `ProductFeedback` (which has a `productid`), or `Ticket`. Brand and product ' +
          'feedback are numbered apart, so one `entityid` of `feedback` may name one of each.',
      },
    ),
    changes: Type.Union([Type.Record(Type.String(), Change), Type.Null()], {
      description:
        'For `*.updated`, `product.transferred` and `ticket.closed`: each field whose value changed, from and ' +
        'to (the `updated` time, which every change sets, is not listed); null for the other types.',
      examples: [{ address: { from: '1 Old Road', to: '742 Evergreen Terrace' } }],
    }),
    actor: Type.Union(
      [
        Type.Object(
          {
            key: Type.String({
              description:
                'The prefix of the API key, as the logs name it; `API_KEY` for the key of the configuration.',
            }),
            role: Role,
          },
          { additionalProperties: false },
        ),
        Type.Null(),
      ],
      { description: 'Who made the change: the API key; null for the server itself.' },
    ),
    requestid: {
      ...Nullable(Type.String()),
      description:
        'The id of the request that made the change, as in `X-Request-Id` and the logs; null for the server.',
      examples: ['req-7'],
    },
    uploadid: {
      ...Nullable(Id),
      description: 'The upload (its report id) that made the change; null for any other change.',
      examples: [null],
    },
  },
  {
    $id: 'Event',
    description: 'One change to one record, as the change feed records it.',
    additionalProperties: false,
    examples: [examples.event],
  },
)
export type Event = Static<typeof EventSchema>

/** `type` of the feed's query: comma-separated types or groups (`product.*`); each must exist. */
const EVENT_TYPE_LIST = '^[a-z]+\\.([a-z]+|\\*)(,[a-z]+\\.([a-z]+|\\*))*$'

export const EventsQuerySchema = Type.Object(
  {
    after: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: Number.MAX_SAFE_INTEGER,
        default: 0,
        description: 'Only events after this id: 0 (the default) for the whole feed, else the `next` of the last page.',
        examples: [0],
      }),
    ),
    limit: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1000,
        default: 100,
        description: 'How many events at most.',
        examples: [100],
      }),
    ),
    type: Type.Optional(
      Type.String({
        maxLength: 500,
        pattern: EVENT_TYPE_LIST,
        description: 'Only these types, comma-separated; `product.*` takes every type of a group.',
        examples: ['customer.created,product.*'],
      }),
    ),
    entity: Type.Optional(EntitySchema),
    entityid: Type.Optional({ ...Id, description: "With `entity`: one record's history." }),
  },
  { additionalProperties: false },
)
export type EventsQuery = Static<typeof EventsQuerySchema>

export const EventPageSchema = Type.Object(
  {
    events: Type.Array(Type.Ref(EventSchema), { description: 'The events, in id order.' }),
    next: Type.Integer({
      minimum: 0,
      description:
        'The `after` of the next page: the id of the last event here, or `after` again when there were none.',
      examples: [42],
    }),
  },
  { $id: 'EventPage', description: 'A page of the change feed.', additionalProperties: false },
)
export type EventPage = Static<typeof EventPageSchema>

/** The `events` table: `data` and `changes` as JSON text; the actor as its key prefix and role. */
export const EventRowSchema = Type.Object({
  id: Type.Integer(),
  type: Type.String(),
  time: Type.String(),
  entity: Type.String(),
  entityid: Type.Integer(),
  data: Type.String(),
  changes: Type.Union([Type.String(), Type.Null()]),
  actorkey: Type.Union([Type.String(), Type.Null()]),
  actorrole: Type.Union([Type.Unsafe<(typeof ROLE_NAMES)[number]>({ type: 'string' }), Type.Null()]),
  requestid: Type.Union([Type.String(), Type.Null()]),
  uploadid: Type.Union([Type.Integer(), Type.Null()]),
})

/** The `idempotency_keys` table: a claim while `status` is null, then the stored answer. */
export const IdempotencyKeyRowSchema = Type.Object({
  scope: Type.String(),
  key: Type.String(),
  fingerprint: Type.String(),
  token: Type.String(),
  lockeduntil: Type.String(),
  status: Type.Union([Type.Integer(), Type.Null()]),
  contenttype: Type.Union([Type.String(), Type.Null()]),
  etag: Type.Union([Type.String(), Type.Null()]),
  body: Type.Union([Type.String(), Type.Null()]),
  created: Type.String(),
  expires: Type.String(),
})
