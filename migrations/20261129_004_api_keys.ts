// API keys: each stored as the SHA-256 of the key (never the key), with its role and a short prefix to name it by.
import { type Kysely, sql } from 'kysely'
import { idType, primaryId } from '../src/db/portable.js'

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('api_keys')
    .addColumn('id', idType(db), primaryId(db))
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('role', 'text', (col) => col.notNull().check(sql`role in ('reader', 'editor', 'admin')`))
    .addColumn('prefix', 'text', (col) => col.notNull().unique())
    .addColumn('hash', 'text', (col) => col.notNull().unique())
    .addColumn('created', 'text', (col) => col.notNull())
    .addColumn('revoked', 'text')
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('api_keys').execute()
}
