// Export schemas: who asks for an export, and the record kept of each.
import { type Static, Type } from '@sinclair/typebox'
import { Id, Nullable, Paging, StringEnum, Text, Timestamp } from './common.js'
import { Email } from './customer.js'
import { Role, ROLE_NAMES } from './key.js'

export const ExportKindSchema = StringEnum(['customers', 'products'], {
  description: 'What was exported.',
  examples: ['customers'],
})

export const ExportFormatSchema = StringEnum(['xlsx', 'csv'], {
  description: 'The file: an Excel workbook (the default), or CSV (UTF-8 with a BOM).',
  examples: ['xlsx'],
})

export type ExportKind = Static<typeof ExportKindSchema>
export type ExportFormat = Static<typeof ExportFormatSchema>

const requester = {
  name: Text({ maxLength: 200, description: "The requester's first name.", examples: ['Grace'] }),
  surname: Text({ maxLength: 200, description: "The requester's surname.", examples: ['Hopper'] }),
  email: { ...Email, description: "The requester's e-mail address.", examples: ['grace@example.com'] },
}

export const ExportQuerySchema = Type.Object(
  { ...requester, format: Type.Optional(ExportFormatSchema) },
  { additionalProperties: false },
)
export type ExportQuery = Static<typeof ExportQuerySchema>

export const ExportRecordSchema = Type.Object(
  {
    id: Id,
    kind: ExportKindSchema,
    format: ExportFormatSchema,
    ...requester,
    keyid: {
      ...Nullable(Id),
      description:
        'The id of the API key that ran the export; null for the `API_KEY` of the configuration, which is not ' +
        'stored, and for exports recorded before keys were.',
      examples: [1],
    },
    keyprefix: {
      ...Nullable(Type.String()),
      description:
        'The prefix of that key, as the logs name it; `API_KEY` for the key of the configuration; null for ' +
        'exports recorded before keys were.',
      examples: ['crm_Ab12Cd34'],
    },
    keyrole: Type.Unsafe<Role | null>({
      type: ['string', 'null'],
      enum: [...ROLE_NAMES, null],
      description: 'The role of that key when it ran the export; null for exports recorded before keys were.',
      examples: ['admin'],
    }),
    rows: Type.Integer({ minimum: 0, description: 'Records written to the file.', examples: [1250] }),
    completed: Type.Boolean({
      description: 'Whether the whole file was sent; false if the download stopped.',
      examples: [true],
    }),
    requestid: Type.String({
      description:
        "The id of the request, as in the logs: the client's own `X-Request-Id` when it sent one, so not " +
        'necessarily unique; the key fields say who ran it.',
      examples: ['req-7'],
    }),
    created: { ...Timestamp, description: 'When the export started (UTC).' },
  },
  {
    $id: 'ExportRecord',
    description: 'Who took which data out (the person named and the API key used), and when.',
    additionalProperties: false,
  },
)
export type ExportRecord = Static<typeof ExportRecordSchema>

export const ExportRecordsQuerySchema = Type.Object({ ...Paging }, { additionalProperties: false })

/** The `export_records` table; `completed` is 0 or 1; the key columns are null in records older than them. */
export const ExportRecordRowSchema = Type.Object({
  id: Type.Integer(),
  kind: ExportKindSchema,
  format: ExportFormatSchema,
  name: Type.String(),
  surname: Type.String(),
  email: Type.String(),
  keyid: Type.Union([Type.Integer(), Type.Null()]),
  keyprefix: Type.Union([Type.String(), Type.Null()]),
  keyrole: Type.Union([Role, Type.Null()]),
  rows: Type.Integer(),
  completed: Type.Integer(),
  requestid: Type.String(),
  created: Type.String(),
})
