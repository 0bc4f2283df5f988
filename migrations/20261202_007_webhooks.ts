// Webhooks: where events go, each event's delivery to each webhook, and the log of every attempt.
import { type Kysely, sql } from 'kysely'
import { idType, primaryId } from '../src/db/portable.js'

export async function up(db: Kysely<any>): Promise<void> {
  // `cursor`: the newest event turned into this webhook's deliveries (or passed over, by type).
  await db.schema
    .createTable('webhooks')
    .addColumn('id', idType(db), primaryId(db))
    .addColumn('url', 'text', (col) => col.notNull())
    .addColumn('types', 'text', (col) => col.notNull())
    .addColumn('description', 'text')
    .addColumn('enabled', 'integer', (col) => col.notNull().check(sql`enabled in (0, 1)`))
    .addColumn('disabledreason', 'text')
    .addColumn('secret', 'text', (col) => col.notNull())
    .addColumn('previoussecret', 'text')
    .addColumn('previousuntil', 'text')
    .addColumn('cursor', idType(db), (col) => col.notNull())
    .addColumn('failingsince', 'text')
    .addColumn('created', 'text', (col) => col.notNull())
    .addColumn('updated', 'text', (col) => col.notNull())
    .execute()

  // One event to one webhook, until delivered or given up; `leaseuntil`: claimed by an instance for an attempt.
  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('id', idType(db), primaryId(db))
    .addColumn('webhookid', idType(db), (col) => col.notNull().references('webhooks.id').onDelete('cascade'))
    .addColumn('eventid', idType(db), (col) => col.notNull())
    .addColumn('attempts', 'integer', (col) => col.notNull())
    .addColumn('status', 'text', (col) => col.notNull().check(sql`status in ('pending', 'delivered', 'failed')`))
    .addColumn('nextattempt', 'text')
    .addColumn('leaseuntil', 'text')
    .addColumn('created', 'text', (col) => col.notNull())
    .addUniqueConstraint('webhook_deliveries_event', ['webhookid', 'eventid'])
    .execute()
  await db.schema
    .createIndex('webhook_deliveries_due')
    .on('webhook_deliveries')
    .columns(['status', 'nextattempt', 'id'])
    .execute()

  await db.schema
    .createTable('webhook_attempts')
    .addColumn('id', idType(db), primaryId(db))
    .addColumn('deliveryid', idType(db), (col) => col.notNull().references('webhook_deliveries.id').onDelete('cascade'))
    .addColumn('webhookid', idType(db), (col) => col.notNull())
    .addColumn('eventid', idType(db), (col) => col.notNull())
    .addColumn('attempt', 'integer', (col) => col.notNull())
    .addColumn('time', 'text', (col) => col.notNull())
    .addColumn('status', 'text', (col) => col.notNull().check(sql`status in ('pending', 'delivered', 'failed')`))
    .addColumn('code', 'integer')
    .addColumn('durationms', 'integer', (col) => col.notNull())
    .addColumn('error', 'text')
    .addColumn('nextattempt', 'text')
    .execute()
  await db.schema.createIndex('webhook_attempts_webhook').on('webhook_attempts').columns(['webhookid', 'id']).execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('webhook_attempts').execute()
  await db.schema.dropTable('webhook_deliveries').execute()
  await db.schema.dropTable('webhooks').execute()
}
