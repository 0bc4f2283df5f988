// Bulk uploads of customers and products from spreadsheets and CSV files, and their reports.
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import multipart, { type MultipartFile } from '@fastify/multipart'
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { HtmlPage, problemResponses } from '../../schemas/common.js'
import {
  CustomerUploadQuerySchema,
  ProductUploadQuerySchema,
  UploadModeSchema,
  UploadReportQuerySchema,
  UploadReportSchema,
  FILENAME_MAX_LENGTH,
  type UploadKind,
  type UploadMode,
  type UploadReport,
  uploadForm,
} from '../../schemas/upload.js'
import type { Config } from '../config.js'
import { HttpProblem, invalid } from '../problems.js'
import { prefersHtml, reportPage } from '../html.js'
import { checkContent, formatOf } from '../imports/formats.js'
import { parsedRows } from '../imports/parse.js'
import { readRows } from '../imports/read.js'
import { sheetRows } from '../imports/sheets.js'
import { importRows } from '../imports/run.js'
import { getReport } from '../services/uploads.js'
import * as examples from '../../schemas/examples.js'

export const tag = {
  name: 'uploads',
  description:
    'Bulk uploads of customer and product lists from Excel (.xlsx, .xls) and CSV (.csv, .txt) files, and their reports.',
}
const tags = [tag.name]
const Report = Type.Ref(UploadReportSchema)

function sendReport(request: FastifyRequest, reply: FastifyReply, report: UploadReport) {
  if (prefersHtml(request)) return reply.type('text/html; charset=utf-8').send(reportPage(report))
  return reply.send(report)
}

const uploadResponses = {
  201: {
    description:
      'The report: what was stored and what was skipped, and why. A client that prefers HTML gets it as a page.',
    content: {
      'application/json': { schema: Report, example: examples.uploadReport },
      'text/html': { schema: HtmlPage },
    },
  },
  ...problemResponses(
    {
      413: 'The file is larger than UPLOAD_MAX_BYTES, or a workbook unpacks to too much; nothing was stored.',
      415: 'The file is not .xlsx, .xls, .csv or .txt, or its content is not what its name says; nothing was stored.',
    },
    { html: true },
  ),
}

const rowRules =
  'A row that cannot be stored is skipped and reported with its row number and the reason; the other rows are ' +
  'stored, all in one transaction. Blank rows are ignored. XLS and XLSX files may start with a header row; ' +
  'CSV and TXT files (UTF-8, commas, quotes as in RFC 4180) have none. A browser form post gets the report as a page.'

/** How long reading may go on after the request body has ended: longer means it was cut short. */
const CUT_SHORT_MS = 2000

/**
 * `work` (reading the multipart body), failed with a 400 when the body ends, or the client goes
 * away, and `work` is still waiting for data that will never come: a body that stops inside its
 * file would otherwise hold the request, its file descriptor and its temporary file for ever.
 */
async function untilBodyEnds<T>(request: FastifyRequest, work: Promise<T>, stop: (error: Error) => void = () => {}) {
  let timer: NodeJS.Timeout | undefined
  let fail!: (error: Error) => void
  const cutShort = new Promise<never>((_, reject) => (fail = reject))
  const cut = () => {
    const error = invalid('(body)', 'ends before the file in it does: the upload was cut short')
    stop(error)
    fail(error)
  }
  const onEnd = () => (timer = setTimeout(cut, CUT_SHORT_MS))
  // Closed before the whole body came: the client went away.
  const onClose = () => request.raw.complete || cut()
  if (request.raw.readableEnded) onEnd()
  else request.raw.once('end', onEnd)
  request.raw.once('close', onClose)
  try {
    return await Promise.race([work, cutShort])
  } finally {
    clearTimeout(timer)
    request.raw.off('end', onEnd).off('close', onClose)
  }
}

/** The `mode` form field of the upload page, sent before the file; only customer uploads have one. */
function modeField(file: MultipartFile, kind: UploadKind): UploadMode {
  const field = file.fields.mode
  if (field === undefined) return 'insert'
  const value = 'value' in field ? String(field.value) : undefined
  if (kind !== 'customers') throw invalid('mode', 'is not a field of a product upload')
  if (value === undefined || !(UploadModeSchema.enum as string[]).includes(value)) {
    throw invalid('mode', `must be one of ${UploadModeSchema.enum.join(', ')}`)
  }
  return value as UploadMode
}

const uploads: FastifyPluginAsyncTypebox<{ config: Config }> = async (app, { config }) => {
  await app.register(multipart, { limits: { fileSize: config.UPLOAD_MAX_BYTES, files: 1, fields: 10, parts: 11 } })
  app.addSchema(UploadReportSchema)

  /** Keeps the uploaded file on disk while it is read, so a slow client never holds the database. */
  async function upload(request: FastifyRequest, reply: FastifyReply, kind: UploadKind, queryMode?: UploadMode) {
    if (!request.isMultipart()) {
      throw new HttpProblem(415, 'An upload is a multipart/form-data form holding one file.')
    }
    let file: MultipartFile | undefined
    try {
      file = await untilBodyEnds(request, request.file())
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode) throw error
      throw invalid('(body)', `is not a multipart/form-data body that can be read (${(error as Error).message})`)
    }
    if (!file) throw invalid('(body)', 'must hold a file')
    const { filename } = file
    const folder = await mkdtemp(join(tmpdir(), 'crm-upload-'))
    try {
      const path = join(folder, 'upload')
      // The file is taken in whole before anything is refused: the client is not left sending
      // into a connection nobody reads.
      const { file: stream } = file
      await untilBodyEnds(request, pipeline(stream, createWriteStream(path)), (error) => stream.destroy(error))
      // At the limit the stream ends early, marked truncated, rather than failing.
      if (file.file.truncated) {
        throw new HttpProblem(
          413,
          `"${filename}" is larger than the ${config.UPLOAD_MAX_BYTES} bytes an upload may be (UPLOAD_MAX_BYTES).`,
        )
      }
      // A form sent without choosing a file still has the file part, with no name and no content.
      if (filename && filename.length > FILENAME_MAX_LENGTH) {
        throw invalid('(body)', `must hold a file whose name is at most ${FILENAME_MAX_LENGTH} characters long`)
      }
      // (A part with `filename=""` has no name at all, as the multipart parser reads it.)
      if (!filename && stream.bytesRead === 0) throw invalid('(body)', 'must hold a file: none was chosen')
      const format = formatOf(filename ?? '')
      const mode = queryMode ?? modeField(file, kind)
      await checkContent(path, filename, format)
      const rows =
        format === 'csv'
          ? parsedRows(kind, readRows(path, filename, format), format)
          : sheetRows({ kind, path, filename, format })
      const report = await importRows(app.db, kind, rows, { filename, mode, log: request.log })
      return sendReport(request, reply.code(201), report)
    } finally {
      await rm(folder, { recursive: true, force: true })
    }
  }

  app.post(
    '/upload/customers',
    {
      config: { html: true, role: 'editor' },
      schema: {
        operationId: 'uploadCustomers',
        tags,
        summary: 'Upload a customer list',
        description:
          'Columns, in this order: Name, Email, Address, Phone, OptEmail, OptPhone, OptChat, Status (e-mail before ' +
          'phone, unlike the JSON API). Name and Email are required, and each row must make a valid customer by the ' +
          'same rules as addCustomer (so Address is required too, except in a row that updates a stored customer). Status defaults to active; the opt columns read true/false/yes/no/y/n/1/0 in ' +
          'any case, or a real Excel boolean, and default to false. A row whose e-mail address (in any case) is ' +
          'earlier in the file is skipped; one already stored is skipped too, or with `mode=upsert` (in the query ' +
          'string or as a form field) updates that customer with the cells the row gives. ' +
          rowRules,
        querystring: CustomerUploadQuerySchema,
        consumes: ['multipart/form-data'],
        'x-form': uploadForm('custfile'),
        response: uploadResponses,
      },
    },
    (request, reply) => upload(request, reply, 'customers', request.query.mode),
  )

  app.post(
    '/upload/products',
    {
      config: { html: true, role: 'editor' },
      schema: {
        operationId: 'uploadProducts',
        tags,
        summary: 'Upload a product list',
        description:
          'Columns, in this order: Name, Price, Purchased, Warranty, and optionally CustomerId. Name and Price are ' +
          'required, and each row must make a valid product by the same rules as addProduct. Purchased (an Excel ' +
          'date or YYYY-MM-DD text) defaults to today, Warranty to 2 years, and no CustomerId leaves the product ' +
          'unassigned; a CustomerId that is not a stored customer skips the row. ' +
          rowRules,
        querystring: ProductUploadQuerySchema,
        consumes: ['multipart/form-data'],
        'x-form': uploadForm('prodfile'),
        response: uploadResponses,
      },
    },
    (request, reply) => upload(request, reply, 'products'),
  )

  app.get(
    '/upload/report',
    {
      config: { role: 'reader' },
      schema: {
        operationId: 'getUploadReport',
        tags,
        summary: 'Get the report of an upload again',
        description:
          'The report an upload answered with, by its `id` (in the query string or a JSON body). Its `errors` list ' +
          'the first skipped rows; `skipped` counts them all.',
        querystring: UploadReportQuerySchema,
        response: {
          200: {
            description: 'The report. A client that prefers HTML (a browser following the link) gets it as a page.',
            content: {
              'application/json': { schema: Report, example: examples.uploadReport },
              'text/html': { schema: HtmlPage },
            },
          },
          ...problemResponses({ 404: 'No upload report has this `id`.' }),
        },
      },
    },
    async (request, reply) => sendReport(request, reply, await getReport(app.db, request.query.id)),
  )
}

export default uploads
