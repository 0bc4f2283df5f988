// Webhooks managed by admins: where events go, their secrets, and their delivery log.
import { randomBytes } from 'node:crypto'
import type { Deleted } from '../../schemas/common.js'
import type { WebhookRow } from '../../schemas/database.js'
import {
  type Attempt,
  type CreatedWebhook,
  type CreateWebhook,
  type DeliveryStatus,
  EVERY_TYPE,
  type UpdateWebhook,
  type Webhook,
} from '../../schemas/webhook.js'
import { change, type Writer } from '../changes.js'
import type { Db } from '../db/connect.js'
import { invalid, notFound } from '../problems.js'
import { urlTrouble } from '../webhooks/address.js'
import { newestEventId, typesNamed } from './events.js'
import { now } from './values.js'

/** How long a rotated secret keeps signing beside the new one. */
export const ROTATION_OVERLAP_MS = 24 * 3_600_000

/** A new signing secret: `whsec_` and base64 of 32 random bytes, as Standard Webhooks writes them. */
export const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`

export const toWebhook = (row: WebhookRow): Webhook => ({
  id: row.id,
  url: row.url,
  types: JSON.parse(row.types) as string[],
  description: row.description,
  enabled: row.enabled === 1,
  disabledreason: row.disabledreason,
  created: row.created,
  updated: row.updated,
})

/** Refuses (400) a url that cannot be delivered to, and types that name none. */
async function checkTarget(url: string | undefined, types: string[] | undefined, allowPrivate: boolean) {
  if (url !== undefined) {
    const trouble = await urlTrouble(url, allowPrivate)
    if (trouble) throw invalid('url', trouble)
  }
  if (types !== undefined) {
    try {
      typesNamed(types.join(','))
    } catch {
      throw invalid('types', `must name event types (such as customer.created) or groups (${EVERY_TYPE.join(', ')})`)
    }
  }
}

async function getRow(db: Db, id: number): Promise<WebhookRow> {
  const row = await db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst()
  if (!row) throw notFound(`Webhook ${id}`)
  return row
}

/** Adds a webhook, which takes the events after the newest one now; its secret is shown this once. */
export async function createWebhook(
  db: Db,
  { url, types = EVERY_TYPE, description }: CreateWebhook,
  allowPrivate: boolean,
  by: Writer,
): Promise<CreatedWebhook> {
  await checkTarget(url, types, allowPrivate)
  return change(db, by, async (trx) => {
    const time = now()
    const row = await trx
      .insertInto('webhooks')
      .values({
        url,
        types: JSON.stringify(types),
        description: description ?? null,
        enabled: 1,
        disabledreason: null,
        secret: newSecret(),
        previoussecret: null,
        previousuntil: null,
        cursor: await newestEventId(trx),
        failingsince: null,
        created: time,
        updated: time,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
    return { ...toWebhook(row), secret: row.secret }
  })
}

export async function listWebhooks(db: Db): Promise<Webhook[]> {
  return (await db.selectFrom('webhooks').selectAll().orderBy('id').execute()).map(toWebhook)
}

/** Changes what is given; `enabled: true` starts a disabled webhook again, its failures forgotten. */
export async function updateWebhook(
  db: Db,
  { id, url, types, description, enabled }: UpdateWebhook,
  allowPrivate: boolean,
  by: Writer,
): Promise<Webhook> {
  if (url === undefined && types === undefined && description === undefined && enabled === undefined) {
    throw invalid('(body)', 'must set at least one of url, types, description, enabled')
  }
  await checkTarget(url, types, allowPrivate)
  return change(db, by, async (trx) => {
    await getRow(trx, id)
    const row = await trx
      .updateTable('webhooks')
      .set({
        ...(url !== undefined && { url }),
        ...(types !== undefined && { types: JSON.stringify(types) }),
        ...(description !== undefined && { description }),
        ...(enabled !== undefined && { enabled: enabled ? 1 : 0 }),
        ...(enabled === true && { disabledreason: null, failingsince: null }),
        updated: now(),
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow()
    return toWebhook(row)
  })
}

/** Deletes a webhook with its deliveries and their log. */
export async function deleteWebhook(db: Db, id: number, by: Writer): Promise<Deleted> {
  return change(db, by, async (trx) => {
    await getRow(trx, id)
    await trx.deleteFrom('webhooks').where('id', '=', id).execute()
    return { deleted: [id] }
  })
}

/** A new secret, shown this once; the old one goes on signing beside it for ROTATION_OVERLAP_MS. */
export async function rotateSecret(db: Db, id: number, by: Writer): Promise<CreatedWebhook> {
  return change(db, by, async (trx) => {
    const old = await getRow(trx, id)
    const row = await trx
      .updateTable('webhooks')
      .set({
        secret: newSecret(),
        previoussecret: old.secret,
        previousuntil: new Date(Date.now() + ROTATION_OVERLAP_MS).toISOString(),
        updated: now(),
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow()
    return { ...toWebhook(row), secret: row.secret }
  })
}

/** Every attempt at delivering to a webhook, newest first, at most `limit`. */
export async function listAttempts(db: Db, id: number, limit = 100): Promise<Attempt[]> {
  await getRow(db, id)
  const rows = await db
    .selectFrom('webhook_attempts')
    .selectAll()
    .where('webhookid', '=', id)
    .orderBy('id', 'desc')
    .limit(limit)
    .execute()
  return rows.map((row) => ({
    eventid: row.eventid,
    attempt: row.attempt,
    time: row.time,
    status: row.status as DeliveryStatus,
    code: row.code,
    duration_ms: row.durationms,
    error: row.error,
    next_attempt: row.nextattempt,
  }))
}

/** Queues an event to be sent to a webhook again, now: a delivery of its own if it had none. */
export async function redeliver(db: Db, id: number, eventid: number, by: Writer) {
  return change(db, by, async (trx) => {
    await getRow(trx, id)
    const event = await trx.selectFrom('events').select('id').where('id', '=', eventid).executeTakeFirst()
    if (!event) throw notFound(`Event ${eventid}`)
    const time = now()
    await trx
      .insertInto('webhook_deliveries')
      .values({
        webhookid: id,
        eventid,
        attempts: 0,
        status: 'pending',
        nextattempt: time,
        leaseuntil: null,
        created: time,
      })
      .onConflict((conflict) =>
        conflict
          .columns(['webhookid', 'eventid'])
          .doUpdateSet({ status: 'pending', nextattempt: time, leaseuntil: null }),
      )
      .execute()
    return { id, eventid, next_attempt: time }
  })
}
