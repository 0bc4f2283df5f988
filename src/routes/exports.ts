// Export endpoints: every customer or product as an Excel workbook (or CSV), streamed, and the audit records.
import type { Readable } from 'node:stream'
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { pageOf, problemResponses } from '../../schemas/common.js'
import {
  type ExportFormat,
  type ExportKind,
  ExportQuerySchema,
  ExportRecordSchema,
  ExportRecordsQuerySchema,
} from '../../schemas/export.js'
import { listExports, streamExport } from '../services/exports.js'
import * as examples from '../../schemas/examples.js'

export const tag = {
  name: 'exports',
  description:
    'Every customer or product as an Excel workbook (or CSV) for managers, and the record of who exported what.',
}
const tags = [tag.name]

const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'
const CSV_TYPE = 'text/csv; charset=utf-8'

/** `20261129T154442Z`: the UTC time in a file name that every system accepts. */
const fileTime = () =>
  new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')

/**
 * Sends the file as a download. (The reply is the plain one: its schema types the body as the
 * document describes it, a string, while the file is a stream.)
 */
function sendFile(reply: FastifyReply, kind: ExportKind, format: ExportFormat, file: Readable) {
  return reply
    .type(format === 'xlsx' ? XLSX_TYPE : CSV_TYPE)
    .header('content-disposition', `attachment; filename="${kind}-${fileTime()}.${format}"`)
    .send(file)
}

const singular = (kind: ExportKind) => (kind === 'customers' ? 'customer' : 'product')

/** The export route's schema for `kind`: the file it answers with, in either format. */
function exportSchema(kind: ExportKind) {
  const one = singular(kind)
  return {
    operationId: kind === 'customers' ? 'exportCustomers' : 'exportProducts',
    tags,
    summary: `Download every ${one} as an Excel workbook`,
    description:
      `Every ${one} record, in id order, as an .xlsx download (or CSV with \`format=csv\`): row 1 holds the ` +
      'field names as the JSON API spells them; numbers, booleans, dates and times are typed cells; text ' +
      'that looks like a formula stays text. `name`, `surname` and `email` of the person asking are ' +
      'required (query string or JSON body): every export is recorded with them and with the API key that ' +
      'ran it (id, prefix, role), and logged. The file is streamed, for tables of any size.',
    querystring: ExportQuerySchema,
    produces: [XLSX_TYPE, 'text/csv'],
    response: {
      200: {
        description: `The file, named \`${kind}-<UTC time>.xlsx\` (or .csv).`,
        content: {
          [XLSX_TYPE]: { schema: Type.String({ format: 'binary' }) },
          'text/csv': { schema: Type.String() },
        },
      },
      ...problemResponses(),
    },
  }
}

const exportsPlugin: FastifyPluginAsyncTypebox = async (app) => {
  app.addSchema(ExportRecordSchema)

  for (const kind of ['customers', 'products'] as const) {
    app.get(
      `/api/${singular(kind)}/export`,
      { config: { role: 'admin' }, schema: exportSchema(kind) },
      async (request, reply) => {
        const { format = 'xlsx', ...requester } = request.query
        const file = await streamExport(app.db, kind, format, requester, {
          requestId: request.id,
          // Set on every request the admin role admits.
          caller: request.caller!,
          log: request.log,
          response: reply.raw,
          socket: request.raw.socket,
        })
        return sendFile(reply, kind, format, file)
      },
    )
  }

  app.get(
    '/api/export/records',
    {
      config: { role: 'admin' },
      schema: {
        operationId: 'listExportRecords',
        tags,
        summary: 'List the export records, newest first',
        description:
          'Who exported which data (the person named and the API key used), when, in what format, how many rows, ' +
          'and whether the download finished; newest first, paged by `limit` and `offset`.',
        querystring: ExportRecordsQuerySchema,
        response: {
          200: Type.Array(Type.Ref(ExportRecordSchema), {
            description: 'The export records, newest first.',
            examples: [[examples.exportRecord]],
          }),
          ...problemResponses(),
        },
      },
    },
    async (request) => listExports(app.db, pageOf(request.query)),
  )
}

export default exportsPlugin
