// Customer schemas: the stored row, the record the API returns, and each request's parameters.
import { Type, type Static } from '@sinclair/typebox'
import { Alternative, Id, MultilineText, Nullable, Paging, StringEnum, Text, Timestamp } from './common.js'
import * as examples from './examples.js'

export const CustomerName = Text({
  maxLength: 200,
  description: 'Full name. Lookups by name ignore case.',
  examples: ['Ada Lovelace'],
})

export const Email = Type.String({
  format: 'email',
  maxLength: 254,
  description: 'E-mail address; unique among customers, ignoring case.',
  examples: ['ada@example.com'],
})

const Address = MultilineText({
  maxLength: 500,
  description: 'Postal address.',
  examples: ['12 St James Square, London'],
})

const Phone = Nullable(Text({ maxLength: 40, description: 'Phone number, or null.', examples: ['+44 20 7946 0958'] }))

// No `default` here: validation would fill it in on updates too, and reset the flags a client left out.
const consent = (channel: string) =>
  Type.Boolean({
    description: `Whether the customer agreed to be contacted by ${channel}. "true" and "false" are accepted too.`,
    examples: [false],
  })
/** An optional consent flag that is false when not given. */
const optional = <T extends ReturnType<typeof consent>>(schema: T) => Type.Optional({ ...schema, default: false })

export const CustomerStatus = StringEnum(['active', 'inactive', 'suspended'], {
  description: 'Account status.',
  examples: ['active'],
})

/** The attributes a client sets; every customer request schema is built from these. */
const attributes = {
  name: CustomerName,
  email: Email,
  address: Address,
  phone: Phone,
  optphone: consent('phone'),
  optemail: consent('e-mail'),
  optchat: consent('chat'),
  status: CustomerStatus,
}

export const CustomerSchema = Type.Object(
  {
    id: Id,
    ...attributes,
    revenue: Type.Number({
      minimum: 0,
      multipleOf: 0.01,
      readOnly: true,
      description: 'The exact sum of the prices of the products assigned to the customer now.',
      examples: [1299.5],
    }),
    created: Timestamp,
    updated: Timestamp,
  },
  { $id: 'Customer', description: 'A customer record.', additionalProperties: false },
)
export type Customer = Static<typeof CustomerSchema>

export const CreateCustomerSchema = Type.Object(
  {
    name: attributes.name,
    email: attributes.email,
    address: attributes.address,
    phone: Type.Optional(attributes.phone),
    optphone: optional(attributes.optphone),
    optemail: optional(attributes.optemail),
    optchat: optional(attributes.optchat),
    status: attributes.status,
  },
  {
    additionalProperties: false,
    description: 'A new customer. Unknown fields are refused.',
    examples: [examples.newCustomer],
  },
)
export type CreateCustomer = Static<typeof CreateCustomerSchema>

export const UpdateCustomerSchema = Type.Object(
  { id: Id, ...Type.Partial(Type.Object(attributes)).properties },
  {
    additionalProperties: false,
    description: 'The customer to change, by `id`, and one or more attributes to set. Unknown fields are refused.',
    examples: [examples.customerChange],
  },
)
export type UpdateCustomer = Static<typeof UpdateCustomerSchema>

export const CustomerQuerySchema = Type.Object(
  {
    id: Type.Optional(Id),
    name: Type.Optional(Alternative(CustomerName)),
    ...Paging,
  },
  { additionalProperties: false },
)
export type CustomerQuery = Static<typeof CustomerQuerySchema>

export const CustomerIdSchema = Type.Object({ id: Id }, { additionalProperties: false, examples: [{ id: 1 }] })

/** The `customers` table. `name_key` and `email_key` are the case-folded forms the lookups use. */
export const CustomerRowSchema = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  name_key: Type.String(),
  email: Type.String(),
  email_key: Type.String(),
  address: Type.String(),
  phone: Type.Union([Type.String(), Type.Null()]),
  optphone: Type.Integer({ description: '0 or 1' }),
  optemail: Type.Integer({ description: '0 or 1' }),
  optchat: Type.Integer({ description: '0 or 1' }),
  status: CustomerStatus,
  created: Type.String(),
  updated: Type.String(),
})
