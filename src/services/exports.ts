// Export queries: the columns and the rows of each kind, page by page in id order, and the audit records.
import type { TObject, TSchema } from '@sinclair/typebox'
import type { Page } from '../../schemas/common.js'
import { CustomerSchema } from '../../schemas/customer.js'
import type { ExportKind, ExportQuery, ExportRecord } from '../../schemas/export.js'
import { ProductSchema } from '../../schemas/product.js'
import type { Db } from '../db/connect.js'
import type { Column, ColumnType } from '../exports/xlsx.js'
import { selectCustomers, toCustomer } from './customers.js'
import { toProduct } from './products.js'
import { now } from './values.js'

/** Rows read from the database at a time: the export holds one page, and other requests run between pages. */
const PAGE_ROWS = 1000

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
async function* pages<T extends { id: number }>(read: (after: number) => Promise<T[]>, columns: Column[]) {
  for (let after = 0; ;) {
    const records = await read(after)
    if (records.length === 0) return
    after = records[records.length - 1]!.id
    yield records.map((record) => columns.map((column) => record[column.name as keyof T]))
  }
}

export async function exportSource(db: Db, kind: ExportKind) {
  if (kind === 'customers') {
    const longest = await db
      .selectFrom('customers')
      .select((eb) =>
        ['name', 'email', 'address', 'phone', 'status'].map((c) =>
          eb.fn.max(eb.fn<number>('length', [eb.ref(c as 'name')])).as(c),
        ),
      )
      .executeTakeFirstOrThrow()
    const columns = columnsOf(CustomerSchema, longest)
    const read = async (after: number) =>
      (
        await selectCustomers(db).where('customers.id', '>', after).orderBy('customers.id').limit(PAGE_ROWS).execute()
      ).map(toCustomer)
    return { columns, rows: pages(read, columns) }
  }
  const longest = await db
    .selectFrom('products')
    .select((eb) => eb.fn.max(eb.fn<number>('length', [eb.ref('name')])).as('name'))
    .executeTakeFirstOrThrow()
  const columns = columnsOf(ProductSchema, longest)
  const read = async (after: number) =>
    (await db.selectFrom('products').selectAll().where('id', '>', after).orderBy('id').limit(PAGE_ROWS).execute()).map(
      toProduct,
    )
  return { columns, rows: pages(read, columns) }
}

/** Records an export as it starts: even one that stops half way shows who took data out. */
export async function startExport(db: Db, kind: ExportKind, query: ExportQuery, requestid: string) {
  const { id } = await db
    .insertInto('export_records')
    .values({
      kind,
      format: query.format ?? 'xlsx',
      name: query.name,
      surname: query.surname,
      email: query.email,
      rows: 0,
      completed: 0,
      requestid,
      created: now(),
    })
    .returning('id')
    .executeTakeFirstOrThrow()
  return id
}

export async function finishExport(db: Db, id: number, rows: number, completed: boolean) {
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
