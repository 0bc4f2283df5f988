// `npm run bench`: upload speed and memory of the built server, against bare baselines measured in the same run;
// `npm run bench pg`: the same on PostgreSQL, and request throughput on SQLite and PostgreSQL;
// `npm run bench writes`: request throughput alone, on SQLite and PostgreSQL, one instance each;
// `npm run bench feed-cost`: what the change feed costs adding and updating customers, against the build before it.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import {
  createWriteStream,
  existsSync,
  lstatSync,
  mkdtempSync,
  openAsBlob,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import { Agent, createServer, request as httpRequest } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import Papa from 'papaparse'
import pg from 'pg'
import * as XLSX from 'xlsx'
import { wideWorkbook } from '../test/wide-workbook.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'crm-bench-'))
const MB = 1024 * 1024
const results: { name: string; value: string; target: string; pass: boolean }[] = []

// ---- files ----

const customerLine = (i: number, tag: string) =>
  `Customer ${tag}${i},${tag}${i}@example.com,"${i} Main Street, Springfield",555-${String(i).padStart(7, '0')},yes,no,y,active`

async function writeCsv(name: string, rows: number, tag: string): Promise<string> {
  const path = join(work, name)
  const out = createWriteStream(path)
  for (let i = 0; i < rows; i += 10_000) {
    const lines = []
    for (let j = i; j < Math.min(i + 10_000, rows); j++) lines.push(customerLine(j, tag))
    if (!out.write(`${lines.join('\n')}\n`)) await once(out, 'drain')
  }
  out.end()
  await once(out, 'finish')
  return path
}

function writeXlsx(name: string, rows: number, tag: string): string {
  const data: unknown[][] = [['Name', 'Email', 'Address', 'Phone', 'OptEmail', 'OptPhone', 'OptChat', 'Status']]
  for (let i = 0; i < rows; i++) {
    data.push([
      `Customer ${tag}${i}`,
      `${tag}${i}@example.com`,
      `${i} Main Street, Springfield`,
      `555-${i}`,
      true,
      false,
      'y',
      'active',
    ])
  }
  const book = XLSX.utils.book_new()
  XLSX.utils.book_append_sheet(book, XLSX.utils.aoa_to_sheet(data), 'Customers')
  const path = join(work, name)
  writeFileSync(path, XLSX.write(book, { type: 'buffer', bookType: 'xlsx', compression: true }) as Buffer)
  return path
}

// ---- the server, as `npm start` runs it ----

interface Server {
  child: ChildProcess
  url: string
  peakRssMb: () => number
}

/** The admin key the benchmark's servers accept (API_KEY), sent with every request. */
const KEY = randomBytes(30).toString('base64url')
const AUTH = { authorization: `Bearer ${KEY}` }

/** A SQLite file of its own for a measure, in the benchmark's folder. */
const sqliteFile = (name: string) => join(work, `${name}.sqlite`)

/**
 * Starts the server built in `build` (the project's folder, or another build's) on `databaseUrl` (a
 * SQLite file, or a PostgreSQL URL) with `env` added to its environment, and waits until it listens;
 * a server that does not start is stopped.
 */
async function startServer(databaseUrl: string, env: Record<string, string> = {}, build = root): Promise<Server> {
  const child = spawn(process.execPath, ['dist/src/server.js'], {
    cwd: build,
    env: {
      PATH: process.env.PATH,
      PORT: '0',
      DATABASE_URL: databaseUrl,
      UPLOAD_MAX_BYTES: String(1024 * MB),
      LOG_LEVEL: 'info',
      API_KEY: KEY,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let output = ''
  child.stdout.on('data', (chunk) => {
    if (output.length < 100_000) output += chunk
  })
  for (let waited = 0; waited < 20_000; waited += 20) {
    const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
    if (match) {
      const status = `/proc/${child.pid}/status`
      const peakRssMb = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(status, 'utf8'))![1]) / 1024
      return { child, url: match[1]!, peakRssMb }
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  if (child.exitCode === null) {
    child.kill('SIGKILL')
    await once(child, 'exit')
  }
  throw new Error(`the server did not start (did you run npm run build?):\n${output}`)
}

async function stopServer(server: Server) {
  server.child.kill('SIGTERM')
  await once(server.child, 'exit')
}

async function uploadFile(server: Server, path: string, filename: string, expectedSkipped = 0) {
  const form = new FormData()
  form.append('custfile', await openAsBlob(path), filename)
  const start = performance.now()
  const response = await fetch(`${server.url}/upload/customers`, { method: 'POST', body: form, headers: AUTH })
  const report = (await response.json()) as { rows: number; inserted: number; skipped: number }
  const ms = performance.now() - start
  if (response.status !== 201 || report.skipped !== expectedSkipped) {
    throw new Error(`upload failed: ${JSON.stringify(report)}`)
  }
  return { ms, rows: report.rows }
}

// ---- bare baselines ----

/** papaparse reading the file and better-sqlite3 inserting its rows with one prepared statement: no HTTP, no checks. */
function bareCsvLoad(path: string): number {
  const start = performance.now()
  const db = new Database(join(work, 'bare.sqlite'))
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.exec(
    'drop table if exists c; create table c (id integer primary key, name text, email text unique, address text, phone text, a int, b int, c int, status text)',
  )
  const insert = db.prepare(
    'insert into c (name, email, address, phone, a, b, c, status) values (?, ?, ?, ?, ?, ?, ?, ?)',
  )
  const { data } = Papa.parse<string[]>(readFileSync(path, 'utf8'), { delimiter: ',', skipEmptyLines: true })
  db.transaction(() => {
    for (const row of data) insert.run(row[0], row[1], row[2], row[3], 1, 0, 1, row[7])
  })()
  db.close()
  return performance.now() - start
}

/**
 * SheetJS alone reading the workbook's rows, as its documentation shows (`XLSX.read`, then
 * `sheet_to_json` of the first sheet), and, for comparison, parsing it with the options the
 * server uses (dense, first sheet only, no cell text), which is faster.
 */
function bareXlsxRead(path: string): { plain: number; tuned: number } {
  const buffer = readFileSync(path)
  let start = performance.now()
  const book = XLSX.read(buffer)
  XLSX.utils.sheet_to_json(book.Sheets[book.SheetNames[0]!]!, { header: 1 })
  const plain = performance.now() - start
  start = performance.now()
  XLSX.read(buffer, {
    type: 'buffer',
    dense: true,
    sheets: 0,
    cellText: false,
    cellHTML: false,
    cellNF: false,
    cellStyles: false,
  })
  return { plain, tuned: performance.now() - start }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

// ---- the measurements ----

async function csvThroughput() {
  const warm = await writeCsv('warm.csv', 20_000, 'w')
  const files = await Promise.all([1, 2, 3].map((n) => writeCsv(`c100k-${n}.csv`, 100_000, `r${n}-`)))
  const server = await startServer(sqliteFile('csv'))
  try {
    await uploadFile(server, warm, 'warm.csv')
    const times = []
    for (const file of files) times.push((await uploadFile(server, file, 'c100k.csv')).ms)
    const ms = median(times)
    const bare = median(files.map(bareCsvLoad))
    const rate = 100_000 / (ms / 1000)
    results.push({
      name: '100,000-row customer CSV, HTTP upload to committed rows',
      value: `${ms.toFixed(0)} ms = ${Math.round(rate).toLocaleString('en')} rows/s (bare papaparse + SQLite: ${bare.toFixed(0)} ms, ×${(ms / bare).toFixed(2)})`,
      target: '≥ 100,000 rows/s',
      pass: rate >= 100_000,
    })
  } finally {
    await stopServer(server)
  }
}

async function csvMemory() {
  const file = await writeCsv('c1m.csv', 1_000_000, 'm')
  const server = await startServer(sqliteFile('memory'))
  try {
    const idle = server.peakRssMb()
    const { ms } = await uploadFile(server, file, 'c1m.csv')
    const peak = server.peakRssMb()
    results.push({
      name: '1,000,000-row customer CSV: peak resident memory of the server',
      value: `${peak.toFixed(0)} MB (idle ${idle.toFixed(0)} MB; loaded in ${(ms / 1000).toFixed(1)} s)`,
      target: '< 300 MB',
      pass: peak < 300,
    })
  } finally {
    await stopServer(server)
  }
}

async function xlsxRatio() {
  const warm = writeXlsx('warm.xlsx', 10_000, 'w')
  const files = [1, 2, 3].map((n) => writeXlsx(`c100k-${n}.xlsx`, 100_000, `x${n}-`))
  const server = await startServer(sqliteFile('xlsx'))
  try {
    await uploadFile(server, warm, 'warm.xlsx')
    const times = []
    for (const file of files) times.push((await uploadFile(server, file, 'c100k.xlsx')).ms)
    const ms = median(times)
    const bare = files.map(bareXlsxRead)
    const plain = median(bare.map((b) => b.plain))
    const tuned = median(bare.map((b) => b.tuned))
    results.push({
      name: '100,000-row customer XLSX, HTTP upload to committed rows, against SheetJS reading its rows',
      value:
        `${ms.toFixed(0)} ms vs ${plain.toFixed(0)} ms = ×${(ms / plain).toFixed(2)} ` +
        `(against SheetJS parsing with the server's options, ${tuned.toFixed(0)} ms: ×${(ms / tuned).toFixed(2)})`,
      target: '≤ ×1.3',
      pass: ms / plain <= 1.3,
    })
  } finally {
    await stopServer(server)
  }
}

/**
 * A workbook of 20,000 rows with a cell in column XFD (16,384 columns wide) and, sent 20 ms after
 * it, a 2-row workbook: both answered within a second, the small one not held up behind the wide one.
 */
async function wideXlsx() {
  const wide = join(work, 'wide.xlsx')
  writeFileSync(wide, wideWorkbook(['Ada', 'ada@example.com', 'London'], 20_000))
  const small = writeXlsx('small.xlsx', 2, 's')
  const server = await startServer(sqliteFile('wide'))
  try {
    await uploadFile(server, small, 'warm.xlsx')
    const start = performance.now()
    const read = XLSX.read(readFileSync(wide), { type: 'buffer', dense: true, sheets: 0 })
    const bare = performance.now() - start
    if (!read.SheetNames.length) throw new Error('the wide workbook could not be read')
    const both = await Promise.all([
      uploadFile(server, wide, 'wide.xlsx'),
      new Promise((resolve) => setTimeout(resolve, 20)).then(() => uploadFile(server, small, 'small.xlsx', 2)),
    ])
    const [wideMs, smallMs] = both.map(({ ms }) => ms) as [number, number]
    results.push({
      name: '20,000-row workbook to column XFD, and a 2-row workbook sent beside it',
      value: `${wideMs.toFixed(0)} ms and ${smallMs.toFixed(0)} ms (SheetJS reading the wide one: ${bare.toFixed(0)} ms)`,
      target: 'each < 1000 ms',
      pass: wideMs < 1000 && smallMs < 1000,
    })
  } finally {
    await stopServer(server)
  }
}

/** Customers straight into a database file, in batches, as a table to export. */
async function seedCustomers(file: string, count: number) {
  const db = new Database(file)
  const { connect } = await import('../src/db/connect.js')
  const { migrateToLatest } = await import('../src/db/migrate.js')
  const kysely = connect(file)
  await migrateToLatest(kysely)
  await kysely.destroy()
  const time = new Date().toISOString()
  const insert = db.prepare(
    'insert into customers (name, name_key, email, email_key, address, phone, optphone, optemail, optchat, status, created, updated) values (?, ?, ?, ?, ?, ?, 1, 0, 1, ?, ?, ?)',
  )
  db.transaction(() => {
    for (let i = 0; i < count; i++) {
      insert.run(
        `Customer ${i}`,
        `customer ${i}`,
        `c${i}@example.com`,
        `c${i}@example.com`,
        `${i} Main Street, Springfield`,
        '555-0100',
        'active',
        time,
        time,
      )
    }
  })()
  db.close()
}

async function download(server: Server) {
  const start = performance.now()
  const response = await fetch(`${server.url}/api/customer/export?name=Bench&surname=Mark&email=bench@example.com`, {
    headers: AUTH,
  })
  let bytes = 0
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.length
  if (response.status !== 200) throw new Error(`export failed: ${response.status}`)
  return { ms: performance.now() - start, bytes }
}

async function exportSpeed() {
  await seedCustomers(sqliteFile('export'), 100_000)
  const server = await startServer(sqliteFile('export'))
  try {
    await download(server)
    const times = []
    for (let i = 0; i < 3; i++) times.push((await download(server)).ms)
    const ms = median(times)
    // Bare baseline: better-sqlite3 reading the same rows, no HTTP, no file.
    const db = new Database(sqliteFile('export'), { readonly: true })
    const start = performance.now()
    let rows = 0
    for (const _ of db.prepare('select * from customers order by id').iterate()) rows++
    const bare = performance.now() - start
    db.close()
    results.push({
      name: '100,000 customers exported as XLSX, request to last byte',
      value: `${ms.toFixed(0)} ms (bare read of the ${rows.toLocaleString('en')} rows: ${bare.toFixed(0)} ms)`,
      target: '≤ 1500 ms',
      pass: ms <= 1500,
    })
  } finally {
    await stopServer(server)
  }
}

async function exportMemory() {
  await seedCustomers(sqliteFile('export-1m'), 1_000_000)
  const server = await startServer(sqliteFile('export-1m'))
  try {
    const idle = server.peakRssMb()
    const { ms, bytes } = await download(server)
    const peak = server.peakRssMb()
    results.push({
      name: '1,000,000 customers exported as XLSX: peak resident memory of the server',
      value: `${peak.toFixed(0)} MB (idle ${idle.toFixed(0)} MB; ${(bytes / MB).toFixed(0)} MB in ${(ms / 1000).toFixed(1)} s)`,
      target: '< 250 MB',
      pass: peak < 250,
    })
  } finally {
    await stopServer(server)
  }
}

// ---- PostgreSQL ----

/** The PostgreSQL database the measures make their schemas in (on this machine only). */
const POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test'

/** Runs `task` on a connection of its own to `url`. */
async function onPostgres<T>(url: string, task: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await task(client)
  } finally {
    await client.end()
  }
}

/**
 * Runs `task` with the URL of a new, empty schema of POSTGRES_URL (its connections see only it),
 * named `crm_bench_` with this process and `name`, and drops the schema afterwards, whatever happens.
 */
async function withSchema<T>(name: string, task: (url: string) => Promise<T>): Promise<T> {
  const schema = `crm_bench_${process.pid}_${name}`
  await onPostgres(POSTGRES_URL, (client) => client.query(`create schema ${schema}`))
  try {
    const url = new URL(POSTGRES_URL)
    url.searchParams.set('options', `-c search_path=${schema}`)
    return await task(url.toString())
  } finally {
    await onPostgres(POSTGRES_URL, (client) => client.query(`drop schema ${schema} cascade`))
  }
}

/**
 * Runs `task` with `count` servers of the build in `build` on `databaseUrl`, started one after
 * another, and stops every one started.
 */
async function withServers<T>(
  count: number,
  databaseUrl: string,
  env: Record<string, string>,
  task: (servers: Server[]) => Promise<T>,
  build = root,
): Promise<T> {
  const servers: Server[] = []
  try {
    for (let i = 0; i < count; i++) servers.push(await startServer(databaseUrl, env, build))
    return await task(servers)
  } finally {
    for (const server of servers) await stopServer(server)
  }
}

/** Runs `task` with one server on `databaseUrl`, and stops it afterwards. */
const withServer = <T>(databaseUrl: string, task: (server: Server) => Promise<T>) =>
  withServers(1, databaseUrl, {}, ([server]) => task(server!))

/** `count` customers in the schema at `url` (whose tables the server has made), generated by PostgreSQL in one statement. */
async function seedPostgresCustomers(url: string, count: number) {
  await onPostgres(url, async (client) => {
    await client.query(
      `insert into customers (name, name_key, email, email_key, address, phone, optphone, optemail, optchat, status, created, updated)
       select 'Customer ' || i, 'customer ' || i, 'c' || i || '@example.com', 'c' || i || '@example.com',
              i || ' Main Street, Springfield', '555-0100', 1, 0, 1, 'active', $1, $1
       from generate_series(0, $2::integer - 1) as i`,
      [new Date().toISOString(), count],
    )
    await client.query('analyze customers')
  })
}

/** The rows of one multi-row INSERT of the bare PostgreSQL load. */
const BARE_BATCH_ROWS = 1000

/**
 * papaparse reading the file and `pg` inserting its rows into a bare table of the schema at `url`,
 * in multi-row INSERTs of BARE_BATCH_ROWS, in one transaction: no HTTP, no checks.
 */
async function barePostgresCsvLoad(url: string, path: string): Promise<number> {
  const start = performance.now()
  await onPostgres(url, async (client) => {
    await client.query(
      'drop table if exists c; create table c (id bigint generated by default as identity primary key, name text, email text unique, address text, phone text, a int, b int, c int, status text)',
    )
    const { data } = Papa.parse<string[]>(readFileSync(path, 'utf8'), { delimiter: ',', skipEmptyLines: true })
    await client.query('begin')
    for (let i = 0; i < data.length; i += BARE_BATCH_ROWS) {
      const batch = data.slice(i, i + BARE_BATCH_ROWS)
      const values = batch.map((_, row) => `(${[1, 2, 3, 4, 5, 6, 7, 8].map((n) => `$${row * 8 + n}`).join(', ')})`)
      await client.query(
        `insert into c (name, email, address, phone, a, b, c, status) values ${values.join(', ')}`,
        batch.flatMap((row) => [row[0], row[1], row[2], row[3], 1, 0, 1, row[7]]),
      )
    }
    await client.query('commit')
  })
  return performance.now() - start
}

/** The 100,000-row CSV upload on PostgreSQL (median of 3), against papaparse and `pg` loading the same files. */
async function postgresCsvThroughput() {
  const warm = await writeCsv('pg-warm.csv', 20_000, 'pw')
  const files = await Promise.all([1, 2, 3].map((n) => writeCsv(`pg-c100k-${n}.csv`, 100_000, `p${n}-`)))
  await withSchema('csv', (url) =>
    withServer(url, async (server) => {
      await uploadFile(server, warm, 'warm.csv')
      const times = []
      for (const file of files) times.push((await uploadFile(server, file, 'c100k.csv')).ms)
      const ms = median(times)
      const bare = []
      for (const file of files) bare.push(await barePostgresCsvLoad(url, file))
      const bareMs = median(bare)
      const rate = 100_000 / (ms / 1000)
      results.push({
        name: 'PostgreSQL: 100,000-row customer CSV, HTTP upload to committed rows',
        value: `${ms.toFixed(0)} ms = ${Math.round(rate).toLocaleString('en')} rows/s (bare papaparse + pg: ${bareMs.toFixed(0)} ms, ×${(ms / bareMs).toFixed(2)})`,
        target: '≤ ×2 the bare load',
        pass: ms / bareMs <= 2,
      })
    }),
  )
}

/** The XLSX export of 100,000 customers on PostgreSQL (median of 3), against `pg` reading the same rows. */
async function postgresExportSpeed() {
  await withSchema('export', (url) =>
    withServer(url, async (server) => {
      await seedPostgresCustomers(url, 100_000)
      await download(server)
      const times = []
      for (let i = 0; i < 3; i++) times.push((await download(server)).ms)
      const ms = median(times)
      // Bare baseline: pg reading the same rows, no HTTP, no file.
      const start = performance.now()
      const { rowCount } = await onPostgres(url, (client) => client.query('select * from customers order by id'))
      const bare = performance.now() - start
      results.push({
        name: 'PostgreSQL: 100,000 customers exported as XLSX, request to last byte',
        value: `${ms.toFixed(0)} ms (bare read of the ${(rowCount ?? 0).toLocaleString('en')} rows: ${bare.toFixed(0)} ms)`,
        target: '≤ ×5 the bare read',
        pass: ms / bare <= 5,
      })
    }),
  )
}

/** The server's peak resident memory while it exports 1,000,000 customers from PostgreSQL as XLSX. */
async function postgresExportMemory() {
  await withSchema('export_1m', (url) =>
    withServer(url, async (server) => {
      await seedPostgresCustomers(url, 1_000_000)
      const idle = server.peakRssMb()
      const { ms, bytes } = await download(server)
      const peak = server.peakRssMb()
      results.push({
        name: 'PostgreSQL: 1,000,000 customers exported as XLSX: peak resident memory of the server',
        value: `${peak.toFixed(0)} MB (idle ${idle.toFixed(0)} MB; ${(bytes / MB).toFixed(0)} MB in ${(ms / 1000).toFixed(1)} s)`,
        target: '< 250 MB',
        pass: peak < 250,
      })
    }),
  )
}

// ---- request throughput ----

/** The part of autocannon's options and results the load runs use (autocannon ships no types). */
interface LoadRequest {
  method: 'GET' | 'POST'
  path: string
  headers: Record<string, string>
  body?: string
  setupRequest?: (request: LoadRequest) => LoadRequest
}
interface LoadResult {
  requests: { average: number }
  latency: { p50: number; p99: number }
  non2xx: number
  errors: number
}
const autocannon = createRequire(import.meta.url)('autocannon') as (options: {
  url: string
  connections: number
  duration: number
  requests: LoadRequest[]
}) => Promise<LoadResult>

/** Each load run's concurrent connections and length, and the length of the warm-up run before them. */
const LOAD_CONNECTIONS = 50
const LOAD_SECONDS = 10
const WARM_UP_SECONDS = 2

/** What the servers of the load runs add to their environment: a rate limit the runs never reach. */
const LOAD_ENV = { RATE_LIMIT_PER_MINUTE: String(1_000_000_000) }

/** The requests the load runs send, in the order they are run. */
type Route = 'get' | 'add' | 'update'
const ROUTE_NAMES: Record<Route, string> = {
  get: 'GET /api/get/customer?id=…',
  add: 'POST /api/add/customer',
  update: 'POST /api/update/customer',
}
const ROUTES = Object.keys(ROUTE_NAMES) as Route[]

/** The customers added before the load runs: the reads are of the first, the updates go round them all. */
const LOAD_CUSTOMERS = 100

/** Customers the load runs have added: each new one gets the next number, for a unique e-mail address. */
let customersAdded = 0

/** A new customer's JSON body, with an e-mail address no other request of the run uses. */
function newCustomerBody(): string {
  const n = ++customersAdded
  return JSON.stringify({
    name: `Load ${n}`,
    email: `load${n}@example.com`,
    address: `${n} Main Street, Springfield`,
    status: 'active',
  })
}

/** Customer updates the load runs have sent: each new one gets the next number, for a new address. */
let customersUpdated = 0

/** An update's JSON body: a new address for the next of `ids`, in turn. */
function updateCustomerBody(ids: number[]): string {
  const n = ++customersUpdated
  return JSON.stringify({ id: ids[n % ids.length], address: `${n} Other Street` })
}

/**
 * The request autocannon sends over and over on `route`: reading the first of `ids`, adding a new
 * customer each time, or changing the address of each of `ids` in turn.
 */
function loadRequest(route: Route, ids: number[]): LoadRequest {
  if (route === 'get') return { method: 'GET', path: `/api/get/customer?id=${ids[0]}`, headers: AUTH }
  const body = route === 'add' ? newCustomerBody : () => updateCustomerBody(ids)
  return {
    method: 'POST',
    path: `/api/${route}/customer`,
    headers: { ...AUTH, 'content-type': 'application/json' },
    setupRequest: (request) => ({ ...request, body: body() }),
  }
}

/** Adds one customer at `url` and gives its id. */
async function addCustomer(url: string): Promise<number> {
  const response = await fetch(`${url}/api/add/customer`, {
    method: 'POST',
    headers: { ...AUTH, 'content-type': 'application/json' },
    body: newCustomerBody(),
  })
  if (response.status !== 201) throw new Error(`adding a customer failed: ${response.status}`)
  return ((await response.json()) as { id: number }).id
}

/**
 * A round-robin HTTP proxy on 127.0.0.1: each request goes to the next of `targets` in turn, over
 * keep-alive connections, and its answer comes back as it was given (502 if the target fails).
 */
async function startProxy(targets: string[]): Promise<{ url: string; close: () => Promise<void> }> {
  const agent = new Agent({ keepAlive: true })
  let turn = 0
  const proxy = createServer((request, response) => {
    const target = new URL(request.url!, targets[turn++ % targets.length])
    const forwarded = httpRequest(target, { method: request.method, headers: request.headers, agent }, (answer) => {
      response.writeHead(answer.statusCode!, answer.headers)
      answer.pipe(response)
    })
    forwarded.on('error', () => {
      if (!response.headersSent) response.writeHead(502)
      response.end()
    })
    request.pipe(forwarded)
  })
  proxy.listen(0, '127.0.0.1')
  await once(proxy, 'listening')
  const close = async () => {
    proxy.closeAllConnections()
    proxy.close()
    agent.destroy()
    await once(proxy, 'close')
  }
  return { url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, close }
}

/** autocannon sending `route`'s request on customers `ids` to `url` over LOAD_CONNECTIONS connections for `seconds`. */
const runLoad = (url: string, route: Route, ids: number[], seconds: number) =>
  autocannon({ url, connections: LOAD_CONNECTIONS, duration: seconds, requests: [loadRequest(route, ids)] })

/**
 * The load runs of `routes` against `servers`, in turn: the one directly, or two through a round-robin
 * proxy, after a warm-up run of reads; the customers read and updated are LOAD_CUSTOMERS added first.
 */
async function loadRuns<R extends Route>(servers: Server[], routes: readonly R[]): Promise<Record<R, LoadResult>> {
  const proxy = servers.length > 1 ? await startProxy(servers.map((server) => server.url)) : undefined
  try {
    const url = proxy?.url ?? servers[0]!.url
    const ids = []
    for (let i = 0; i < LOAD_CUSTOMERS; i++) ids.push(await addCustomer(url))
    await runLoad(url, 'get', ids, WARM_UP_SECONDS)
    const runs = {} as Record<R, LoadResult>
    for (const route of routes) runs[route] = await runLoad(url, route, ids, LOAD_SECONDS)
    return runs
  } finally {
    await proxy?.close()
  }
}

/** One load run's line: requests/s, latencies, refusals, and the ratio to SQLite's run when given. */
function loadResult(name: string, load: LoadResult, sqlite?: LoadResult) {
  const ratio = sqlite ? ` (×${(load.requests.average / sqlite.requests.average).toFixed(2)} of SQLite's)` : ''
  const errors = load.errors > 0 ? `, ${load.errors} connection errors` : ''
  results.push({
    name,
    value:
      `${Math.round(load.requests.average).toLocaleString('en')} req/s, p50 ${load.latency.p50} ms, ` +
      `p99 ${load.latency.p99} ms, ${load.non2xx} non-2xx${errors}${ratio}`,
    target: 'no errors: non-2xx = 0',
    pass: load.non2xx === 0 && load.errors === 0,
  })
}

/**
 * Requests per second on each route with LOAD_CONNECTIONS connections: SQLite, one instance;
 * PostgreSQL, one instance; and, with `proxied`, PostgreSQL, two instances sharing their rate limit
 * in Redis, behind a round-robin proxy.
 */
async function requestThroughput(proxied: boolean) {
  const everyRoute = (servers: Server[]) => loadRuns(servers, ROUTES)
  const sqlite = await withServers(1, sqliteFile('load'), LOAD_ENV, everyRoute)
  const postgres = await withSchema('load', (url) => withServers(1, url, LOAD_ENV, everyRoute))
  const redis = { ...LOAD_ENV, REDIS_URL: 'redis://127.0.0.1:6379' }
  const two = proxied ? await withSchema('load_proxied', (url) => withServers(2, url, redis, everyRoute)) : undefined
  const title = `, ${LOAD_CONNECTIONS} connections × ${LOAD_SECONDS} s`
  for (const route of ROUTES) {
    const name = `${ROUTE_NAMES[route]}${title}`
    loadResult(`${name}: SQLite, one instance`, sqlite[route])
    loadResult(`${name}: PostgreSQL, one instance`, postgres[route], sqlite[route])
    if (two) loadResult(`${name}: PostgreSQL, 2 instances, proxy, Redis`, two[route], sqlite[route])
  }
}

/** Every PostgreSQL measure, and the request throughput on SQLite and PostgreSQL (`npm run bench pg`). */
async function postgresMeasures() {
  await postgresCsvThroughput()
  await postgresExportSpeed()
  await postgresExportMemory()
  await requestThroughput(true)
}

// ---- the change feed's cost ----

/**
 * The last commit before the change feed and idempotency keys (ab5a626): the build whose writes the
 * feed's cost is measured against. BENCH_BASELINE_REF names another commit, tag or branch.
 */
const FEED_BASELINE = '1bfd69f'

/** The routes the feed adds to: each change writes one more row, an event, in its transaction. */
const FEED_ROUTES = ['add', 'update'] as const satisfies Route[]

/** The rounds of the feed's cost: each runs the build before the feed, then the current one. */
const FEED_ROUNDS = 2

/** Runs `command` with `args` in `cwd` and gives what it printed; a failure throws with its output. */
function run(command: string, args: string[], cwd: string): string {
  const { status, stdout, stderr, error } = spawnSync(command, args, { cwd, encoding: 'utf8' })
  if (error) throw error
  if (status !== 0) throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${stdout}${stderr}`)
  return stdout.trim()
}

/** Whether `path` is a symbolic link (not what it points to). */
const isLink = (path: string) => lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() ?? false

/**
 * Runs `task` with the folder of a build of `ref`: a git worktree of it in the system's temporary
 * folder (reused if it is there), with a link to the project's node_modules, built by `npm run build`;
 * the link and the worktree are removed afterwards, whatever happens.
 */
async function withBuildOf<T>(ref: string, task: (build: string) => Promise<T>): Promise<T> {
  const commit = run('git', ['rev-parse', '--verify', '--short', `${ref}^{commit}`], root)
  const folder = join(tmpdir(), `crm-bench-build-${commit}`)
  const modules = join(folder, 'node_modules')
  if (!existsSync(folder)) run('git', ['worktree', 'add', '--force', '--detach', folder, commit], root)
  try {
    if (!isLink(modules)) symlinkSync(join(root, 'node_modules'), modules, 'dir')
    run('npm', ['run', 'build'], folder)
    return await task(folder)
  } finally {
    if (isLink(modules)) unlinkSync(modules)
    run('git', ['worktree', 'remove', '--force', folder], root)
  }
}

/** The databases the feed's cost is measured on, one instance each. */
type Engine = 'SQLite' | 'PostgreSQL'

/** Runs `task` with the URL of a new, empty database named `name`: a SQLite file, or a PostgreSQL schema. */
const withDatabase = <T>(engine: Engine, name: string, task: (url: string) => Promise<T>) =>
  engine === 'SQLite' ? task(sqliteFile(name)) : withSchema(name, task)

type WriteRuns = Record<(typeof FEED_ROUTES)[number], LoadResult>

/**
 * FEED_ROUNDS of the write routes' load runs on `engine`, alternating the build in `before` and the
 * current one, each on a fresh database: the runs of each build, in order.
 */
async function alternatingWriteRuns(engine: Engine, before: string) {
  const runs: Record<'before' | 'on', WriteRuns[]> = { before: [], on: [] }
  for (let round = 1; round <= FEED_ROUNDS; round++) {
    for (const [build, folder] of [
      ['before', before],
      ['on', root],
    ] as const) {
      const writes = (servers: Server[]) => loadRuns(servers, FEED_ROUTES)
      const database = (url: string) => withServers(1, url, LOAD_ENV, writes, folder)
      runs[build].push(await withDatabase(engine, `feed_${build}_${round}`, database))
    }
  }
  return runs
}

const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length

/** Load runs in short: their mean requests/s, each round's, and their mean p50 and p99. */
function describeLoads(loads: LoadResult[]) {
  const rates = loads.map((load) => load.requests.average)
  const ms = (pick: (load: LoadResult) => number) => `${Number(mean(loads.map(pick)).toFixed(1))} ms`
  const failed = loads.reduce((sum, load) => sum + load.non2xx + load.errors, 0)
  const text =
    `${Math.round(mean(rates)).toLocaleString('en')} req/s ` +
    `(rounds ${rates.map((rate) => Math.round(rate).toLocaleString('en')).join(' / ')}; ` +
    `p50 ${ms((load) => load.latency.p50)}, p99 ${ms((load) => load.latency.p99)}` +
    `${failed > 0 ? `; ${failed} non-2xx or errors` : ''})`
  return { rate: mean(rates), text, failed }
}

/**
 * The cost of the change feed on adding and updating customers, on SQLite and PostgreSQL, one
 * instance each: the current build against the one of BENCH_BASELINE_REF or FEED_BASELINE, their
 * load runs alternating in this one run; the ratio is reported, not gated.
 */
async function feedCost() {
  const ref = process.env.BENCH_BASELINE_REF ?? FEED_BASELINE
  await withBuildOf(ref, async (before) => {
    for (const engine of ['SQLite', 'PostgreSQL'] as const) {
      const runs = await alternatingWriteRuns(engine, before)
      for (const route of FEED_ROUTES) {
        const on = describeLoads(runs.on.map((writes) => writes[route]))
        const off = describeLoads(runs.before.map((writes) => writes[route]))
        results.push({
          name:
            `${ROUTE_NAMES[route]}, ${engine}, ${LOAD_CONNECTIONS} connections × ${LOAD_SECONDS} s, ` +
            `mean of ${FEED_ROUNDS} alternating rounds: the change feed's cost`,
          value: `feed on ${on.text} vs before (${ref}) ${off.text}: ×${(on.rate / off.rate).toFixed(2)}`,
          target: 'no errors on either: non-2xx = 0; the ratio is reported',
          pass: on.failed === 0 && off.failed === 0,
        })
      }
    }
  })
}

try {
  const only = process.argv[2]
  if (!only || only === 'csv') await csvThroughput()
  if (!only || only === 'xlsx') await xlsxRatio()
  if (!only || only === 'wide') await wideXlsx()
  if (!only || only === 'memory') await csvMemory()
  if (!only || only === 'export') await exportSpeed()
  if (!only || only === 'export-memory') await exportMemory()
  if (!only || only === 'pg') await postgresMeasures()
  if (only === 'writes') await requestThroughput(false)
  if (!only || only === 'feed-cost') await feedCost()
} finally {
  rmSync(work, { recursive: true, force: true })
}

const width = Math.max(...results.map((r) => r.name.length))
for (const r of results) {
  console.log(`${r.pass ? 'PASS' : 'FAIL'}  ${r.name.padEnd(width)}  ${r.value}  (target ${r.target})`)
}
process.exitCode = results.every((r) => r.pass) ? 0 : 1
