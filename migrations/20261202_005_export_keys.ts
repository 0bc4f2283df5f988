// The key that ran each export: its id (null for the API_KEY of the configuration, which is not stored), prefix and role.
import { type Kysely, sql } from 'kysely'
import { idType } from '../src/db/portable.js'

// Nullable, so that the exports recorded before this migration read as "key not recorded". No foreign
// key to api_keys: an audit record stays as it was written, whatever becomes of the key.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('export_records').addColumn('keyid', idType(db)).execute()
  await db.schema.alterTable('export_records').addColumn('keyprefix', 'text').execute()
  await db.schema
    .alterTable('export_records')
    .addColumn('keyrole', 'text', (col) => col.check(sql`keyrole in ('reader', 'editor', 'admin')`))
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const column of ['keyrole', 'keyprefix', 'keyid']) {
    await db.schema.alterTable('export_records').dropColumn(column).execute()
  }
}
