// The export pipeline: every customer or product, in id order, streamed as a workbook or CSV; and the audit records.
import type { Socket } from 'node:net'
import { PassThrough, type Readable, type Writable } from 'node:stream'
import type { TObject, TSchema } from '@sinclair/typebox'
import type { FastifyBaseLogger } from 'fastify'
import type { Page } from '../../schemas/common.js'
import { CustomerSchema } from '../../schemas/customer.js'
import type { ExportFormat, ExportKind, ExportQuery, ExportRecord } from '../../schemas/export.js'
import { ProductSchema } from '../../schemas/product.js'
import type { Db } from '../db/connect.js'
import { csvText } from '../exports/csv.js'
import { type CellValue, type Column, type ColumnType, xlsxBytes } from '../exports/xlsx.js'
import { selectCustomers, toCustomer } from './customers.js'
import type { Caller } from './keys.js'
import { toProduct } from './products.js'
import { now } from './values.js'

/** Rows read from the database at a time: the export holds one page, and other requests run between pages. */
const PAGE_ROWS = 1000

/** Who asks for an export. */
export type Requester = Omit<ExportQuery, 'format'>

/** The request an export answers, and what tells that its client went away. */
export interface ExportClient {
  /** Recorded with the export, as the logs name the request. */
  requestId: string
  /** The key the request was admitted with, recorded with the export. */
  caller: Caller
  log: FastifyBaseLogger
  /** The response, which closes before it has finished when the client goes away. */
  response: Writable
  /** The connection, closed when the response cannot be completed. */
  socket: Socket
}

/**
 * Streams an export: rows go from the database to the returned stream page by page as the client
 * takes them, so memory does not grow with the table; a client that goes away stops the work.
 * The export is recorded and logged as it starts, and again when it ends.
 */
export async function streamExport(
  db: Db,
  kind: ExportKind,
  format: ExportFormat,
  requester: Requester,
  client: ExportClient,
): Promise<Readable> {
  const id = await startExport(db, kind, format, requester, client)
  const log = client.log.child({ export: id, kind, format })
  const { name, surname, email } = requester
  log.info({ requester: { name, surname, email } }, 'export started')
  const { columns, rows } = await exportSource(db, kind)
  const out = new PassThrough()
  const { response, socket } = client
  // The client went away before the end: stop reading and writing (writing to a closed stream fails).
  response.once('close', () => {
    if (!response.writableFinished) out.destroy()
  })
  const sent = { rows: 0 }
  const pages = counted(rows, sent)
  const file: AsyncIterable<Buffer | string> =
    format === 'xlsx' ? xlsxBytes(kind, columns, pages) : csvText(columns, pages)
  void writeAll(out, file)
    .then(
      async () => {
        // Recorded before the last byte goes: a client that has the whole file finds it recorded.
        await finishExport(db, id, sent.rows, true)
        log.info({ rows: sent.rows }, 'export sent')
        out.end()
      },
      async (error: Error) => {
        out.destroy()
        // The response cannot be completed: close its connection too, or it would wait for ever.
        socket.destroy()
        await finishExport(db, id, sent.rows, false)
        log.warn({ rows: sent.rows, reason: error.message }, 'export stopped')
      },
    )
    .catch((error: Error) => {
      out.destroy(error)
      log.error({ err: error }, 'export record could not be updated')
    })
  return out
}

/** The pages of `rows`, counted in `sent`: a page counts once the writer asks for the next, having taken it in. */
async function* counted(rows: AsyncIterable<CellValue[][]>, sent: { rows: number }): AsyncGenerator<CellValue[][]> {
  for await (const page of rows) {
    yield page
    sent.rows += page.length
  }
}

/** Writes every chunk of `file` to `out`, each when `out` has room: the file is made only as fast as it is taken. */
async function writeAll(out: Writable, file: AsyncIterable<Buffer | string>) {
  for await (const chunk of file) await writeTo(out, chunk)
}

/** Writes `chunk`, waiting while `out` is full; fails once `out` is closed (the client went away). */
async function writeTo(out: Writable, chunk: Buffer | string) {
  if (out.destroyed) throw new Error('the download was closed')
  if (out.write(chunk)) return
  await new Promise<void>((resolve, reject) => {
    const done = () => {
      out.off('drain', done).off('close', done)
      if (out.destroyed) reject(new Error('the download was closed'))
      else resolve()
    }
    out.on('drain', done).on('close', done)
  })
}

/** How a schema's property is written in a spreadsheet. */
function columnType(
  property: TSchema & { type?: string | string[]; format?: string; multipleOf?: number },
): ColumnType {
  const type = ([] as string[]).concat(property.type ?? 'string').find((each) => each !== 'null')
  if (type === 'integer' || type === 'number') return property.multipleOf === 0.01 ? 'money' : 'number'
  if (type === 'boolean') return 'boolean'
  if (property.format === 'date') return 'date'
  if (property.format === 'date-time') return 'timestamp'
  return 'text'
}

const FIXED_WIDTH: Record<ColumnType, number> = { number: 9, money: 13, boolean: 10, date: 12, timestamp: 20, text: 12 }

/**
 * The columns of an export: the record's fields in the order and spelling of the JSON API, wide
 * enough for their header and, for text, for the longest value stored (`longest`, capped at 60).
 */
function columnsOf(schema: TObject, longest: Record<string, number | null>): Column[] {
  return Object.entries(schema.properties).map(([name, property]) => {
    const type = columnType(property)
    const content = type === 'text' ? Math.min(Number(longest[name] ?? 0), 60) : FIXED_WIDTH[type]
    return { name, type, width: Math.max(content, name.length) + 2 }
  })
}

/** Pages of rows (arrays of cell values, in column order) in id order, read by key so no page is read twice. */
async function* readPages<T extends { id: number } & Record<keyof T, CellValue>>(
  readPage: (after: number) => Promise<T[]>,
  columns: Column[],
): AsyncGenerator<CellValue[][]> {
  for (let after = 0; ;) {
    const records = await readPage(after)
    if (records.length === 0) return
    after = records[records.length - 1]!.id
    yield records.map((record) => columns.map((column) => record[column.name as keyof T]))
  }
}

/** The columns of an export, and its rows, page by page. */
interface ExportSource {
  columns: Column[]
  rows: AsyncIterable<CellValue[][]>
}

function exportSource(db: Db, kind: ExportKind): Promise<ExportSource> {
  return kind === 'customers' ? customerSource(db) : productSource(db)
}

async function customerSource(db: Db): Promise<ExportSource> {
  const longest = await db
    .selectFrom('customers')
    .select((eb) =>
      ['name', 'email', 'address', 'phone', 'status'].map((c) =>
        eb.fn.max(eb.fn<number>('length', [eb.ref(c as 'name')])).as(c),
      ),
    )
    .executeTakeFirstOrThrow()
  const columns = columnsOf(CustomerSchema, longest)
  const readPage = async (after: number) =>
    (
      await selectCustomers(db).where('customers.id', '>', after).orderBy('customers.id').limit(PAGE_ROWS).execute()
    ).map(toCustomer)
  return { columns, rows: readPages(readPage, columns) }
}

async function productSource(db: Db): Promise<ExportSource> {
  const longest = await db
    .selectFrom('products')
    .select((eb) => eb.fn.max(eb.fn<number>('length', [eb.ref('name')])).as('name'))
    .executeTakeFirstOrThrow()
  const columns = columnsOf(ProductSchema, longest)
  const readPage = async (after: number) =>
    (await db.selectFrom('products').selectAll().where('id', '>', after).orderBy('id').limit(PAGE_ROWS).execute()).map(
      toProduct,
    )
  return { columns, rows: readPages(readPage, columns) }
}

/**
 * Records an export as it starts: even one that stops half way shows who took data out, as the
 * requester names themselves and as the key that ran it proves.
 */
async function startExport(
  db: Db,
  kind: ExportKind,
  format: ExportFormat,
  requester: Requester,
  { requestId, caller }: Pick<ExportClient, 'requestId' | 'caller'>,
): Promise<number> {
  const { id } = await db
    .insertInto('export_records')
    .values({
      kind,
      format,
      name: requester.name,
      surname: requester.surname,
      email: requester.email,
      keyid: caller.id,
      keyprefix: caller.key,
      keyrole: caller.role,
      rows: 0,
      completed: 0,
      requestid: requestId,
      created: now(),
    })
    .returning('id')
    .executeTakeFirstOrThrow()
  return id
}

async function finishExport(db: Db, id: number, rows: number, completed: boolean) {
  await db
    .updateTable('export_records')
    .set({ rows, completed: completed ? 1 : 0 })
    .where('id', '=', id)
    .execute()
}

/** The export records, newest first. */
export async function listExports(db: Db, page: Page): Promise<ExportRecord[]> {
  const rows = await db
    .selectFrom('export_records')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(page.limit)
    .offset(page.offset)
    .execute()
  return rows.map((row) => ({ ...row, completed: row.completed === 1 }))
}
