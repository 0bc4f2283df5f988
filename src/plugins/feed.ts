// The change feed's moving parts on each instance: the open event streams, woken when events may
// have arrived (at once for this instance's changes, by polling for other instances'), and the
// removal of events and idempotency keys past their time.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { newestEventId, removeExpired } from '../services/events.js'

/** How often open streams look for events that other instances committed. */
const POLL_MS = 250
/** How often expired events and idempotency keys are removed. */
const CLEANUP_MS = 3_600_000

/** A stream's side of the feed: woken when there may be events for it, ended when the server closes. */
export interface Listener {
  wake(): void
  end(): void
}

/** The open streams of this instance, and the poll that wakes them for other instances' events. */
export class Feed {
  readonly #listeners = new Set<Listener>()
  #poll: NodeJS.Timeout | undefined
  #newest = 0
  #polling = false
  #closed = false

  constructor(private readonly newest: () => Promise<number>) {}

  readonly #watchers = new Set<() => void>()

  /** Wakes every open stream and watcher: a change committed here. */
  wake() {
    for (const listener of this.#listeners) listener.wake()
    for (const watcher of this.#watchers) watcher()
  }

  /** Calls `watcher` whenever a change commits on this instance; the returned function stops it. */
  watch(watcher: () => void): () => void {
    this.#watchers.add(watcher)
    return () => this.#watchers.delete(watcher)
  }

  /** Whether the server is closing: no stream may start. */
  get closed() {
    return this.#closed
  }

  /**
   * Adds a stream; the returned function removes it. The poll runs while any stream is open. A
   * stream that comes once the server is closing is ended at once.
   */
  listen(listener: Listener): () => void {
    if (this.#closed) {
      listener.end()
      return () => undefined
    }
    this.#listeners.add(listener)
    this.#poll ??= setInterval(() => void this.#check(), POLL_MS)
    return () => {
      this.#listeners.delete(listener)
      if (this.#listeners.size === 0) {
        clearInterval(this.#poll)
        this.#poll = undefined
      }
    }
  }

  /** Ends every open stream (the server is closing). */
  endAll() {
    this.#closed = true
    for (const listener of [...this.#listeners]) listener.end()
  }

  async #check() {
    if (this.#polling) return
    this.#polling = true
    try {
      const newest = await this.newest()
      if (newest !== this.#newest) {
        this.#newest = newest
        this.wake()
      }
    } catch {
      // The database is away for a moment: the next poll tries again.
    } finally {
      this.#polling = false
    }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    feed: Feed
  }
}

/**
 * Registered before the shutdown plugin, so that on closing the streams end first: an open stream
 * is a request in progress, which the shutdown would otherwise wait for.
 */
export default fp(
  async function feed(app: FastifyInstance, { retentionDays }: { retentionDays: number }) {
    const events = new Feed(() => newestEventId(app.db))
    app.decorate('feed', events)
    app.addHook('preClose', async () => events.endAll())
    let cleanup: NodeJS.Timeout | undefined
    const clean = async () => {
      try {
        const removed = await removeExpired(app.db, retentionDays)
        if (removed.events + removed.keys > 0) app.log.info(removed, 'expired events and idempotency keys removed')
      } catch (error) {
        app.log.warn({ err: error }, 'removing expired events and idempotency keys failed')
      }
    }
    app.addHook('onReady', async () => {
      await clean()
      cleanup = setInterval(() => void clean(), CLEANUP_MS)
      cleanup.unref()
    })
    app.addHook('onClose', async () => clearInterval(cleanup))
  },
  { name: 'feed' },
)
