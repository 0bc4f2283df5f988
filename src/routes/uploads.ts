// Bulk uploads of customers and products from spreadsheets and CSV files, and their reports.
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import multipart from '@fastify/multipart'
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ChangeHeaders, HtmlPage, problemResponses } from '../../schemas/common.js'
import {
  CustomerUploadQuerySchema,
  ProductUploadQuerySchema,
  UploadReportQuerySchema,
  UploadReportSchema,
  type UploadKind,
  type UploadMode,
  type UploadReport,
  uploadForm,
} from '../../schemas/upload.js'
import type { Config } from '../config.js'
import { prefersHtml, reportPage } from '../html.js'
import { type ReceivedFile, receiveFile } from '../imports/receive.js'
import { claimIdempotencyKey } from '../plugins/idempotency.js'
import { HttpProblem } from '../problems.js'
import { getReport, runUpload } from '../services/uploads.js'
import * as examples from '../../schemas/examples.js'

export const tag = {
  name: 'uploads',
  description:
    'Bulk uploads of customer and product lists from Excel (.xlsx, .xls) and CSV (.csv, .txt) files, and their reports.',
}
const tags = [tag.name]
const Report = Type.Ref(UploadReportSchema)

/** The SHA-256 of a file's bytes. */
async function digestOf(path: string): Promise<string> {
  const hash = createHash('sha256')
  await pipeline(createReadStream(path), hash)
  return hash.digest('base64url')
}

/** Discards the received file, then throws the error on. */
const discarding = (file: ReceivedFile) => async (error: unknown) => {
  await file.discard()
  throw error
}

/** A report as a page, for a client that prefers HTML (a browser); JSON otherwise. */
const reportAsPage = (request: FastifyRequest, report: unknown) =>
  prefersHtml(request) ? { type: 'text/html; charset=utf-8', body: reportPage(report as UploadReport) } : undefined

function sendReport(request: FastifyRequest, reply: FastifyReply, report: UploadReport) {
  const page = reportAsPage(request, report)
  return page ? reply.type(page.type).send(page.body) : reply.send(report)
}

/**
 * Aborted when the connection closes before the answer is complete: the client has gone, and its
 * upload stops. (The request's own `close`, which `request.signal` follows, comes as soon as its
 * body has been read.) The reason's status, 499 as nginx logs it, reaches no client.
 */
function hangUp(reply: FastifyReply): AbortSignal {
  const controller = new AbortController()
  const onClose = () => {
    if (!reply.raw.writableFinished) controller.abort(new HttpProblem(499, 'the client closed the connection'))
  }
  if (reply.raw.destroyed) onClose()
  else reply.raw.once('close', onClose)
  return controller.signal
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
    { html: true, change: true },
  ),
}

const rowRules =
  'A row that cannot be stored is skipped and reported with its row number and the reason; the other rows are ' +
  'stored, all in one transaction. Blank rows are ignored. XLS and XLSX files may start with a header row; ' +
  'CSV and TXT files (UTF-8, commas, quotes as in RFC 4180) have none. A browser form post gets the report as a page.'

const uploadCustomersSchema = {
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
  headers: ChangeHeaders,
  consumes: ['multipart/form-data'],
  'x-form': uploadForm('custfile'),
  response: uploadResponses,
}

const uploadProductsSchema = {
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
  headers: ChangeHeaders,
  consumes: ['multipart/form-data'],
  'x-form': uploadForm('prodfile'),
  response: uploadResponses,
}

const getUploadReportSchema = {
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
}

const uploads: FastifyPluginAsyncTypebox<{ config: Config }> = async (app, { config }) => {
  await app.register(multipart, { limits: { fileSize: config.UPLOAD_MAX_BYTES, files: 1, fields: 10, parts: 11 } })
  app.addSchema(UploadReportSchema)

  async function upload(request: FastifyRequest, reply: FastifyReply, kind: UploadKind, mode?: UploadMode) {
    const file = await receiveFile(request, config.UPLOAD_MAX_BYTES)
    // An Idempotency-Key names one upload: the same file (its bytes and name) with the same mode.
    const parts = [request.query, file.filename, file.modeFields, await digestOf(file.path)]
    if (await claimIdempotencyKey(request, reply, parts).catch(discarding(file))) {
      await file.discard()
      return reply
    }
    const report = await runUpload(app.db, file, kind, {
      mode,
      log: request.log,
      signal: hangUp(reply),
      by: request.writer,
    })
    return sendReport(request, reply.code(201), report)
  }

  app.post(
    '/upload/customers',
    {
      config: { html: true, role: 'editor', claimsIdempotencyKey: true, present: reportAsPage },
      schema: uploadCustomersSchema,
    },
    (request, reply) => upload(request, reply, 'customers', request.query.mode),
  )

  app.post(
    '/upload/products',
    {
      config: { html: true, role: 'editor', claimsIdempotencyKey: true, present: reportAsPage },
      schema: uploadProductsSchema,
    },
    (request, reply) => upload(request, reply, 'products'),
  )

  app.get('/upload/report', { config: { role: 'reader' }, schema: getUploadReportSchema }, async (request, reply) =>
    sendReport(request, reply, await getReport(app.db, request.query.id)),
  )
}

export default uploads
