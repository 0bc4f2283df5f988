// Export endpoints: every customer or product as an Excel workbook (or CSV), streamed, and the audit records.
import { PassThrough } from 'node:stream'
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { pageOf, problemResponses } from '../../schemas/common.js'
import {
  type ExportKind,
  type ExportQuery,
  ExportQuerySchema,
  ExportRecordSchema,
  ExportRecordsQuerySchema,
} from '../../schemas/export.js'
import { csvText } from '../exports/csv.js'
import { writeXlsx } from '../exports/xlsx.js'
import { writeTo } from '../exports/zip.js'
import { exportSource, finishExport, listExports, startExport } from '../services/exports.js'
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

const exportsPlugin: FastifyPluginAsyncTypebox = async (app) => {
  app.addSchema(ExportRecordSchema)

  /**
   * Streams the export: rows go from the database to the response page by page as the client
   * takes them, so memory does not grow with the table; a client that goes away stops the work.
   */
  async function send(request: FastifyRequest, reply: FastifyReply, kind: ExportKind, query: ExportQuery) {
    const format = query.format ?? 'xlsx'
    const id = await startExport(app.db, kind, query, request.id)
    const log = request.log.child({ export: id, kind, format })
    log.info({ requester: { name: query.name, surname: query.surname, email: query.email } }, 'export started')
    const { columns, rows } = await exportSource(app.db, kind)
    let count = 0
    // A page counts once the writer asks for the next: by then it has been written.
    async function* counted() {
      for await (const page of rows) {
        yield page
        count += page.length
      }
    }
    const out = new PassThrough()
    const socket = request.raw.socket
    // The client went away before the end: stop reading and writing (the writers fail on a closed stream).
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) out.destroy()
    })
    const work =
      format === 'xlsx'
        ? writeXlsx(out, kind, columns, counted())
        : (async () => {
            for await (const text of csvText(columns, counted())) await writeTo(out, text)
          })()
    void work
      .then(
        async () => {
          // Recorded before the last byte goes: a client that has the whole file finds it recorded.
          await finishExport(app.db, id, count, true)
          log.info({ rows: count }, 'export sent')
          out.end()
        },
        async (error: Error) => {
          out.destroy()
          // The response cannot be completed: close its connection too, or it would wait for ever.
          socket.destroy()
          await finishExport(app.db, id, count, false)
          log.warn({ rows: count, reason: error.message }, 'export stopped')
        },
      )
      .catch((error: Error) => {
        out.destroy(error)
        log.error({ err: error }, 'export record could not be updated')
      })
    return reply
      .type(format === 'xlsx' ? XLSX_TYPE : CSV_TYPE)
      .header('content-disposition', `attachment; filename="${kind}-${fileTime()}.${format}"`)
      .send(out)
  }

  for (const kind of ['customers', 'products'] as const) {
    const one = kind === 'customers' ? 'customer' : 'product'
    app.get(
      `/api/${one}/export`,
      {
        config: { role: 'admin' },
        schema: {
          operationId: kind === 'customers' ? 'exportCustomers' : 'exportProducts',
          tags,
          summary: `Download every ${one} as an Excel workbook`,
          description:
            `Every ${one} record, in id order, as an .xlsx download (or CSV with \`format=csv\`): row 1 holds the ` +
            'field names as the JSON API spells them; numbers, booleans, dates and times are typed cells; text ' +
            'that looks like a formula stays text. `name`, `surname` and `email` of the person asking are ' +
            'required (query string or JSON body): every export is recorded with them, and logged. The file is ' +
            'streamed, for tables of any size.',
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
        },
      },
      (request, reply) => send(request, reply, kind, request.query),
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
          'Who exported which data, when, in what format, how many rows, and whether the download finished; ' +
          'newest first, paged by `limit` and `offset`.',
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
