// Changes to the records: each made in one transaction with its events (the change feed) and, for a
// request sent with an Idempotency-Key, with the answer stored for its retries.
import type { Role } from '../schemas/key.js'
import type { Entity, EventType } from '../schemas/event.js'
import type { NewEventRow } from '../schemas/database.js'
import { insertMany } from './db/bulk.js'
import type { Db } from './db/connect.js'

/** Who makes a change: the API key of the request (null for the server itself) and the request's id. */
export interface Author {
  actor: { key: string; role: Role } | null
  requestid: string | null
}

/** Who makes a change, and what its transaction must hold besides the change and its events. */
export interface Writer extends Author {
  /**
   * Called last inside the change's transaction with what the change returns: stores the answer of
   * a request sent with an Idempotency-Key, so that the change and the stored answer commit together.
   */
  answer?: (trx: Db, result: unknown) => Promise<void>
  /** Called once the change has committed: the feed's streams on this instance look for its events at once. */
  committed?: () => void
}

/** The server itself, changing records of its own accord (no request, no key). */
export const SERVER: Writer = { actor: null, requestid: null }

/**
 * Runs `work` in a transaction (or in the caller's) and, last in it, stores the answer `by` asks for; every change to
 * customers, products, feedback and tickets goes through here, its events recorded inside `work`.
 */
export async function change<T>(db: Db, by: Writer, work: (trx: Db) => Promise<T>): Promise<T> {
  const inTransaction = async (trx: Db) => {
    const done = await work(trx)
    await by.answer?.(trx, done)
    return done
  }
  // Inside a caller's transaction (the first admin key, made with the check that there is none),
  // the change is part of it, and commits with it.
  if (db.isTransaction) return inTransaction(db)
  const result = await db.transaction().execute(inTransaction)
  by.committed?.()
  return result
}

/** The fields that changed, each `{ from, to }`; the `updated` time, which every change sets, is left out. */
export type Changes = Record<string, { from: unknown; to: unknown }>

/** What changed from `before` to `after` (records as the API shows them). */
export function changesOf(before: object, after: object): Changes {
  const changes: Changes = {}
  const old = before as Record<string, unknown>
  for (const [field, to] of Object.entries(after)) {
    const from = old[field]
    if (field !== 'updated' && JSON.stringify(from) !== JSON.stringify(to)) changes[field] = { from, to }
  }
  return changes
}

/** One event to record: what happened to which record, and the record as shown after it (before, for a delete). */
export interface NewEvent {
  type: EventType
  entity: Entity
  entityid: number
  data: object
  changes?: Changes | null
}

/**
 * Records events in the change's transaction `trx`, all at `time`, by `by`, made by upload
 * `uploadid` if any: in multi-row inserts of up to EVENTS_PER_INSERT.
 */
export async function recordEvents(
  trx: Db,
  by: Author,
  time: string,
  events: NewEvent[],
  uploadid: number | null = null,
): Promise<void> {
  const rows: NewEventRow[] = events.map(({ type, entity, entityid, data, changes = null }) => ({
    type,
    time,
    entity,
    entityid,
    data: JSON.stringify(data),
    changes: changes === null ? null : JSON.stringify(changes),
    actorkey: by.actor?.key ?? null,
    actorrole: by.actor?.role ?? null,
    requestid: by.requestid,
    uploadid,
  }))
  for (let start = 0; start < rows.length; start += EVENTS_PER_INSERT) {
    await insertMany(trx, 'events', rows.slice(start, start + EVENTS_PER_INSERT))
  }
}

/** Events per insert: 10 columns each keeps a statement's parameters within what both databases take. */
const EVENTS_PER_INSERT = 1000

/** The event of a record deleted: the record as it was. */
export const deletedEvent = (entity: Entity, record: { id: number }): NewEvent => ({
  type: `${entity}.deleted` as EventType,
  entity,
  entityid: record.id,
  data: record,
})
