// Export schemas: who asks for an export, and the record kept of each.
import { type Static, Type } from '@sinclair/typebox'
import { Id, Paging, StringEnum, Text, Timestamp } from './common.js'
import { Email } from './customer.js'

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
    rows: Type.Integer({ minimum: 0, description: 'Records written to the file.', examples: [1250] }),
    completed: Type.Boolean({
      description: 'Whether the whole file was sent; false if the download stopped.',
      examples: [true],
    }),
    requestid: Type.String({ description: 'The id of the request, as in the logs.', examples: ['req-7'] }),
    created: { ...Timestamp, description: 'When the export started (UTC).' },
  },
  { $id: 'ExportRecord', description: 'Who took which data out, and when.', additionalProperties: false },
)
export type ExportRecord = Static<typeof ExportRecordSchema>

export const ExportRecordsQuerySchema = Type.Object({ ...Paging }, { additionalProperties: false })

/** The `export_records` table; `completed` is 0 or 1. */
export const ExportRecordRowSchema = Type.Object({
  id: Type.Integer(),
  kind: ExportKindSchema,
  format: ExportFormatSchema,
  name: Type.String(),
  surname: Type.String(),
  email: Type.String(),
  rows: Type.Integer(),
  completed: Type.Integer(),
  requestid: Type.String(),
  created: Type.String(),
})
