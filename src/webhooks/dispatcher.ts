// Delivering events to webhooks, on every instance: each event a webhook takes becomes a delivery
// (once, whichever instance sees it first), and each delivery due is claimed by one instance for
// one attempt (a lease longer than the attempt can take), sent, and recorded: delivered, retried
// later, or given up. An instance that dies mid-attempt leaves its lease to lapse, and another
// instance sends the event again: at least once.
import type { FastifyBaseLogger } from 'fastify'
import type { DeliveryRow, WebhookRow } from '../../schemas/database.js'
import type { Db } from '../db/connect.js'
import { newestEventId, toEvent, typesNamed } from '../services/events.js'
import { send, signatureOf } from './send.js'
import { later } from '../services/values.js'

export interface DispatchOptions {
  /** How long a receiver has to answer. */
  timeoutMs: number
  /** The wait before each retry: the first after the first failure, and so on; then the delivery has failed. */
  retryDelaysMs: number[]
  allowPrivate: boolean
  /** How long a webhook may fail and nothing else before it is disabled. */
  disableAfterMs: number
  /** How often the instance looks for new events and deliveries due. */
  pollMs: number
}

/** Attempts in flight on an instance, in all and to one webhook. */
const CONCURRENCY = 16
const PER_WEBHOOK = 4
/** What an attempt leaves of its lease for being recorded; and the least time an attempt is given. */
const LEASE_RESERVE_MS = 1000
const MIN_ATTEMPT_MS = 100
/** How long a wake waits, gathering the commits that come meanwhile. */
const GATHER_MS = 20
/** Events turned into deliveries at a time, per webhook. */
const FAN_OUT_BATCH = 500
/**
 * How long a claim on a delivery lasts: twice the attempt's timeout and a second, so that an attempt
 * is cut off, and recorded, well before another instance may take the delivery over (and clocks of
 * instances may differ by up to a timeout).
 */
const leaseOf = (timeoutMs: number) => 2 * timeoutMs + 1000

export class Dispatcher {
  readonly #inFlight = new Map<number, number>()
  readonly #aborts = new Set<AbortController>()
  #timer: NodeJS.Timeout | undefined
  #running = false
  #again = false
  #soon: NodeJS.Timeout | undefined
  #stopped = false
  #total = 0

  constructor(
    private readonly db: Db,
    private readonly options: DispatchOptions,
    private readonly log: FastifyBaseLogger,
  ) {}

  start() {
    this.#timer = setInterval(() => this.wake(), this.options.pollMs)
    this.#timer.unref()
  }

  /** Stops looking for work and cuts off the attempts in flight; their leases lapse, and they are sent again. */
  stop() {
    this.#stopped = true
    clearInterval(this.#timer)
    clearTimeout(this.#soon)
    for (const abort of this.#aborts) abort.abort()
  }

  /**
   * Looks for new events and deliveries due (a change committed, an attempt ended, or the poll), a
   * moment later: the commits of that moment are turned into deliveries together, in one transaction.
   */
  wake() {
    if (this.#stopped) return
    if (this.#running || this.#soon) {
      this.#again = true
      return
    }
    this.#soon = setTimeout(() => {
      this.#soon = undefined
      this.#running = true
      this.#work()
        .catch((error: unknown) => this.log.warn({ err: error }, 'webhook dispatch failed; it tries again'))
        .finally(() => {
          this.#running = false
          if (this.#again) {
            this.#again = false
            this.wake()
          }
        })
    }, GATHER_MS)
  }

  async #work() {
    await this.#fanOut()
    await this.#claimAndSend()
  }

  /**
   * Turns the events each enabled webhook has not been given into its deliveries, and moves its
   * cursor past them, in one transaction: two instances doing it at once give each event once.
   */
  async #fanOut() {
    const webhooks = await this.db.selectFrom('webhooks').select(['id', 'cursor']).where('enabled', '=', 1).execute()
    if (webhooks.length === 0) return
    const newest = await newestEventId(this.db)
    if (webhooks.every((webhook) => webhook.cursor >= newest)) return
    await this.db.transaction().execute(async (trx) => {
      const current = await trx.selectFrom('webhooks').selectAll().where('enabled', '=', 1).execute()
      for (const webhook of current) {
        const events = await trx
          .selectFrom('events')
          .select(['id', 'type'])
          .where('id', '>', webhook.cursor)
          .orderBy('id')
          .limit(FAN_OUT_BATCH)
          .execute()
        if (events.length === 0) continue
        const takes = new Set<string>(typesNamed((JSON.parse(webhook.types) as string[]).join(',')))
        const time = new Date().toISOString()
        const deliveries = events
          .filter((event) => takes.has(event.type))
          .map((event) => ({
            webhookid: webhook.id,
            eventid: event.id,
            attempts: 0,
            status: 'pending',
            nextattempt: time,
            leaseuntil: null,
            created: time,
          }))
        if (deliveries.length > 0) {
          await trx
            .insertInto('webhook_deliveries')
            .values(deliveries)
            .onConflict((conflict) => conflict.columns(['webhookid', 'eventid']).doNothing())
            .execute()
        }
        await trx
          .updateTable('webhooks')
          .set({ cursor: events.at(-1)!.id })
          .where('id', '=', webhook.id)
          .execute()
      }
    })
  }

  /** Claims the deliveries due, within the bounds of concurrency, and sends each. */
  async #claimAndSend() {
    const free = CONCURRENCY - this.#total
    if (free <= 0) return
    const time = new Date().toISOString()
    const due = await this.db
      .selectFrom('webhook_deliveries')
      .select(['id', 'webhookid'])
      .where('status', '=', 'pending')
      .where('nextattempt', '<=', time)
      .where((eb) => eb.or([eb('leaseuntil', 'is', null), eb('leaseuntil', '<', time)]))
      .where('webhookid', 'in', (eb) => eb.selectFrom('webhooks').select('id').where('enabled', '=', 1))
      .orderBy('nextattempt')
      .orderBy('id')
      .limit(CONCURRENCY * 8)
      .execute()
    const chosen: number[] = []
    const taking = new Map(this.#inFlight)
    for (const { id, webhookid } of due) {
      if (chosen.length >= free) break
      const busy = taking.get(webhookid) ?? 0
      if (busy >= PER_WEBHOOK) continue
      taking.set(webhookid, busy + 1)
      chosen.push(id)
    }
    if (chosen.length === 0) return
    const lease = later(leaseOf(this.options.timeoutMs))
    // Only the deliveries no other instance claimed meanwhile: the condition is checked again as each row is updated.
    const claimed = await this.db
      .updateTable('webhook_deliveries')
      .set({ leaseuntil: lease })
      .where('id', 'in', chosen)
      .where('status', '=', 'pending')
      .where((eb) => eb.or([eb('leaseuntil', 'is', null), eb('leaseuntil', '<', time)]))
      .returningAll()
      .execute()
    for (const delivery of claimed) void this.#attempt(delivery)
  }

  /** One attempt at one delivery, recorded only if this instance still holds its lease. */
  async #attempt(delivery: DeliveryRow) {
    const { webhookid } = delivery
    this.#inFlight.set(webhookid, (this.#inFlight.get(webhookid) ?? 0) + 1)
    this.#total++
    const abort = new AbortController()
    this.#aborts.add(abort)
    try {
      // Claimed as the server began to close: the lease lapses, and the delivery is sent later.
      if (this.#stopped) return
      const webhook = await this.db.selectFrom('webhooks').selectAll().where('id', '=', webhookid).executeTakeFirst()
      const event = await this.db.selectFrom('events').selectAll().where('id', '=', delivery.eventid).executeTakeFirst()
      if (!webhook || !event) {
        const gone = { code: null, error: 'the event was removed (EVENT_RETENTION_DAYS)', durationMs: 0 }
        return await this.#record(delivery, webhook, gone, true)
      }
      const body = JSON.stringify({ type: event.type, timestamp: event.time, data: toEvent(event) })
      const id = `msg_${event.id}_${webhook.id}`
      const timestamp = Math.floor(Date.now() / 1000)
      const secrets = [webhook.secret]
      if (webhook.previoussecret && webhook.previousuntil && webhook.previousuntil > new Date().toISOString()) {
        secrets.push(webhook.previoussecret)
      }
      const headers = {
        'webhook-id': id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signatureOf(secrets, id, timestamp, body),
        'user-agent': 'CRM-API-Webhooks/1',
      }
      // The attempt must end while the lease holds, or another instance could send the event meanwhile.
      const leaseLeft = Date.parse(delivery.leaseuntil!) - Date.now() - LEASE_RESERVE_MS
      if (leaseLeft < MIN_ATTEMPT_MS) return
      const attempted = await send(webhook.url, body, headers, {
        timeoutMs: Math.min(this.options.timeoutMs, leaseLeft),
        allowPrivate: this.options.allowPrivate,
        signal: abort.signal,
      })
      if (this.#stopped) return
      await this.#record(delivery, webhook, attempted, false)
    } catch (error) {
      this.log.warn({ err: error, webhook: webhookid, event: delivery.eventid }, 'a webhook delivery attempt failed')
    } finally {
      this.#aborts.delete(abort)
      this.#inFlight.set(webhookid, (this.#inFlight.get(webhookid) ?? 1) - 1)
      this.#total--
      if (!this.#stopped) this.wake()
    }
  }

  /**
   * Records an attempt in the log and what follows: delivered, another attempt later, or failed
   * (`final`: no attempt can follow). A webhook failing, and nothing else, for longer than
   * `disableAfterMs` is disabled, saying why.
   */
  async #record(
    delivery: DeliveryRow,
    webhook: WebhookRow | undefined,
    attempted: { code: number | null; error: string | null; durationMs: number },
    final: boolean,
  ) {
    const time = new Date().toISOString()
    const attempt = delivery.attempts + 1
    const delivered = attempted.error === null
    const delay = final || delivered ? undefined : this.options.retryDelaysMs[attempt - 1]
    const status = delivered ? 'delivered' : delay === undefined ? 'failed' : 'pending'
    const nextattempt = delay === undefined ? null : later(delay)
    await this.db.transaction().execute(async (trx) => {
      const held = await trx
        .updateTable('webhook_deliveries')
        .set({ attempts: attempt, status, nextattempt, leaseuntil: null })
        .where('id', '=', delivery.id)
        .where('leaseuntil', '=', delivery.leaseuntil)
        .executeTakeFirst()
      // The lease lapsed and another instance took the delivery over: its attempt is the one that counts.
      if (Number(held.numUpdatedRows) !== 1) return
      await trx
        .insertInto('webhook_attempts')
        .values({
          deliveryid: delivery.id,
          webhookid: delivery.webhookid,
          eventid: delivery.eventid,
          attempt,
          time,
          status,
          code: attempted.code,
          durationms: attempted.durationMs,
          error: attempted.error,
          nextattempt,
        })
        .execute()
      if (!webhook) return
      if (delivered) {
        await trx.updateTable('webhooks').set({ failingsince: null }).where('id', '=', webhook.id).execute()
        return
      }
      const since = webhook.failingsince ?? time
      const disable = Date.parse(time) - Date.parse(since) >= this.options.disableAfterMs
      await trx
        .updateTable('webhooks')
        .set({
          failingsince: since,
          ...(disable && {
            enabled: 0,
            disabledreason:
              `Disabled at ${time}: every delivery since ${since} failed; the last, of event ${delivery.eventid}: ` +
              `${attempted.error}. Enable it again with /api/update/webhook.`,
          }),
        })
        .where('id', '=', webhook.id)
        .execute()
      if (disable) this.log.warn({ webhook: webhook.id, since }, 'webhook disabled: its deliveries failed for days')
    })
  }
}
