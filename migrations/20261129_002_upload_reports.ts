// The reports of bulk uploads, kept so that a report can be fetched again by its id.
import { type Kysely, sql } from 'kysely'
import { idType, primaryId } from '../src/db/portable.js'

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('upload_reports')
    .addColumn('id', idType(db), primaryId(db))
    .addColumn('kind', 'text', (col) => col.notNull().check(sql`kind in ('customers', 'products')`))
    .addColumn('mode', 'text', (col) => col.notNull().check(sql`mode in ('insert', 'upsert')`))
    .addColumn('filename', 'text', (col) => col.notNull())
    .addColumn('rows', 'integer', (col) => col.notNull())
    .addColumn('inserted', 'integer', (col) => col.notNull())
    .addColumn('updated', 'integer', (col) => col.notNull())
    .addColumn('skipped', 'integer', (col) => col.notNull())
    // JSON: [{ "row": 3, "reason": "..." }], the first skipped rows in row order.
    .addColumn('errors', 'text', (col) => col.notNull())
    .addColumn('created', 'text', (col) => col.notNull())
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('upload_reports').execute()
}
