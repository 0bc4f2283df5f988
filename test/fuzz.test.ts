// Fuzzing: property-based tests (fast-check) of every operation in openapi.json, with requests built from
// the documented schemas and then broken (test/arbitraries.ts). Every answer is below 500, every 4xx is
// problem+json (or, for a browser's upload, an HTML page), every answer is as documented (test/helper.ts
// checks each one), and afterwards the database passes its integrity and foreign key checks.
//
// Environment: FUZZ_RUNS (default 200) cases per operation; FUZZ_SEED the seed each operation's own seed
// comes from (printed: a failure reproduces by running the file again with the same FUZZ_SEED, since
// later operations work on the data earlier ones made); FUZZ_ONLY=addCustomer,getCustomer a subset;
// FUZZ_TIME_LIMIT_MS how long one operation may take before it fails as too slow; FUZZ_VERBOSE=1
// prints every case with its status.
import { STATUS_CODES } from 'node:http'
import fc from 'fast-check'
import { sql } from 'kysely'
import t, { type Test } from 'tap'
import document from '../openapi.json' with { type: 'json' }
import { type Case, casesOf, type Operation, resolve, type Schema } from './arbitraries.js'
import { build, type TestApp } from './helper.js'
import { isPostgres } from '../src/db/connect.js'

const RUNS = Number(process.env.FUZZ_RUNS ?? 200)
const SEED = Number(process.env.FUZZ_SEED ?? 20261129)
const TIME_LIMIT_MS = Number(process.env.FUZZ_TIME_LIMIT_MS ?? Math.max(20_000, RUNS * 100))
const ONLY = process.env.FUZZ_ONLY?.split(',').filter(Boolean)
const VERBOSE = Boolean(process.env.FUZZ_VERBOSE)
/**
 * One request that takes longer than this is a hang. Some take seconds by design: a cut-short
 * upload is refused 2 s after its body ends, and the first workbook starts the sheet worker.
 */
const REQUEST_TIMEOUT_MS = 30_000

interface Parameter {
  name: string
  in: string
  required?: boolean
  schema: Schema
  example?: unknown
}
interface DocumentOperation {
  operationId: string
  parameters?: Parameter[]
  requestBody?: { content: Record<string, { schema: Schema }> }
  responses: Record<string, { content?: Record<string, unknown> }>
}
const paths = document.paths as unknown as Record<string, Record<string, DocumentOperation>>

/** The columns of each upload's rows, in file order, and the JSON operation whose body schema they follow. */
const UPLOAD_COLUMNS: Record<string, { like: string; columns: string[] }> = {
  uploadCustomers: {
    like: 'addCustomer',
    columns: ['name', 'email', 'address', 'phone', 'optemail', 'optphone', 'optchat', 'status'],
  },
  uploadProducts: { like: 'addProduct', columns: ['name', 'price', 'purchased', 'warranty', 'customerid'] },
}

/**
 * The order operations are fuzzed in, so that later ones find data: customers first, then uploads
 * and the records that need a customer, then reads and changes (3, the rest), and deletions last.
 */
const PHASES: [RegExp, number][] = [
  [/^addCustomer$/, 0],
  [/^upload/, 1],
  [/^(add|open)/, 2],
  [/^deleteProduct/, 4],
  [/^delete/, 5],
]
const phaseOf = (id: string) => PHASES.find(([pattern]) => pattern.test(id))?.[1] ?? 3

/** The query parameters of an operation as one object schema (parameter examples kept as examples). */
function querySchemaOf(parameters: Parameter[] = []): Schema {
  const query = parameters.filter((parameter) => parameter.in === 'query')
  const withExample = ({ schema, example }: Parameter): Schema =>
    example === undefined ? schema : { ...schema, examples: [example, ...(schema.examples ?? [])] }
  return {
    type: 'object',
    properties: Object.fromEntries(query.map((parameter) => [parameter.name, withExample(parameter)])),
    required: query.filter((parameter) => parameter.required).map((parameter) => parameter.name),
  }
}

/** The JSON body schema of a documented operation, found by its operationId. */
function bodySchemaOf(operationId: string): Schema | undefined {
  const operations = Object.values(paths).flatMap((methods) => Object.values(methods))
  return operations.find((operation) => operation.operationId === operationId)?.requestBody?.content['application/json']
    ?.schema
}

/** An upload's row columns as schemas, from the JSON operation whose rules its rows follow. */
function columnsOf(operationId: string): Schema[] {
  const spec = UPLOAD_COLUMNS[operationId]
  const body = spec && bodySchemaOf(spec.like)
  if (!spec || !body) return [{ type: 'string' }]
  const properties = resolve(body, document).properties ?? {}
  return spec.columns.map((column) => properties[column] ?? { type: 'string' })
}

/** Whether any failure of an operation may be answered as an HTML page. */
const answersHtml = (operation: DocumentOperation) =>
  Object.entries(operation.responses).some(
    ([status, response]) => Number(status) >= 400 && 'text/html' in (response.content ?? {}),
  )

/** Every operation in the document, as the fuzzer drives it, in the order of PHASES. */
function operationsOf(): Operation[] {
  const operations: Operation[] = []
  for (const [path, methods] of Object.entries(paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const content = operation.requestBody?.content ?? {}
      const form = content['multipart/form-data']?.schema
      const json = content['application/json']?.schema
      operations.push({
        id: operation.operationId,
        method: method.toUpperCase() as Operation['method'],
        path,
        kind: form ? 'upload' : json ? 'json' : 'query',
        input: json ? resolve(json, document) : querySchemaOf(operation.parameters),
        ...(form && { form, columns: columnsOf(operation.operationId) }),
        html: answersHtml(operation),
        root: document,
      })
    }
  }
  return (
    operations
      // The event stream never ends a valid request: it is read as a client reads it in test/stream.test.ts.
      .filter((operation) => operation.id !== 'streamEvents')
      .map((operation, index) => ({ operation, index }))
      .sort((a, b) => phaseOf(a.operation.id) - phaseOf(b.operation.id) || a.index - b.index)
      .map(({ operation }) => operation)
  )
}

interface Answer {
  statusCode: number
  headers: Record<string, unknown>
  body: string
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char]!)

/** What is wrong with a failure's body: not problem details, or problem details of another status. */
function problemTrouble(status: number, type: string, body: string): string | undefined {
  const shown = body.slice(0, 300)
  if (!/^application\/problem\+json\s*(;|$)/.test(type)) {
    return `answered ${status} as ${type || 'no media type'}, not application/problem+json: ${shown}`
  }
  let problem: Record<string, unknown>
  try {
    problem = JSON.parse(body) as Record<string, unknown>
  } catch {
    return `answered ${status} with a problem+json body that is not JSON: ${shown}`
  }
  for (const field of ['type', 'title', 'detail']) {
    const value = problem[field]
    if (typeof value !== 'string' || value === '') {
      return `answered ${status} with problem details lacking "${field}": ${shown}`
    }
  }
  if (problem.status !== status) {
    return `answered ${status} with problem details saying status ${String(problem.status)}`
  }
  return undefined
}

/** What is wrong with an answer to a fuzzed request, or undefined when it keeps the rules. */
function troubleWith(operation: Operation, request: Case, answer: Answer): string | undefined {
  const status = answer.statusCode
  const type = (answer.headers['content-type'] as string | undefined) ?? ''
  if (status >= 500) return `answered ${status}: ${answer.body.slice(0, 500)}`
  // An upload posted by a browser (its Accept prefers HTML) is answered with a page; a junk Accept may go either way.
  const html = operation.html && (request.wantsHtml ?? type.startsWith('text/html'))
  if (status >= 400) {
    if (!html) return problemTrouble(status, type, answer.body)
    if (!type.startsWith('text/html')) {
      return `answered ${status} as ${type || 'no media type'}, not the HTML page asked for`
    }
    const title = `<h1>${escapeHtml(STATUS_CODES[status] ?? '')}</h1>`
    return answer.body.includes(title) ? undefined : `answered ${status} with a page that does not name the status`
  }
  if (operation.html && request.wantsHtml !== undefined && type.startsWith('text/html') !== request.wantsHtml) {
    return `answered ${status} as ${type}, though the Accept header asks for ${request.wantsHtml ? 'HTML' : 'JSON'}`
  }
  if (operation.kind === 'upload' && type.startsWith('application/json')) {
    const report = JSON.parse(answer.body) as { rows: number; inserted: number; updated: number; skipped: number }
    if (report.rows !== report.inserted + report.updated + report.skipped) {
      return `answered a report that does not add up: ${answer.body.slice(0, 300)}`
    }
  }
  return undefined
}

/** Injects a fuzzed request; an answer that takes longer than REQUEST_TIMEOUT_MS is a hang. */
async function send(app: TestApp, request: Case): Promise<Answer> {
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<never>((_, reject) => {
    const message = `no answer within ${REQUEST_TIMEOUT_MS} ms (a hang)`
    timer = setTimeout(() => reject(new Error(message)), REQUEST_TIMEOUT_MS)
  })
  try {
    const injected = app.inject({
      method: request.method,
      url: request.url,
      headers: request.headers,
      ...(request.payload !== undefined && { payload: request.payload }),
    })
    return await Promise.race([injected, hang])
  } finally {
    clearTimeout(timer)
  }
}

/** Each operation's own seed, from FUZZ_SEED and its name, so that operations alike are not fuzzed alike. */
const seedOf = (id: string) => [...id].reduce((hash, char) => (Math.imul(hash, 31) + char.charCodeAt(0)) | 0, SEED)

/** "200×61, 400×121, 404×18": how often each status was answered. */
const distribution = (statuses: Map<number, number>) =>
  [...statuses]
    .sort(([a], [b]) => a - b)
    .map(([status, count]) => `${status}×${count}`)
    .join(', ')

const TABLES = [
  'customers',
  'products',
  'feedback',
  'product_feedback',
  'customer_requests',
  'upload_reports',
  'export_records',
]

/** How many rows each table holds, for the comments. */
async function tableSizes(app: TestApp): Promise<string> {
  const sizes: string[] = []
  for (const table of TABLES) {
    const { rows } = await sql<{ n: number }>`select count(*) as n from ${sql.table(table)}`.execute(app.db)
    sizes.push(`${rows[0]?.n ?? 0} ${table}`)
  }
  return sizes.join(', ')
}

/** Each reference between the tables: the table and column, and the table it refers to. */
const REFERENCES = [
  ['products', 'customerid', 'customers'],
  ['feedback', 'customerid', 'customers'],
  ['product_feedback', 'customerid', 'customers'],
  ['product_feedback', 'productid', 'products'],
  ['customer_requests', 'customerid', 'customers'],
] as const

/** The database's own checks (SQLite's integrity and foreign key checks, or each reference on PostgreSQL). */
async function checkStorage(t: Test, app: TestApp, when: string) {
  if (isPostgres(app.db)) {
    for (const [table, column, parent] of REFERENCES) {
      const { rows } = await sql<{ n: number }>`select count(*) as n from ${sql.table(table)} t
        where t.${sql.ref(column)} is not null
        and not exists (select 1 from ${sql.table(parent)} p where p.id = t.${sql.ref(column)})`.execute(app.db)
      t.same(rows, [{ n: 0 }], `${when}: no ${table}.${column} refers to a missing row`)
    }
    return
  }
  const integrity = await sql<{ integrity_check: string }>`PRAGMA integrity_check`.execute(app.db)
  t.same(integrity.rows, [{ integrity_check: 'ok' }], `${when}: PRAGMA integrity_check says ok`)
  const foreignKeys = await sql`PRAGMA foreign_key_check`.execute(app.db)
  t.same(foreignKeys.rows, [], `${when}: PRAGMA foreign_key_check finds no dangling reference`)
}

/** The database's own checks, no transaction left open, and every stored upload report adding up. */
async function checkDatabase(t: Test, app: TestApp, when: string) {
  await checkStorage(t, app, when)
  const free = await app.db
    .transaction()
    .execute(async () => 'free')
    .catch((error: Error) => error.message)
  t.equal(free, 'free', `${when}: no transaction was left open (a new one can begin)`)
  const reports = await app.db
    .selectFrom('upload_reports')
    .select(['id', 'rows', 'inserted', 'updated', 'skipped'])
    .execute()
  const wrong = reports.filter((report) => report.rows !== report.inserted + report.updated + report.skipped)
  t.same(wrong, [], `${when}: every stored upload report has rows = inserted + updated + skipped`)
}

/** The last errors the server logged, to show beside a failure. */
const serverErrors = (app: TestApp) =>
  app
    .logs()
    .filter((line) => Number(line.level) >= 50)
    .slice(-3)
    .map((line) => JSON.stringify(line).slice(0, 1500))

/** Fuzzes one operation with RUNS cases, then checks the database; comments the statuses seen. */
async function fuzz(t: Test, app: TestApp, operation: Operation) {
  const statuses = new Map<number, number>()
  let cases = 0
  let slowest = { ms: 0, how: '' }
  const started = performance.now()
  const property = fc.asyncProperty(casesOf(operation), async (request) => {
    const sent = performance.now()
    const answer = await send(app, request)
    const ms = performance.now() - sent
    cases++
    statuses.set(answer.statusCode, (statuses.get(answer.statusCode) ?? 0) + 1)
    if (ms > slowest.ms) slowest = { ms, how: `${answer.statusCode} for ${request.how}` }
    if (VERBOSE) t.comment(`${answer.statusCode} ${Math.round(ms)} ms ${request.how}`)
    const trouble = troubleWith(operation, request, answer)
    if (trouble) throw new Error(`${operation.id} ${trouble}`)
  })
  const seed = seedOf(operation.id)
  const details = await fc.check(property, {
    seed,
    numRuns: RUNS,
    interruptAfterTimeLimit: TIME_LIMIT_MS,
    markInterruptAsFailure: true,
  })
  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  const shrinking = details.failed ? ' (shrinking included)' : ''
  t.comment(`${operation.id}: ${cases} cases in ${seconds} s: ${distribution(statuses)}${shrinking}; seed ${seed}`)
  t.comment(`${operation.id}: slowest ${Math.round(slowest.ms)} ms, ${slowest.how}`)
  if (details.failed) {
    const errors = serverErrors(app)
    const logged = errors.length ? `\nserver errors logged:\n${errors.join('\n')}` : ''
    t.fail(`${operation.id}: ${fc.defaultReportMessage(details) ?? 'failed'}${logged}`)
  } else {
    t.equal(details.numRuns, RUNS, `${operation.id}: all ${RUNS} cases ran within ${TIME_LIMIT_MS} ms`)
  }
  await checkDatabase(t, app, `after ${operation.id}`)
}

const operations = operationsOf().filter((operation) => !ONLY || ONLY.includes(operation.id))
t.setTimeout(Math.max(120_000, operations.length * TIME_LIMIT_MS + 30_000))
t.comment(`fuzzing ${operations.length} operations, ${RUNS} cases each, seed ${SEED} (FUZZ_RUNS, FUZZ_SEED, FUZZ_ONLY)`)

const started = performance.now()
// One app for the whole file: the data earlier operations make (customers, products, tickets) is
// what later ones find, change and delete. Only warnings and errors are logged, to go faster, and
// the rate limit is raised above the thousands of requests a minute the fuzzer sends.
// Webhook urls are taken without resolving their host names, and nothing is delivered: the fuzz sends no traffic off this machine.
const app = await build(t, {
  LOG_LEVEL: 'warn',
  RATE_LIMIT_PER_MINUTE: 1_000_000,
  WEBHOOK_ALLOW_PRIVATE: 'true',
  WEBHOOK_DELIVERY: 'false',
})

for (const operation of operations) {
  const name = `${operation.id} (${operation.method} ${operation.path}): ${RUNS} generated requests, valid and broken, all answered below 500, every 4xx as problem details`
  t.test(name, (t) => fuzz(t, app, operation))
}

t.test('after every operation was fuzzed, the database is still sound', async (t) => {
  await checkDatabase(t, app, 'at the end')
  t.comment(`tables: ${await tableSizes(app)}`)
  t.comment(`fuzzing took ${((performance.now() - started) / 1000).toFixed(1)} s`)
})
