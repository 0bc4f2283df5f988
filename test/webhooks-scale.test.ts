// Webhooks under load, with two server processes on one PostgreSQL schema and one of them killed
// mid-run: every event reaches the webhook, at least once; a second time only when an attempt failed
// (answered 503 on purpose) or was cut off by the kill (sent again once its lease lapsed); and never
// by the two instances at the same time.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { Webhook } from 'standardwebhooks'
import t, { type Test } from 'tap'
import { connect } from '../src/db/connect.js'
import { migrateToLatest } from '../src/db/migrate.js'
import { createKey } from '../src/services/keys.js'
import { newCustomer, until } from './helper.js'
import { postgresSchema } from './postgres.js'
import { logged, type Run, startServer } from './process.js'

type Server = Run & { port: number }

/** The events made (one customer each), and how many requests make them at a time. */
const EVENTS = 1000
const WRITERS = 16
/** The kill comes once the receiver has answered this many events 2xx. */
const KILL_AFTER = 300
/** How long a receiver has to answer; an instance's lease on a delivery is longer (src/webhooks/dispatcher.ts). */
const TIMEOUT_MS = 2000
/** The attempts in flight on one instance at most (CONCURRENCY in src/webhooks/dispatcher.ts). */
const CONCURRENCY = 16
/** How long the receiver takes to answer. */
const ANSWER_MS = 10
/** The events whose first answered attempt the receiver answers 503, so that they are retried. */
const forced = (eventid: number) => eventid % 100 === 50

/** A connection of the test's own to `url`, closed when `t` ends. */
async function connection(t: Test, url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(() => client.end())
  return client
}

/** The value at `p` (0 to 1) of `sorted`, an ascending list. */
const percentile = (sorted: number[], p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? NaN

/** One request the receiver got: an attempt at a delivery, as the receiver saw it (times in ms since the epoch). */
interface Receipt {
  webhookId: string
  eventid: number
  headers: Record<string, string>
  body: string
  arrived: number
  /** When it was answered, or when its connection closed unanswered. */
  ended: number | undefined
  /** The status answered; undefined while held. */
  answer: number | undefined
  /** Its connection closed before the answer went out: the sender was gone. */
  abandoned: boolean
}

/**
 * Whether process `pid` holds the client end of the TCP connection from 127.0.0.1:`from` to
 * 127.0.0.1:`to` (Linux: /proc/net/tcp names the connection's socket, /proc/<pid>/fd the process's).
 */
function holdsConnection(pid: number, from: number, to: number): boolean {
  const hex = (port: number) => `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`
  const fields = readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find((row) => row[1] === hex(from) && row[2] === hex(to))
  if (!fields) return false
  const socket = `socket:[${fields[9]}]`
  let fds: string[]
  try {
    fds = readdirSync(`/proc/${pid}/fd`)
  } catch {
    // The process is gone.
    return false
  }
  return fds.some((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`) === socket
    } catch {
      return false
    }
  })
}

/**
 * A webhook receiver on 127.0.0.1 that records every request and answers 204, but 503 to the first
 * answered attempt of each `forced` event. A request that `holding` picks (by the sender's port) is
 * not answered: it waits until `release`.
 */
async function receiver(t: Test) {
  const receipts: Receipt[] = []
  const held: { receipt: Receipt; res: ServerResponse }[] = []
  const failedOnce = new Set<string>()
  let holding: ((from: number) => boolean) | undefined
  // A moment after the request, as a receiver that does some work: the attempts stay in flight a while.
  const answer = (receipt: Receipt, res: ServerResponse) =>
    setTimeout(() => {
      if (receipt.abandoned || res.destroyed) return
      const status = forced(receipt.eventid) && !failedOnce.has(receipt.webhookId) ? 503 : 204
      if (status === 503) failedOnce.add(receipt.webhookId)
      receipt.answer = status
      receipt.ended = Date.now()
      res.writeHead(status).end()
    }, ANSWER_MS)
  const server = createServer((req, res) => {
    const arrived = Date.now()
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const webhookId = String(req.headers['webhook-id'])
      const receipt: Receipt = {
        webhookId,
        eventid: Number(/^msg_(\d+)_\d+$/.exec(webhookId)?.[1]),
        headers: Object.fromEntries(Object.entries(req.headers).map(([name, value]) => [name, String(value)])),
        body: Buffer.concat(chunks).toString('utf8'),
        arrived,
        ended: undefined,
        answer: undefined,
        abandoned: false,
      }
      receipts.push(receipt)
      res.on('close', () => {
        if (res.writableFinished) return
        receipt.abandoned = true
        receipt.ended ??= Date.now()
      })
      if (holding?.(req.socket.remotePort!)) held.push({ receipt, res })
      else answer(receipt, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hook`,
    receipts,
    held,
    /** Holds the requests that process `pid` sends from now on. */
    holdFrom: (pid: number) => (holding = (from) => holdsConnection(pid, from, port)),
    /** Answers the held requests whose sender is still there, and every request from now on. */
    release: () => {
      holding = undefined
      for (const { receipt, res } of held.splice(0)) if (!receipt.abandoned && !res.destroyed) answer(receipt, res)
    },
  }
}

interface Answer {
  status: number
  body: any
}

t.test(
  `${EVENTS} events to one webhook from two instances, one of them killed after ${KILL_AFTER} deliveries`,
  async (t) => {
    t.setTimeout(110_000)
    const began = Date.now()
    const url = await postgresSchema(t)
    const setup = connect(url)
    await migrateToLatest(setup)
    const admin = await createKey(setup, 'Webhooks scale test', 'admin')
    await setup.destroy()

    const hook = await receiver(t)
    const env = {
      DATABASE_URL: url,
      LOG_LEVEL: 'info',
      // Many requests a second with one key: the rate limit is not what is tested here.
      RATE_LIMIT_PER_MINUTE: '100000000',
      // Two servers and the test share this machine's cores: a slow moment must not be answered 503.
      MAX_EVENT_LOOP_DELAY_MS: '60000',
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
      WEBHOOK_RETRY_DELAYS_MS: '100,100,100',
    }
    const servers: Server[] = await Promise.all([1, 2].map(() => startServer(t, env)))
    const alive = [true, true]
    const db = await connection(t, url)
    const statuses = new Map<number, number>()
    const call = async (instance: number, method: 'GET' | 'POST', path: string, json?: unknown): Promise<Answer> => {
      const headers: Record<string, string> = { authorization: `Bearer ${admin.key}` }
      if (json !== undefined) headers['content-type'] = 'application/json'
      const response = await fetch(`http://127.0.0.1:${servers[instance]!.port}${path}`, {
        method,
        headers,
        body: json === undefined ? undefined : JSON.stringify(json),
      })
      const text = await response.text()
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
      const body = response.headers.get('content-type')?.includes('json') && text !== '' ? JSON.parse(text) : text
      return { status: response.status, body }
    }

    const added = await call(0, 'POST', '/api/add/webhook', { url: hook.url, description: 'Scale test' })
    t.equal(added.status, 201, 'the webhook is added')
    const webhook = added.body as { id: number; secret: string; types: string[] }
    t.match(webhook.secret, /^whsec_[A-Za-z0-9+/]{32,}={0,2}$/, 'with its secret')

    // 1. The events: customers added, each through instance k % 2 (through the other once that one is gone).
    // `answered`: when the 201 came (the change had committed by then), by customer id.
    const answered = new Map<number, number>()
    const unexpected: string[] = []
    let answerLost = 0
    const addOne = async (k: number) => {
      const email = `hook-${k}@example.com`
      let instance = alive[k % 2] ? k % 2 : 0
      for (let tries = 0; tries < 3; tries++) {
        try {
          const answer = await call(instance, 'POST', '/api/add/customer', newCustomer({ name: `Hook ${k}`, email }))
          if (answer.status === 201) answered.set(answer.body.id as number, Date.now())
          // Sent again after the kill cut off the first request: it had committed, its answer lost.
          else if (answer.status === 409 && tries > 0) answerLost++
          else unexpected.push(`${email} on ${instance + 1}: ${answer.status} ${JSON.stringify(answer.body)}`)
          return
        } catch (error) {
          if (alive[instance]) {
            unexpected.push(`${email} on ${instance + 1} failed: ${String(error)}`)
            return
          }
          instance = 1 - instance
        }
      }
    }
    let next = 0
    // The leases taken, as seen every 50 ms: when each was first seen (its claim was before).
    const watch = await connection(t, url)
    const leases = new Map<number, Map<string, number>>()
    let watching = true
    const watcher = (async () => {
      while (watching) {
        const { rows } = await watch.query<{ eventid: number; leaseuntil: string }>(
          'select eventid::int, leaseuntil from webhook_deliveries where webhookid = $1 and leaseuntil is not null',
          [webhook.id],
        )
        const seen = Date.now()
        for (const { eventid, leaseuntil } of rows) {
          const ofEvent = leases.get(eventid) ?? new Map<string, number>()
          if (!ofEvent.has(leaseuntil)) ofEvent.set(leaseuntil, seen)
          leases.set(eventid, ofEvent)
        }
        await sleep(50)
      }
    })()
    const writeStarted = Date.now()
    let writeEnded = 0
    const writers = Promise.all(
      Array.from({ length: WRITERS }, async () => {
        while (next < EVENTS) await addOne(next++)
      }),
    ).finally(() => {
      writeEnded = Date.now()
    })

    // 2. The kill. Once KILL_AFTER events are delivered, the receiver holds the requests instance 2
    // sends (its connections found in /proc), so that the kill surely cuts off attempts in flight:
    // instance 2 is killed as soon as one is held (and a moment later, for more), well within the
    // timeout. Those requests' connections close as it dies.
    const delivered = () => new Set(hook.receipts.filter((r) => r.answer === 204 && !r.abandoned).map((r) => r.eventid))
    t.ok(await until(() => delivered().size >= KILL_AFTER, 60_000), `${KILL_AFTER} events delivered`)
    const deliveredAtKill = delivered().size
    const writtenAtKill = answered.size
    hook.holdFrom(servers[1]!.child.pid!)
    const holdStarted = Date.now()
    t.ok(await until(() => hook.held.length > 0, 20_000, 5), 'instance 2 sends a request, held')
    await until(() => hook.held.length >= 4, 300, 5)
    const heldAtKill = hook.held.length
    const killedAt = Date.now()
    alive[1] = false
    servers[1]!.child.kill('SIGKILL')
    const ending = await servers[1]!.ended
    // The connections the killed process had open close as it ends; the receiver hears of it at once.
    await sleep(200)
    const cutOff = hook.held.filter(({ receipt }) => receipt.abandoned).map(({ receipt }) => receipt)
    const heldFor = Date.now() - holdStarted
    // What the instances had claimed when one of them died: the killed one's claims are held until their lease lapses.
    const leased = new Map(
      (
        await db.query<{ id: number; eventid: number; leaseuntil: string }>(
          `select id::int, eventid::int, leaseuntil from webhook_deliveries
           where webhookid = $1 and status = 'pending' and leaseuntil is not null`,
          [webhook.id],
        )
      ).rows.map((row) => [row.eventid, row]),
    )
    hook.release()

    // 3. Every event delivered, by the instance that is left.
    await writers
    const total = async () =>
      (
        await db.query<{ count: number }>(
          "select count(*)::int as count from webhook_deliveries where webhookid = $1 and status = 'delivered'",
          [webhook.id],
        )
      ).rows[0]!.count
    const done = await until(
      async () => (await total()) >= answered.size + answerLost && delivered().size >= answered.size + answerLost,
      70_000,
      100,
    )
    const finished = Date.now()
    watching = false
    await watcher
    t.ok(done, 'every delivery is done')
    // A moment for anything that would come late (a third attempt, say).
    await sleep(500)

    t.equal(ending.signal, 'SIGKILL', 'instance 2 was killed')
    t.strictSame(unexpected.slice(0, 10), [], 'every customer was added (201), or found added after the kill (409)')

    // The events, from the feed.
    const events: { id: number; type: string; time: string; entityid: number }[] = []
    for (let after = 0; ;) {
      const page = await call(0, 'GET', `/api/get/events?after=${after}&limit=1000`)
      t.equal(page.status, 200)
      if (page.status !== 200 || page.body.events.length === 0) break
      events.push(...(page.body.events as typeof events))
      after = page.body.next as number
    }
    t.equal(events.length, EVENTS, `${EVENTS} events in the feed`)
    t.ok(
      events.every((event) => event.type === 'customer.created'),
      'each one a customer added',
    )
    const byId = new Map(events.map((event) => [event.id, event]))
    const idOf = (eventid: number) => `msg_${eventid}_${webhook.id}`

    // Every event received and answered 2xx; nothing received that is no event of the feed.
    const receipts = new Map<number, Receipt[]>()
    for (const receipt of hook.receipts) {
      receipts.set(receipt.eventid, [...(receipts.get(receipt.eventid) ?? []), receipt])
    }
    const missing = events.filter((event) => !receipts.get(event.id)?.some((r) => r.answer === 204 && !r.abandoned))
    t.strictSame(
      missing.map((event) => event.id).slice(0, 20),
      [],
      'each event was received, with its webhook-id, and answered 204',
    )
    t.strictSame(
      hook.receipts.filter((r) => !byId.has(r.eventid) || r.webhookId !== idOf(r.eventid)).map((r) => r.webhookId),
      [],
      'every request was for an event of the feed, named msg_<eventid>_<webhookid>',
    )

    // Each request signed and holding its event, as the feed shows it.
    const verifier = new Webhook(webhook.secret)
    const wrong: string[] = []
    for (const receipt of hook.receipts) {
      const event = byId.get(receipt.eventid)
      try {
        const payload = verifier.verify(receipt.body, receipt.headers) as {
          type: string
          timestamp: string
          data: unknown
        }
        if (
          JSON.stringify(payload) !== JSON.stringify({ type: event?.type, timestamp: event?.time, data: event }) ||
          receipt.headers['content-type'] !== 'application/json'
        ) {
          wrong.push(`${receipt.webhookId}: ${receipt.body}`)
        }
      } catch (error) {
        wrong.push(`${receipt.webhookId}: ${String(error)}`)
      }
    }
    t.strictSame(
      wrong.slice(0, 5),
      [],
      'each request is signed with the secret and holds {type, timestamp, data: event}',
    )

    // What the database says: each delivery done, how many attempts, and the log of each attempt.
    const deliveries = (
      await db.query<{ id: number; eventid: number; status: string; attempts: number; leaseuntil: string | null }>(
        'select id::int, eventid::int, status, attempts, leaseuntil from webhook_deliveries where webhookid = $1',
        [webhook.id],
      )
    ).rows
    const attemptRows = (
      await db.query<{
        id: number
        deliveryid: number
        eventid: number
        attempt: number
        time: string
        status: string
        code: number | null
        durationms: number
        error: string | null
        nextattempt: string | null
      }>(
        `select id::int, deliveryid::int, eventid::int, attempt, time, status, code, durationms, error, nextattempt
         from webhook_attempts where webhookid = $1 order by id`,
        [webhook.id],
      )
    ).rows
    const attemptsOf = new Map<number, typeof attemptRows>()
    for (const row of attemptRows) attemptsOf.set(row.eventid, [...(attemptsOf.get(row.eventid) ?? []), row])

    // The deliveries the killed instance had claimed and not recorded: sent again (attempt 1 in the
    // log) only once the lease it had taken lapsed.
    const orphaned = [...leased.values()].filter((lease) => {
      const first = attemptsOf.get(lease.eventid)?.[0]
      return first !== undefined && Date.parse(first.time) > Date.parse(lease.leaseuntil)
    })
    const orphanedIds = new Set(orphaned.map((lease) => lease.eventid))

    // Why an event came more than once: a forced failure (the 503 and its retry), a cut-off attempt
    // of the killed instance, or both; anything else is a duplicate that should not be.
    const duplicates = { forced: 0, killed: 0, unexplained: [] as string[] }
    for (const event of events) {
      const got = receipts.get(event.id) ?? []
      const allowed = 1 + (forced(event.id) ? 1 : 0) + (orphanedIds.has(event.id) ? 1 : 0)
      if (got.length > allowed) {
        duplicates.unexplained.push(`${idOf(event.id)}: ${got.map((r) => `${r.answer ?? 'cut off'}`).join(', ')}`)
      }
      if (got.length > 1 && forced(event.id)) duplicates.forced += 1
      if (got.length > 1 + (forced(event.id) ? 1 : 0)) duplicates.killed += got.length - 1 - (forced(event.id) ? 1 : 0)
    }
    const forcedEvents = events.filter((event) => forced(event.id))
    const extra = hook.receipts.length - events.length

    // Two attempts at one delivery never at once: at the receiver (from arrival to answer, or to the
    // connection closing), and in the log (each attempt ends at `time`, `durationms` after it began).
    const overlapping: string[] = []
    for (const [eventid, got] of receipts) {
      const sorted = [...got].sort((a, b) => a.arrived - b.arrived)
      for (let k = 1; k < sorted.length; k++) {
        const before = sorted[k - 1]!
        if (before.ended === undefined || sorted[k]!.arrived < before.ended) {
          overlapping.push(`${idOf(eventid)} at the receiver: ${before.arrived}–${before.ended}, ${sorted[k]!.arrived}`)
        }
      }
    }
    for (const [eventid, rows] of attemptsOf) {
      for (let k = 1; k < rows.length; k++) {
        const endOfBefore = Date.parse(rows[k - 1]!.time)
        const start = Date.parse(rows[k]!.time) - rows[k]!.durationms
        if (start < endOfBefore) overlapping.push(`${idOf(eventid)} in the log: attempts ${k} and ${k + 1}`)
      }
    }

    // What was left of its lease when each request went out, and when its attempt was recorded, for
    // the events sent once, by one claim, whose lease was seen: an attempt must end before its lease
    // lapses (another instance may take the delivery then), so the request must go out at least
    // TIMEOUT_MS before. And how long a lease lasts: at least from its first sighting to its end.
    const leftAtSend: number[] = []
    const leftAtRecord: number[] = []
    let leaseLasts = 0
    for (const event of events) {
      const got = receipts.get(event.id) ?? []
      const seen = [...(leases.get(event.id) ?? [])]
      const recorded = attemptsOf.get(event.id) ?? []
      for (const [lease, at] of seen) leaseLasts = Math.max(leaseLasts, Date.parse(lease) - at)
      if (got.length !== 1 || seen.length !== 1 || recorded.length !== 1) continue
      const lapses = Date.parse(seen[0]![0])
      leftAtSend.push(lapses - got[0]!.arrived)
      leftAtRecord.push(lapses - Date.parse(recorded[0]!.time))
    }
    leftAtSend.sort((a, b) => a - b)
    leftAtRecord.sort((a, b) => a - b)
    // When the killed instance's deliveries were sent again, after the kill.
    const resent = orphaned.map((lease) => ({
      lapsed: Date.parse(lease.leaseuntil) - killedAt,
      sent:
        Math.min(...(receipts.get(lease.eventid) ?? []).filter((r) => r.arrived > killedAt).map((r) => r.arrived)) -
        killedAt,
    }))

    // From commit (the 201 answer) to the delivery (the receiver's first 2xx answer).
    const latencies: number[] = []
    for (const event of events) {
      const committed = answered.get(event.entityid)
      const first = receipts.get(event.id)?.find((r) => r.answer === 204 && !r.abandoned)
      if (committed !== undefined && first !== undefined) latencies.push(first.arrived - committed)
    }
    latencies.sort((a, b) => a - b)
    // How fast events were delivered (first 2xx) while the writes went on, and after them, but for
    // those the killed instance held.
    const firsts = events
      .filter((event) => !orphanedIds.has(event.id))
      .map((event) => receipts.get(event.id)?.find((r) => r.answer === 204 && !r.abandoned)?.arrived ?? Infinity)
    const whileWriting = firsts.filter((at) => at <= writeEnded).length
    const afterWriting = firsts.filter((at) => at > writeEnded)
    const lastAfter = Math.max(writeEnded, ...afterWriting.filter((at) => at !== Infinity))
    const rate = (n: number, ms: number) => (ms > 0 ? ((n * 1000) / ms).toFixed(0) : '-')

    // 4. The figures.
    t.comment(
      `events: ${events.length} (written in ${((writeEnded - writeStarted) / 1000).toFixed(1)} s, ` +
        `${answerLost} of them answered only after the kill, with 409); requests received: ${hook.receipts.length}, ` +
        `${delivered().size} events answered 2xx`,
    )
    t.comment(
      `kill: after ${deliveredAtKill} events delivered and ${writtenAtKill} written; ${heldAtKill} requests of ` +
        `instance 2 held at the receiver, ${cutOff.length} of them cut off by the kill ` +
        `(${cutOff.map((r) => r.webhookId).join(', ')}); ${leased.size} deliveries leased then, ${orphaned.length} ` +
        `of them the killed instance's; ${heldFor} ms from holding to release`,
    )
    t.comment(
      `duplicates: ${extra} requests more than events: ${forcedEvents.length} forced 503s retried ` +
        `(${duplicates.forced} events), ${duplicates.killed} sent again after the killed instance's lease lapsed, ` +
        `${duplicates.unexplained.length} unexplained`,
    )
    t.comment(
      `commit to delivery: p50 ${percentile(latencies, 0.5)} ms, p90 ${percentile(latencies, 0.9)} ms, ` +
        `p99 ${percentile(latencies, 0.99)} ms, max ${latencies.at(-1)} ms (${latencies.length} events)`,
    )
    t.comment(
      `deliveries: ${whileWriting} while the writes went on (${rate(whileWriting, writeEnded - writeStarted)}/s), ` +
        `${afterWriting.length} after them (${rate(afterWriting.length, lastAfter - writeEnded)}/s, ` +
        `the last ${((lastAfter - writeEnded) / 1000).toFixed(1)} s after the last write), but for the killed instance's`,
    )
    t.comment(
      `leases: one lasts about ${leaseLasts} ms (the longest from a first sighting to its end); left when the ` +
        `request went out: min ${leftAtSend[0]} ms, p50 ${percentile(leftAtSend, 0.5)} ms; left when the attempt ` +
        `was recorded: min ${leftAtRecord[0]} ms, p50 ${percentile(leftAtRecord, 0.5)} ms (${leftAtSend.length} ` +
        `deliveries whose lease was seen); the killed instance's leases lapsed ` +
        `${resent.map((r) => r.lapsed).join(', ')} ms after the kill, and those deliveries went out again ` +
        `${resent.map((r) => r.sent).join(', ')} ms after it`,
    )
    t.comment(
      `every delivery done ${((finished - killedAt) / 1000).toFixed(1)} s after the kill; ` +
        `the whole test ${((Date.now() - began) / 1000).toFixed(1)} s`,
    )

    t.ok(cutOff.length >= 1, 'the kill cut off attempts in flight on the killed instance')
    t.equal(cutOff.length, heldAtKill, 'each request held then was cut off by the kill')
    t.ok(orphaned.length >= cutOff.length, 'each of them a delivery the killed instance had leased')
    t.ok(leftAtSend.length >= events.length / 10, `the leases of many deliveries were seen (${leftAtSend.length})`)
    t.ok(
      (leftAtSend[0] ?? Infinity) >= TIMEOUT_MS,
      'each request went out while its lease held long enough for the attempt to be cut off before it lapsed',
    )
    t.ok(orphaned.length <= CONCURRENCY, `at most ${CONCURRENCY} (its concurrency) left leased by the killed instance`)
    t.strictSame(duplicates.unexplained.slice(0, 10), [], 'no event came twice but for a forced failure or the kill')
    t.equal(duplicates.forced, forcedEvents.length, 'each forced failure was retried')
    t.ok(duplicates.killed <= orphaned.length, 'no more sent again than the killed instance left leased')
    t.strictSame(overlapping.slice(0, 10), [], 'no two attempts at one delivery at the same time')
    const early = orphaned.flatMap((lease) =>
      (receipts.get(lease.eventid) ?? [])
        .filter((r) => r.arrived > killedAt && r.arrived < Date.parse(lease.leaseuntil))
        .map((r) => `${r.webhookId} at ${new Date(r.arrived).toISOString()}, leased until ${lease.leaseuntil}`),
    )
    t.strictSame(early, [], "the killed instance's deliveries were sent again only once its lease lapsed")

    t.equal(deliveries.length, events.length, 'one delivery for each event')
    t.strictSame(
      deliveries.filter((d) => d.status !== 'delivered' || d.leaseuntil !== null).map((d) => d.eventid),
      [],
      'every delivery ends delivered, leased by none',
    )
    t.strictSame(
      deliveries.filter((d) => d.attempts !== (forced(d.eventid) ? 2 : 1)).map((d) => `${d.eventid}: ${d.attempts}`),
      [],
      'two attempts for each forced failure, one for every other delivery',
    )
    const logWrong = events.filter((event) => {
      const rows = (attemptsOf.get(event.id) ?? []).map(({ attempt, status, code, error }) => ({
        attempt,
        status,
        code,
        error,
      }))
      const expected = [
        ...(forced(event.id) ? [{ attempt: 1, status: 'pending', code: 503, error: 'HTTP 503' }] : []),
        { attempt: forced(event.id) ? 2 : 1, status: 'delivered', code: 204, error: null },
      ]
      return JSON.stringify(rows) !== JSON.stringify(expected)
    })
    t.strictSame(
      logWrong.map((event) => `${event.id}: ${JSON.stringify(attemptsOf.get(event.id))}`).slice(0, 5),
      [],
      'the log holds each attempt: a forced failure as attempt 1 (503, pending), then attempt 2 delivered',
    )

    // The deliveries log, through the API: the newest attempts, as the database holds them.
    const log = await call(0, 'GET', `/api/get/webhook/deliveries?id=${webhook.id}&limit=1000`)
    t.equal(log.status, 200)
    t.strictSame(
      log.body,
      attemptRows
        .slice(-1000)
        .reverse()
        .map((row) => ({
          eventid: row.eventid,
          attempt: row.attempt,
          time: row.time,
          status: row.status,
          code: row.code,
          duration_ms: row.durationms,
          error: row.error,
          next_attempt: row.nextattempt,
        })),
      'GET /api/get/webhook/deliveries lists the newest 1000 attempts, newest first',
    )
    const forcedInLog = new Map<number, { attempt: number; code: number; status: string }[]>()
    for (const { eventid, attempt, code, status } of log.body as Record<string, any>[]) {
      if (forced(eventid as number)) {
        forcedInLog.set(eventid, [...(forcedInLog.get(eventid) ?? []), { attempt, code, status }])
      }
    }
    t.ok(forcedInLog.size > 0, `the forced failures among the newest attempts: ${forcedInLog.size}`)
    t.strictSame(
      [...forcedInLog],
      // Newest first; the oldest attempt of all may be past the 1000 newest.
      [...forcedInLog].map(([eventid, entries]) => [
        eventid,
        [
          { attempt: 2, code: 204, status: 'delivered' },
          { attempt: 1, code: 503, status: 'pending' },
        ].slice(0, Math.max(1, entries.length)),
      ]),
      'there each forced failure is attempt 1 (503, pending), then attempt 2 (delivered)',
    )

    t.strictSame(
      [...statuses.keys()].filter((status) => status >= 500),
      [],
      'no answer was a 5xx',
    )
    t.strictSame(
      servers.flatMap((server) => server.logs().filter((line) => Number(line.level) >= 50)),
      [],
      'no error is logged',
    )
    t.strictSame(
      servers.flatMap((server) => logged(server, 'webhook dispatch failed; it tries again')),
      [],
      'no dispatch failed',
    )
    t.equal(servers[0]!.child.exitCode, null, 'instance 1 still runs')
  },
)
