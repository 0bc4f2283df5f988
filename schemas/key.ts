// API key schemas: the roles, the stored row, and a key as it is listed (never the key itself).
import { type Static, Type } from '@sinclair/typebox'
import { Id, Nullable, StringEnum, Text, Timestamp } from './common.js'

/** What a key may do: `reader` the lookups, `editor` also every change and upload, `admin` also exports and keys. */
export const Role = StringEnum(['reader', 'editor', 'admin'], {
  description: 'reader: the lookups; editor: also every change and the uploads; admin: also the exports and keys.',
  examples: ['editor'],
})
export type Role = Static<typeof Role>

export const KeyName = Text({ maxLength: 200, description: 'Who or what the key is for.', examples: ['Accounts office'] })

export const ApiKeySchema = Type.Object(
  {
    id: Id,
    name: KeyName,
    role: Role,
    prefix: Type.String({ description: 'The start of the key, to tell keys apart.', examples: ['crm_Xy3kP9aQ'] }),
    created: Timestamp,
    revoked: { ...Nullable(Timestamp), description: 'When the key was revoked; null while it works.' },
  },
  { $id: 'ApiKey', description: 'An API key as listed: its secret part is never shown again.', additionalProperties: false },
)
export type ApiKey = Static<typeof ApiKeySchema>

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
