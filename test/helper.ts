// Test helpers: the app exactly as production builds it (in memory, on a file, listening), temporary folders, a client.
import { mkdtempSync, rmSync } from 'node:fs'
import { STATUS_CODES } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { InjectOptions } from 'fastify'
import type { Test } from 'tap'
import * as XLSX from 'xlsx'
import type { UploadReport } from '../schemas/upload.js'
import { type App, buildApp } from '../src/app.js'
import type { Config } from '../src/config.js'
import { assertDocumented } from './documented.js'
import { freshDatabase } from './postgres.js'

/** The admin key (`API_KEY`) every test app accepts, and sends unless a request brings its own credentials. */
export const TEST_KEY = 'test-admin-key-0123456789abcdefghijklmnop'
export const AS_ADMIN = { authorization: `Bearer ${TEST_KEY}` }

/** The migrations in `migrations/`, in the order they apply. */
export const MIGRATIONS = [
  '20261129_001_initial',
  '20261129_002_upload_reports',
  '20261129_003_export_records',
  '20261129_004_api_keys',
  '20261202_005_export_keys',
  '20261202_006_change_feed',
  '20261202_007_webhooks',
]

export type TestApp = App & {
  logs: () => Record<string, unknown>[]
  /** `inject` without the default admin key: the request carries only the credentials it names. */
  injectAs: App['inject']
}

/** Whether `condition` came to hold within `ms`, looked at every `step` ms. */
export async function until(condition: () => boolean | Promise<boolean>, ms = 10_000, step = 10): Promise<boolean> {
  const deadline = Date.now() + ms
  for (;;) {
    if (await condition()) return true
    if (Date.now() >= deadline) return false
    await sleep(step)
  }
}

/**
 * Builds the app as production does, on a fresh database (`freshDatabase`) unless `config` names
 * another (a SQLite file), closed when the test ends; log lines are kept for reading (none with
 * `LOG_LEVEL: 'silent'`). Rejects as `buildApp` does when the app cannot start.
 */
export async function build(t: Test, config: Partial<Config> = {}): Promise<TestApp> {
  const stream = new PassThrough()
  const lines: string[] = []
  stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)))
  const app = await buildApp({
    // The tests do heavy synchronous work in the server's own process (seeding 100,000 rows), which
    // the pressure valve would rightly answer with 503: it is tested on its own (test/limits.test.ts).
    config: {
      DATABASE_URL: config.DATABASE_URL ?? (await freshDatabase(t)),
      LOG_LEVEL: 'info',
      API_KEY: TEST_KEY,
      MAX_EVENT_LOOP_DELAY_MS: 60_000,
      ...config,
    },
    logStream: stream,
  })
  t.teardown(() => app.close())
  const injectAs = checkEveryResponse(app)
  await app.ready()
  return Object.assign(app, { injectAs, logs: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) })
}

/**
 * The app of `build`, listening on a free port of 127.0.0.1 for tests that need a real HTTP client
 * (a browser, newman, the SDK, raw sockets); closed when the test ends.
 */
export async function serve(
  t: Test,
  config: Partial<Config> = {},
): Promise<{ app: TestApp; base: string; port: number }> {
  const app = await build(t, config)
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, base, port: Number(new URL(base).port) }
}

/** A new empty folder under the system's temporary one (`crm-NAME-…`), removed with its contents when `t` ends. */
export function tempFolder(t: Test, name: string): string {
  const folder = mkdtempSync(join(tmpdir(), `crm-${name}-`))
  t.teardown(() => rmSync(folder, { recursive: true, force: true }))
  return folder
}

/**
 * Makes every injected response fail its test unless the OpenAPI document promises it
 * (test/documented.ts), and `app.inject` send the admin key unless a request names credentials.
 * Returns the checked `inject` that adds no key.
 */
function checkEveryResponse(app: App): App['inject'] {
  const inject = app.inject.bind(app)
  const checked = (async (options: InjectOptions) => {
    const response = await inject(options)
    const { method = 'GET', url = '/' } = options
    assertDocumented(method, typeof url === 'string' ? url : (url.pathname ?? '/'), {
      status: response.statusCode,
      contentType: response.headers['content-type'] as string | undefined,
      body: response.body,
    })
    return response
  }) as App['inject']
  app.inject = ((options: InjectOptions) => {
    const headers = { ...options.headers }
    const named = Object.keys(headers).some((name) => ['authorization', 'x-api-key'].includes(name.toLowerCase()))
    return checked({ ...options, headers: named ? headers : { ...AS_ADMIN, ...headers } })
  }) as App['inject']
  return checked
}

export interface Reply {
  status: number
  headers: Record<string, unknown>
  body: any
  text: string
}

/** An injected response as the tests read it: JSON bodies parsed, anything else as text. */
function replyOf(response: { statusCode: number; headers: Record<string, unknown>; body: string }): Reply {
  const type = (response.headers['content-type'] as string | undefined) ?? ''
  const text = response.body
  return {
    status: response.statusCode,
    headers: response.headers,
    body: type.includes('json') && text !== '' ? JSON.parse(text) : text,
    text,
  }
}

interface Call {
  query?: Record<string, string | number | boolean>
  body?: unknown
  /** A raw body, sent as is (with the JSON content type unless `headers` says otherwise). */
  payload?: string
  headers?: Record<string, string>
}

/**
 * A client for the app: `body` is sent as JSON, `query` as a query string, and `headers` (such as
 * credentials) are added to every request when given to `client` and to one request when given to a call.
 */
export function client(app: App, headers: Record<string, string> = {}) {
  const call = async (method: 'GET' | 'POST' | 'DELETE', url: string, options: Call = {}): Promise<Reply> => {
    const hasBody = options.body !== undefined || options.payload !== undefined
    const response = await app.inject({
      method,
      url,
      query: options.query && Object.fromEntries(Object.entries(options.query).map(([k, v]) => [k, String(v)])),
      headers: { ...(hasBody && { 'content-type': 'application/json' }), ...headers, ...options.headers },
      ...(hasBody && { payload: options.payload ?? JSON.stringify(options.body) }),
    })
    return replyOf(response)
  }
  return {
    get: (url: string, options?: Call) => call('GET', url, options),
    post: (url: string, body?: unknown, options?: Call) => call('POST', url, { ...options, body }),
    delete: (url: string, options?: Call) => call('DELETE', url, options),
    call,
  }
}

export type Client = ReturnType<typeof client>

export interface UploadFile {
  filename: string
  content: string | Buffer
  field?: string
  fields?: Record<string, string>
}

/** A multipart/form-data body as a browser form sends it: the text `fields` first, then the file. */
export async function formData({ filename, content, field = 'file', fields = {} }: UploadFile) {
  const form = new FormData()
  for (const [name, value] of Object.entries(fields)) form.append(name, value)
  form.append(field, new Blob([content]), filename)
  const encoded = new Response(form)
  return {
    payload: Buffer.from(await encoded.arrayBuffer()),
    contentType: encoded.headers.get('content-type')!,
  }
}

/** Posts a file to an upload endpoint; `accept` picks the answer's form (JSON unless it says HTML). */
export async function upload(
  app: App,
  url: string,
  file: UploadFile,
  options: { headers?: Record<string, string> } = {},
): Promise<Reply> {
  const { payload, contentType } = await formData(file)
  const response = await app.inject({
    method: 'POST',
    url,
    payload,
    headers: { 'content-type': contentType, ...options.headers },
  })
  return replyOf(response)
}

/** A product row straight into the table, for rules that depend on products but not on their endpoints. */
export async function insertProduct(app: App, customerid: number | null, priceCents: number) {
  const time = new Date().toISOString()
  const { id } = await app.db
    .insertInto('products')
    .values({
      name: 'Kettle',
      name_key: 'kettle',
      price_cents: priceCents,
      purchased: '2026-01-01',
      warranty: 2,
      customerid,
      created: time,
      updated: time,
    })
    .returning('id')
    .executeTakeFirstOrThrow()
  return id
}

/** A valid new customer; `overrides` change or add fields. */
/** The body of a new product for `customerid`, with `overrides`. */
export const newProduct = (customerid: number, overrides: Record<string, unknown> = {}) => ({
  name: 'Espresso machine',
  price: 249.99,
  purchased: '2024-02-29',
  customerid,
  warranty: 2,
  ...overrides,
})

export const newCustomer = (overrides: Record<string, unknown> = {}) => ({
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  address: '12 St James Square, London',
  status: 'active',
  ...overrides,
})

/**
 * The record the API answers with for a customer added as `newCustomer(overrides)` under `id` at
 * `time` (its `created` and `updated`): no phone and no consent unless `overrides` give them, no revenue.
 */
export const customerRecord = (id: number, time: string, overrides: Record<string, unknown> = {}) => ({
  id,
  phone: null,
  optphone: false,
  optemail: false,
  optchat: false,
  revenue: 0,
  ...newCustomer(overrides),
  created: time,
  updated: time,
})

/** `text` as a part of a regular expression that matches it literally. */
export const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * A pattern that matches `text` and nothing else: where tap compares with `match` (the fields of an
 * error in `t.throws` and `t.rejects`), a string would match any text that contains it.
 */
export const exactly = (text: string) => new RegExp(`^${escapeRegExp(text)}$`)

/** The media type of every problem answer, as sent. */
export const PROBLEM_JSON = 'application/problem+json; charset=utf-8'

/**
 * The whole problem+json body a failure answers `response` with, for comparing with `t.same`: the
 * status phrase as its title and the request's id (its `X-Request-Id`) as its instance.
 */
export function problemBody(
  response: { headers: Record<string, unknown> },
  status: number,
  detail: string,
  errors?: { field: string; message: string }[],
) {
  return {
    type: 'about:blank',
    title: STATUS_CODES[status],
    status,
    detail,
    instance: `urn:request:${encodeURIComponent(String(response.headers['x-request-id']))}`,
    ...(errors && { errors }),
  }
}

/**
 * A workbook file with one sheet of `rows`, as Excel would save it: cells given as SheetJS cell
 * objects (`{ t: 'n', v: 45351, z: 'yyyy-mm-dd' }` for a date) are written as they are.
 */
export function workbook(rows: unknown[][], bookType: 'xlsx' | 'biff8' = 'xlsx'): Buffer {
  const sheet = XLSX.utils.aoa_to_sheet(rows)
  const book = XLSX.utils.book_new()
  XLSX.utils.book_append_sheet(book, sheet, 'Sheet1')
  return XLSX.write(book, { type: 'buffer', bookType, compression: true }) as Buffer
}

/** An Excel date cell for a `YYYY-MM-DD` day (Excel counts days from 1899-12-30). */
export function excelDate(day: string) {
  const serial = (Date.parse(`${day}T00:00:00Z`) - Date.UTC(1899, 11, 30)) / 86_400_000
  return { t: 'n', v: serial, z: 'yyyy-mm-dd' }
}

/**
 * Checks that `report` is the whole upload report `expected` describes: mode insert, and nothing
 * read, stored or skipped unless `expected` says so; its `created` is any UTC time to the millisecond.
 */
export function sameReport(
  t: Test,
  report: UploadReport,
  expected: Pick<UploadReport, 'id' | 'kind' | 'filename'> & Partial<UploadReport>,
  message = 'the whole report',
) {
  t.match(report.created, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, 'created at a time of its own')
  t.strictSame(
    report,
    { mode: 'insert', rows: 0, inserted: 0, updated: 0, skipped: 0, errors: [], ...expected, created: report.created },
    message,
  )
}

/** The title and the `<main>` content of an HTML page, for comparing with the exact text expected. */
export const pageParts = (html: string) => ({
  title: /<title>(.*)<\/title>/.exec(html)?.[1],
  main: /<main>\n([\s\S]*)<\/main>/.exec(html)?.[1],
})
