// The record of every export: who took which data out, and when.
import { type Kysely, sql } from 'kysely'
import { idType, primaryId } from '../src/db/portable.js'

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('export_records')
    .addColumn('id', idType(db), primaryId(db))
    .addColumn('kind', 'text', (col) => col.notNull().check(sql`kind in ('customers', 'products')`))
    .addColumn('format', 'text', (col) => col.notNull().check(sql`format in ('xlsx', 'csv')`))
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('surname', 'text', (col) => col.notNull())
    .addColumn('email', 'text', (col) => col.notNull())
    .addColumn('rows', 'integer', (col) => col.notNull())
    .addColumn('completed', 'integer', (col) => col.notNull().check(sql`completed in (0, 1)`))
    .addColumn('requestid', 'text', (col) => col.notNull())
    .addColumn('created', 'text', (col) => col.notNull())
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('export_records').execute()
}
