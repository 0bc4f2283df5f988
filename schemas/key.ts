// API key schemas: the roles, the stored row, and a key as it is listed (never the key itself).
import { type Static, Type } from '@sinclair/typebox'
import { Id, Nullable, Paging, StringEnum, Text, Timestamp } from './common.js'
import * as examples from './examples.js'

/** The roles, least first. */
export const ROLE_NAMES = ['reader', 'editor', 'admin'] as const

/** What a key may do: `reader` the lookups, `editor` also every change and upload, `admin` also exports and keys. */
export const Role = StringEnum(ROLE_NAMES, {
  description: 'reader: the lookups; editor: also every change and the uploads; admin: also the exports and keys.',
  examples: ['editor'],
})
export type Role = Static<typeof Role>

export const KeyName = Text({
  maxLength: 200,
  description: 'Who or what the key is for.',
  examples: ['Accounts office'],
})

export const ApiKeySchema = Type.Object(
  {
    id: Id,
    name: KeyName,
    role: Role,
    prefix: Type.String({ description: 'The start of the key, to tell keys apart.', examples: ['crm_Xy3kP9aQ'] }),
    created: Timestamp,
    revoked: { ...Nullable(Timestamp), description: 'When the key was revoked; null while it works.' },
  },
  {
    $id: 'ApiKey',
    description: 'An API key as listed: its secret part is never shown again.',
    additionalProperties: false,
  },
)
export type ApiKey = Static<typeof ApiKeySchema>

export const CreatedApiKeySchema = Type.Object(
  {
    ...ApiKeySchema.properties,
    key: Type.String({
      description: 'The key itself: shown this once, never again (only its hash is stored). Keep it secret.',
      examples: [examples.createdKey.key],
    }),
  },
  { description: 'A new key, with the key itself.', additionalProperties: false },
)

export const CreateKeySchema = Type.Object(
  { name: KeyName, role: Role },
  { additionalProperties: false, description: 'A new key: who it is for, and its role.', examples: [examples.newKey] },
)
export type CreateKey = Static<typeof CreateKeySchema>

export const KeyIdSchema = Type.Object(
  { id: { ...Id, description: 'The key to revoke.' } },
  { additionalProperties: false, examples: [examples.keyRevocation] },
)

export const KeysQuerySchema = Type.Object({ ...Paging }, { additionalProperties: false })

/** The `api_keys` table: `hash` is the SHA-256 (hex) of the key. */
export const ApiKeyRowSchema = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  role: Role,
  prefix: Type.String(),
  hash: Type.String(),
  created: Type.String(),
  revoked: Type.Union([Type.String(), Type.Null()]),
})
