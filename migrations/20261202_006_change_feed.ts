// The change feed (one event per changed record, written in the change's transaction) and the
// stored answers of requests sent with an Idempotency-Key.
import { type Kysely, sql } from 'kysely'
import { idType, primaryId } from '../src/db/portable.js'

export async function up(db: Kysely<any>): Promise<void> {
  // The id orders the feed. On PostgreSQL every writing transaction holds the schema's write lock
  // from its start to its commit, so ids are taken, and become visible, in commit order.
  await db.schema
    .createTable('events')
    .addColumn('id', idType(db), primaryId(db))
    .addColumn('type', 'text', (col) => col.notNull())
    .addColumn('time', 'text', (col) => col.notNull())
    .addColumn('entity', 'text', (col) =>
      col.notNull().check(sql`entity in ('customer', 'product', 'feedback', 'ticket')`),
    )
    .addColumn('entityid', idType(db), (col) => col.notNull())
    .addColumn('data', 'text', (col) => col.notNull())
    .addColumn('changes', 'text')
    .addColumn('actorkey', 'text')
    .addColumn('actorrole', 'text', (col) => col.check(sql`actorrole in ('reader', 'editor', 'admin')`))
    .addColumn('requestid', 'text')
    .addColumn('uploadid', idType(db))
    .execute()
  await db.schema.createIndex('events_entity').on('events').columns(['entity', 'entityid', 'id']).execute()
  await db.schema.createIndex('events_type').on('events').columns(['type', 'id']).execute()
  await db.schema.createIndex('events_time').on('events').column('time').execute()

  // One row per (API key, Idempotency-Key): claimed while the first request runs (`token`, renewed
  // until `lockeduntil`), then holding its answer until `expires`.
  await db.schema
    .createTable('idempotency_keys')
    .addColumn('scope', 'text', (col) => col.notNull())
    .addColumn('key', 'text', (col) => col.notNull())
    .addColumn('fingerprint', 'text', (col) => col.notNull())
    .addColumn('token', 'text', (col) => col.notNull())
    .addColumn('lockeduntil', 'text', (col) => col.notNull())
    .addColumn('status', 'integer')
    .addColumn('contenttype', 'text')
    .addColumn('etag', 'text')
    .addColumn('body', 'text')
    .addColumn('created', 'text', (col) => col.notNull())
    .addColumn('expires', 'text', (col) => col.notNull())
    .addPrimaryKeyConstraint('idempotency_keys_pk', ['scope', 'key'])
    .execute()
  await db.schema.createIndex('idempotency_keys_expires').on('idempotency_keys').column('expires').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('idempotency_keys').execute()
  await db.schema.dropTable('events').execute()
}
