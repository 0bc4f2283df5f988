// The change feed read back: pages of events in id order, and the removal of old events and keys.
import {
  ENTITIES,
  type Event as FeedEvent,
  type EventPage,
  type EventsQuery,
  EVENT_TYPES,
  type EventType,
} from '../../schemas/event.js'
import type { EventRow } from '../../schemas/database.js'
import type { Db } from '../db/connect.js'
import { invalid } from '../problems.js'

export const toEvent = (row: EventRow): FeedEvent => ({
  id: row.id,
  type: row.type as EventType,
  time: row.time,
  entity: row.entity as FeedEvent['entity'],
  entityid: row.entityid,
  data: JSON.parse(row.data) as FeedEvent['data'],
  changes: row.changes === null ? null : (JSON.parse(row.changes) as FeedEvent['changes']),
  actor: row.actorkey === null ? null : { key: row.actorkey, role: row.actorrole! },
  requestid: row.requestid,
  uploadid: row.uploadid,
})

/** The types a `type` parameter names: each a type, or a group (`product.*`) standing for all of its types. */
export function typesNamed(list: string): EventType[] {
  const types = new Set<EventType>()
  for (const name of list.split(',')) {
    const group = name.endsWith('.*') ? name.slice(0, -2) : undefined
    const named = group
      ? EVENT_TYPES.filter((type) => type.startsWith(`${group}.`))
      : EVENT_TYPES.filter((type) => type === name)
    if (named.length === 0) {
      throw invalid(
        'type',
        `names ${name}, which is no event type: use ${EVENT_TYPES.join(', ')}, or a group (${ENTITIES.map((e) => `${e}.*`).join(', ')})`,
      )
    }
    for (const type of named) types.add(type)
  }
  return [...types]
}

/** The events after `after` that the filters take, in id order, at most `limit`. */
export async function listEvents(
  db: Db,
  { after = 0, limit = 100, type, entity, entityid }: EventsQuery,
): Promise<EventPage> {
  if (entityid !== undefined && entity === undefined) throw invalid('entityid', 'needs `entity` too')
  let query = db.selectFrom('events').selectAll().where('id', '>', after)
  if (type !== undefined) query = query.where('type', 'in', typesNamed(type))
  if (entity !== undefined) query = query.where('entity', '=', entity)
  if (entityid !== undefined) query = query.where('entityid', '=', entityid)
  const rows = await query.orderBy('id').limit(limit).execute()
  return { events: rows.map(toEvent), next: rows.at(-1)?.id ?? after }
}

/** The id of the newest event, 0 when there is none. */
export async function newestEventId(db: Db): Promise<number> {
  const row = await db
    .selectFrom('events')
    .select((eb) => eb.fn.max('id').as('id'))
    .executeTakeFirst()
  return Number(row?.id ?? 0)
}

/**
 * Removes the events older than `retentionDays` (none when 0) and the idempotency keys that have
 * expired; how many of each.
 */
export async function removeExpired(db: Db, retentionDays: number): Promise<{ events: number; keys: number }> {
  const now = Date.now()
  let events = 0
  if (retentionDays > 0) {
    const before = new Date(now - retentionDays * 86_400_000).toISOString()
    const result = await db.deleteFrom('events').where('time', '<', before).executeTakeFirst()
    events = Number(result.numDeletedRows)
  }
  const expired = await db
    .deleteFrom('idempotency_keys')
    .where('expires', '<=', new Date(now).toISOString())
    .executeTakeFirst()
  return { events, keys: Number(expired.numDeletedRows) }
}
