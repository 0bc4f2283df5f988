// Upload schemas: the report of a bulk upload, its stored row, and the upload's parameters.
import { type Static, Type } from '@sinclair/typebox'
import { Id, StringEnum, Timestamp } from './common.js'

/** The longest file name an upload takes (most file systems allow 255 bytes). */
export const FILENAME_MAX_LENGTH = 255

/** How many skipped rows a report lists; every skipped row is logged, and `skipped` counts them all. */
export const REPORT_ERRORS_LIMIT = 1000

const count = (description: string, example: number) => Type.Integer({ minimum: 0, description, examples: [example] })

export const UploadKindSchema = StringEnum(['customers', 'products'], {
  description: 'What the file held.',
  examples: ['customers'],
})

// No `default`: validation would fill it into the query string and hide the form field of the page.
export const UploadModeSchema = StringEnum(['insert', 'upsert'], {
  description:
    'What a customer row whose e-mail address is already stored does: `insert` skips it (the default), ' +
    '`upsert` updates that customer with the row.',
  examples: ['upsert'],
})

export type UploadKind = Static<typeof UploadKindSchema>
export type UploadMode = Static<typeof UploadModeSchema>

export const UploadReportSchema = Type.Object(
  {
    id: { ...Id, description: 'The report id, for fetching it again.' },
    kind: UploadKindSchema,
    mode: UploadModeSchema,
    filename: Type.String({
      maxLength: FILENAME_MAX_LENGTH,
      description: `The name of the uploaded file (at most ${FILENAME_MAX_LENGTH} characters).`,
      examples: ['customers.xlsx'],
    }),
    rows: count('Data rows read (header and blank rows not counted).', 4),
    inserted: count('Rows stored as new records.', 2),
    updated: count('Rows that updated an existing customer (upsert mode only).', 1),
    skipped: count('Rows not stored; each is logged with its reason.', 1),
    errors: Type.Array(
      Type.Object({
        row: Type.Integer({ minimum: 1, description: 'The row number, as a spreadsheet shows it.', examples: [3] }),
        reason: Type.String({ description: 'Why the row was skipped.', examples: ['Email must be an e-mail address'] }),
      }),
      { description: `The skipped rows in row order, at most ${REPORT_ERRORS_LIMIT}.` },
    ),
    created: Timestamp,
  },
  { $id: 'UploadReport', description: 'What an upload stored and skipped.', additionalProperties: false },
)
export type UploadReport = Static<typeof UploadReportSchema>

export const CustomerUploadQuerySchema = Type.Object(
  { mode: Type.Optional(UploadModeSchema) },
  { additionalProperties: false },
)

export const ProductUploadQuerySchema = Type.Object({}, { additionalProperties: false })

export const UploadReportQuerySchema = Type.Object(
  { id: { ...Id, description: 'The report to fetch.' } },
  { additionalProperties: false },
)

/** The form an upload posts: one file, in any field (the upload page uses `custfile` and `prodfile`). */
export const uploadForm = (field: string) =>
  Type.Object(
    {
      ...(field === 'custfile' && { mode: Type.Optional(UploadModeSchema) }),
      [field]: Type.String({
        format: 'binary',
        description: 'The file: `.xlsx`, `.xls`, `.csv` or `.txt`. Any field name works.',
      }),
    },
    { required: [field] },
  )

/** The `upload_reports` table; `errors` is the JSON of the report's errors. */
export const UploadReportRowSchema = Type.Object({
  id: Type.Integer(),
  kind: UploadKindSchema,
  mode: UploadModeSchema,
  filename: Type.String(),
  rows: Type.Integer(),
  inserted: Type.Integer(),
  updated: Type.Integer(),
  skipped: Type.Integer(),
  errors: Type.String(),
  created: Type.String(),
})
