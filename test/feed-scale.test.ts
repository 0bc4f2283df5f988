// The change feed under load, with two server processes on one PostgreSQL schema: a reader that
// follows `next` sees every event exactly once and in id order, an open stream on one instance gets
// the events made through the other, and the schema's transaction lock is what makes id order the
// order of the commits.
import { setTimeout as sleep } from 'node:timers/promises'
import { EventSource } from 'eventsource'
import pg from 'pg'
import t, { type Test } from 'tap'
import { EVENT_TYPES, type EventType } from '../schemas/event.js'
import { connect } from '../src/db/connect.js'
import { migrateToLatest } from '../src/db/migrate.js'
import { createKey } from '../src/services/keys.js'
import { newCustomer } from './helper.js'
import { postgresSchema } from './postgres.js'
import { logged, type Run, startServer } from './process.js'

type Server = Run & { port: number }

/** The schema's transaction lock, as src/db/connect.ts takes it at the start of every transaction. */
const WRITE_LOCK = `select pg_advisory_xact_lock(${0x43524d}, hashtext(current_schema()))`

/** How long the writers of the load run, and how many there are. */
const LOAD_MS = 10_000
const WRITERS = 8
/** The reader's page size: small, so that it reads at the head of the feed while the load runs. */
const PAGE = 50

/** A connection of the test's own to `url`, closed when `t` ends. */
async function connection(t: Test, url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(() => client.end())
  return client
}

/** The ids of the events in the table after `after`, in id order. */
async function tableIds(db: pg.Client, after: number): Promise<number[]> {
  const { rows } = await db.query<{ id: number }>('select id::int as id from events where id > $1 order by id', [after])
  return rows.map((row) => row.id)
}

/** The newest event id in the table, 0 when there is none. */
async function newestId(db: pg.Client): Promise<number> {
  const { rows } = await db.query<{ id: number }>('select coalesce(max(id), 0)::int as id from events')
  return rows[0]!.id
}

interface Answer {
  status: number
  body: any
}

/** What went wrong in a run of requests: answers that were not the expected ones, or requests that failed. */
type Unexpected = string[]

/** A client of the instances sending `key`; every answer is counted by status in `statuses`. */
function clientOf(servers: Server[], key: string, statuses: Map<number, number>) {
  return async (instance: number, method: 'GET' | 'POST', path: string, json?: unknown): Promise<Answer> => {
    const headers: Record<string, string> = { authorization: `Bearer ${key}` }
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
}

type Client = ReturnType<typeof clientOf>

/** What the writers' successful answers say the feed must hold: events of each type, and the changes made. */
interface Tally {
  events: Map<EventType, number>
  changes: Map<string, number>
  unexpected: Unexpected
}

const newTally = (): Tally => ({ events: new Map(), changes: new Map(), unexpected: [] })
const add = <K>(map: Map<K, number>, key: K, n = 1) => map.set(key, (map.get(key) ?? 0) + n)
const total = (map: Map<unknown, number>) => [...map.values()].reduce((sum, n) => sum + n, 0)

/** A customer a writer made, and what the writer made for them since: deleted with them, each with its event. */
interface Owned {
  id: number
  feedback: number
  tickets: number
  open: number[]
}

/**
 * One writer: until `until`, a mix of changes on records of its own (so that none of its changes
 * conflicts with another writer's), each through one of `instances` in turn. Each answer that is
 * the expected one adds the events its change makes to `tally`; any other is noted there.
 */
async function writer(call: Client, instances: number[], name: string, until: number, tally: Tally) {
  const customers: Owned[] = []
  const owners = new Map<number, number | null>()
  let sent = 0
  let made = 0
  const send = async (method: 'GET' | 'POST', path: string, json: unknown, expected: number) => {
    const instance = instances[sent++ % instances.length]!
    try {
      const answer = await call(instance, method, path, json)
      if (answer.status === expected) return answer
      tally.unexpected.push(
        `${name}: ${method} ${path} on ${instance + 1}: ${answer.status} ${JSON.stringify(answer.body)}`,
      )
    } catch (error) {
      tally.unexpected.push(`${name}: ${method} ${path} on ${instance + 1} failed: ${String(error)}`)
    }
    return undefined
  }
  const done = (kind: string, events: [EventType, number][]) => {
    add(tally.changes, kind)
    for (const [type, n] of events) if (n > 0) add(tally.events, type, n)
  }
  const pick = <T>(list: T[]) => list[Math.floor(Math.random() * list.length)]!

  const addCustomer = async () => {
    const email = `${name}-${made++}@example.com`
    const answer = await send('POST', '/api/add/customer', newCustomer({ name: `Customer ${made}`, email }), 201)
    if (!answer) return
    customers.push({ id: answer.body.id, feedback: 0, tickets: 0, open: [] })
    done('add customer', [['customer.created', 1]])
  }
  /** Moves product `id` to `to` (a customer of this writer, or null): a transfer, since `to` is not its owner. */
  const transfer = async (id: number, to: number | null) => {
    const answer = await send('POST', '/api/update/product', { id, changeto: to }, 200)
    if (!answer) return false
    owners.set(id, to)
    done('transfer product', [['product.transferred', 1]])
    return true
  }

  while (Date.now() < until) {
    const roll = Math.random()
    if (customers.length < 3 || roll < 0.14) {
      await addCustomer()
    } else if (roll < 0.26) {
      const customer = pick(customers)
      const answer = await send(
        'POST',
        '/api/update/customer',
        { id: customer.id, address: `${made++} Feed Street` },
        200,
      )
      if (answer) done('update customer', [['customer.updated', 1]])
    } else if (roll < 0.4) {
      const customer = pick(customers)
      const product = {
        name: `Kettle ${made++}`,
        price: 19.99,
        purchased: '2026-01-15',
        customerid: customer.id,
        warranty: 2,
      }
      const answer = await send('POST', '/api/add/product', product, 201)
      if (answer) {
        owners.set(answer.body.id, customer.id)
        done('add product', [['product.created', 1]])
      }
    } else if (roll < 0.52 && owners.size > 0) {
      const id = pick([...owners.keys()])
      const owner = owners.get(id)!
      // To another of this writer's customers, or (one time in four) to nobody.
      const targets = [...customers.map((customer) => customer.id), null].filter((to) => to !== owner)
      await transfer(id, owner !== null && Math.random() < 0.25 ? null : pick(targets))
    } else if (roll < 0.64) {
      const customer = pick(customers)
      const answer = await send(
        'POST',
        '/api/open/customer/request',
        { customerid: customer.id, request: 'It broke.' },
        201,
      )
      if (answer) {
        customer.tickets++
        customer.open.push(answer.body.id)
        done('open ticket', [['ticket.opened', 1]])
      }
    } else if (roll < 0.74 && customers.some((customer) => customer.open.length > 0)) {
      const customer = pick(customers.filter((one) => one.open.length > 0))
      const id = customer.open.shift()!
      const answer = await send(
        'POST',
        '/api/close/customer/request',
        { id, resolved: true, resolution: 'Fixed.' },
        200,
      )
      if (answer) done('close ticket', [['ticket.closed', 1]])
    } else if (roll < 0.9) {
      const customer = pick(customers)
      const feedback = { customerid: customer.id, heading: 'About it', body: 'Works well.', nps: 8 }
      const product = owners.size > 0 && Math.random() < 0.5 ? pick([...owners.keys()]) : undefined
      const answer =
        product === undefined
          ? await send('POST', '/api/add/brand/feedback', feedback, 201)
          : await send('POST', '/api/add/product/feedback', { ...feedback, productid: product }, 201)
      if (answer) {
        customer.feedback++
        done('add feedback', [['feedback.created', 1]])
      }
    } else {
      // The customer with the most feedback and tickets: their products go to another customer (or
      // to nobody) first, then they go, with their feedback and tickets, each with its event.
      const customer = customers.reduce((most, one) =>
        one.feedback + one.tickets > most.feedback + most.tickets ? one : most,
      )
      const others = customers.filter((one) => one !== customer)
      let cleared = true
      for (const [id, owner] of owners) {
        if (owner !== customer.id) continue
        cleared = (await transfer(id, pick([...others.map((one) => one.id), null]))) && cleared
      }
      if (!cleared) continue
      const answer = await send('POST', '/api/delete/customer', { id: customer.id }, 200)
      if (answer) {
        customers.splice(customers.indexOf(customer), 1)
        done('delete customer', [
          ['feedback.deleted', customer.feedback],
          ['ticket.deleted', customer.tickets],
          ['customer.deleted', 1],
        ])
      }
    }
  }
}

/** Runs `count` writers through `instances` (each writer through them in turn) for `ms`. */
async function load(call: Client, instances: number[][], count: number, ms: number, tally: Tally, tag: string) {
  const until = Date.now() + ms
  await Promise.all(
    Array.from({ length: count }, (_, k) =>
      writer(call, instances[k % instances.length]!, `${tag}-w${k}`, until, tally),
    ),
  )
}

/** Missing, repeated and out-of-order ids of `read` against the table's `stored` ids. */
function compare(read: number[], stored: number[]) {
  const seen = new Set(read)
  const storedSet = new Set(stored)
  return {
    missing: stored.filter((id) => !seen.has(id)),
    repeated: read.length - seen.size,
    unknown: read.filter((id) => !storedSet.has(id)),
    backwards: read.filter((id, k) => k > 0 && id <= read[k - 1]!).length,
  }
}

t.test('the change feed with two instances writing to one PostgreSQL schema', async (t) => {
  t.setTimeout(75_000)
  const url = await postgresSchema(t)
  const setup = connect(url)
  await migrateToLatest(setup)
  const admin = await createKey(setup, 'Feed scale test', 'admin')
  await setup.destroy()

  const env = {
    DATABASE_URL: url,
    LOG_LEVEL: 'info',
    // The load is many requests a second with one key: the rate limit is not what is tested here.
    RATE_LIMIT_PER_MINUTE: '100000000',
    // Two servers and the test share this machine's cores: a slow moment must not be answered 503.
    MAX_EVENT_LOOP_DELAY_MS: '60000',
  }
  const servers = await Promise.all([1, 2].map(() => startServer(t, env)))
  const db = await connection(t, url)
  const statuses = new Map<number, number>()
  const call = clientOf(servers, admin.key, statuses)

  await t.test(
    'a reader following `next` sees every event once, in order, while 8 writers load both instances',
    async (t) => {
      const baseline = await newestId(db)
      const tally = newTally()
      const started = Date.now()
      let writing = true
      const writers = load(
        call,
        [
          [0, 1],
          [1, 0],
        ],
        WRITERS,
        LOAD_MS,
        tally,
        'load',
      ).finally(() => (writing = false))

      const read: number[] = []
      const wrongPages: string[] = []
      let after = baseline
      let pages = 0
      let atHead = 0
      let readErrors = 0
      const reader = async () => {
        for (;;) {
          const finalRead = !writing
          const answer = await call(pages++ % 2, 'GET', `/api/get/events?after=${after}&limit=${PAGE}`).catch(
            () => undefined,
          )
          if (answer?.status !== 200) {
            readErrors++
            if (readErrors > 20) throw new Error('the feed cannot be read')
            continue
          }
          const ids = (answer.body.events as { id: number }[]).map((event) => event.id)
          const inOrder = ids.every((id, k) => id > (k === 0 ? after : ids[k - 1]!))
          const next = ids.at(-1) ?? after
          if (!inOrder || answer.body.next !== next) {
            wrongPages.push(`after ${after}: ids ${ids.join(',')}, next ${answer.body.next}`)
          }
          read.push(...ids)
          after = answer.body.next
          // Once the writers are done, every change has committed: an empty page read after that is the end.
          if (finalRead && ids.length === 0) return
          if (ids.length < PAGE) {
            if (writing) atHead++
            await sleep(1)
          }
        }
      }
      // How many transactions wait for the schema's lock at a time: the writers' transactions overlap,
      // so that without the lock an id drawn earlier could commit after a later one was read.
      const watch = await connection(t, url)
      const waiters: number[] = []
      const watcher = async () => {
        while (writing) {
          const { rows } = await watch.query<{ count: number }>(
            "select count(*)::int as count from pg_locks where locktype = 'advisory' and not granted",
          )
          waiters.push(rows[0]!.count)
          await sleep(20)
        }
      }
      await Promise.all([writers, reader(), watcher()])
      const elapsed = (Date.now() - started) / 1000

      const stored = await tableIds(db, baseline)
      const { missing, repeated, unknown, backwards } = compare(read, stored)
      const changes = total(tally.changes)
      t.comment(
        `events written (rows in the table): ${stored.length}; events read: ${read.length}; missing: ${missing.length}; ` +
          `repeated: ${repeated}; out of order: ${backwards}`,
      )
      t.comment(
        `${changes} changes in ${elapsed.toFixed(1)} s: ${(changes / elapsed).toFixed(0)} writes/s, ` +
          `${(stored.length / elapsed).toFixed(0)} events/s; ${pages} pages read, ${atHead} of them at the head of the feed while writing`,
      )
      const contended = waiters.filter((count) => count > 0).length
      t.comment(
        `transactions waiting for the lock: at most ${Math.max(...waiters)} at once; some waiting in ` +
          `${contended} of ${waiters.length} samples`,
      )
      t.comment(`changes: ${[...tally.changes].map(([kind, n]) => `${n} × ${kind}`).join(', ')}`)
      t.strictSame(tally.unexpected.slice(0, 10), [], 'every change was answered as expected')
      t.equal(readErrors, 0, 'every page was answered 200')
      t.ok(stored.length > 100, `a real load: ${stored.length} events`)
      t.ok(Math.max(...waiters) >= 2, 'the transactions of several writers were under way at once')
      t.ok(atHead > 10, 'the reader kept up with the writers, reading at the head of the feed')
      t.strictSame(wrongPages.slice(0, 10), [], 'each page is in id order after `after`, and `next` is its last id')
      t.strictSame(missing.slice(0, 20), [], 'no event in the table was missed')
      t.equal(repeated, 0, 'no event was read twice')
      t.strictSame(unknown.slice(0, 20), [], 'no event was read that the table does not hold')
      t.equal(backwards, 0, 'ids were read strictly increasing')
      t.strictSame(read, stored, 'the reader read exactly the ids of the table, in order')

      const { rows } = await db.query<{ type: EventType; count: number }>(
        'select type, count(*)::int as count from events where id > $1 group by type',
        [baseline],
      )
      const byType = (entries: Iterable<[EventType, number]>) =>
        Object.fromEntries(EVENT_TYPES.map((type) => [type, new Map(entries).get(type) ?? 0]))
      t.equal(stored.length, total(tally.events), 'as many events as the successful changes make')
      t.strictSame(byType(rows.map((row) => [row.type, row.count])), byType(tally.events), 'and as many of each type')
    },
  )

  await t.test(
    'an event stream on one instance gets, in order and without a gap, the events made through the other',
    async (t) => {
      const baseline = await newestId(db)
      const received: { id: number; dataId: number; type: string; at: number }[] = []
      const errors: string[] = []
      const source = new EventSource(`http://127.0.0.1:${servers[0]!.port}/api/stream/events?after=${baseline}`, {
        fetch: (input, init) =>
          fetch(input, { ...init, headers: { ...init.headers, authorization: `Bearer ${admin.key}` } }),
      })
      t.teardown(() => source.close())
      for (const type of EVENT_TYPES) {
        source.addEventListener(type, (message) => {
          const event = JSON.parse(message.data as string) as { id: number }
          received.push({ id: Number(message.lastEventId), dataId: event.id, type: message.type, at: Date.now() })
        })
      }
      source.addEventListener('error', (error) => errors.push(`${error.code ?? ''} ${error.message ?? ''}`))
      await new Promise<void>((resolve, reject) => {
        source.addEventListener('open', () => resolve(), { once: true })
        setTimeout(() => reject(new Error('the stream did not open')), 10_000).unref()
      })

      const tally = newTally()
      await load(call, [[1]], 4, 3_000, tally, 'stream')
      const wroteUntil = Date.now()
      const newest = await newestId(db)
      const deadline = Date.now() + 10_000
      while ((received.at(-1)?.id ?? 0) < newest && Date.now() < deadline) await sleep(20)
      const last = received.at(-1)
      source.close()

      const stored = await tableIds(db, baseline)
      const ids = received.map((event) => event.id)
      const { missing, repeated, unknown, backwards } = compare(ids, stored)
      const lag = (last?.at ?? Infinity) - wroteUntil
      t.comment(
        `stream: events written ${stored.length}, received ${ids.length}, missing ${missing.length}, repeated ${repeated}; ` +
          `the last arrived ${lag} ms after the last change was answered`,
      )
      t.strictSame(tally.unexpected.slice(0, 10), [], 'every change was answered as expected')
      t.ok(stored.length > 50, `a real load: ${stored.length} events`)
      t.strictSame(errors, [], 'the stream never failed (nor reconnected)')
      t.strictSame(missing.slice(0, 20), [], 'no event was missed')
      t.equal(repeated, 0, 'none came twice')
      t.strictSame(unknown.slice(0, 20), [], 'none came that the table does not hold')
      t.equal(backwards, 0, 'ids came strictly increasing')
      t.strictSame(ids, stored, 'the stream sent exactly the ids of the table, in order')
      t.ok(
        received.every((event) => event.dataId === event.id && (EVENT_TYPES as readonly string[]).includes(event.type)),
        'each message names its event by `id:` and by its data, with its type as `event:`',
      )
      // The contract's second, with room for a machine busy with other work.
      t.ok(lag < 3000, `the last event arrived within 3 s of the last answer (${lag} ms)`)
    },
  )

  await t.test('the lock makes id order the commit order: an earlier transaction holds back a later one', async (t) => {
    const holder = await connection(t, url)
    const watch = await connection(t, url)
    const before = await newestId(db)
    const { rows: holderRows } = await holder.query<{ pid: number }>('select pg_backend_pid() as pid')
    const holderPid = holderRows[0]!.pid
    const feed = async (instance: number) => {
      const answer = await call(instance, 'GET', `/api/get/events?after=${before}`)
      t.equal(answer.status, 200)
      return answer.body.events as { id: number; type: string; entityid: number }[]
    }

    let a: number
    let request: Promise<Answer> | undefined
    await holder.query('begin')
    try {
      await holder.query(WRITE_LOCK)
      const inserted = await holder.query<{ id: number }>(
        `insert into events (type, time, entity, entityid, data)
         values ('customer.created', $1, 'customer', 1, '{}') returning id::int as id`,
        [new Date().toISOString()],
      )
      a = inserted.rows[0]!.id
      t.ok(a > before, `the open transaction drew event id ${a}`)

      request = call(0, 'POST', '/api/add/customer', newCustomer({ name: 'Late', email: 'late@example.com' }))
      request.catch(() => undefined)
      let waiting: { pid: number; locktype: string }[] = []
      const deadline = Date.now() + 10_000
      while (waiting.length === 0 && Date.now() < deadline) {
        await sleep(10)
        waiting = (
          await watch.query<{ pid: number; locktype: string }>(
            `select pid, locktype from pg_locks
             where not granted and $1::int = any(pg_blocking_pids(pid)) and pid <> pg_backend_pid()`,
            [holderPid],
          )
        ).rows
      }
      t.equal(waiting.length, 1, "the server's transaction waits for the open one")
      t.equal(waiting[0]?.locktype, 'advisory', 'for the advisory lock, taken as it begins')

      // Reads do not wait for the lock, and see neither event: one is not committed, the other not made.
      for (const instance of [0, 1]) {
        t.strictSame(await feed(instance), [], `instance ${instance + 1} shows neither yet`)
      }
    } finally {
      await holder.query('commit')
    }
    const answer = await request
    t.equal(answer?.status, 201, 'the request is answered once the lock is let go')
    const customerid = answer?.body.id as number

    for (const instance of [0, 1]) {
      const events = await feed(instance)
      t.match(
        events,
        [
          { id: a, type: 'customer.created', entityid: 1 },
          { type: 'customer.created', entityid: customerid },
        ],
        `instance ${instance + 1}: the held transaction's event, then the request's`,
      )
      t.equal(events.length, 2)
      t.ok(events[0]!.id < events[1]!.id, `A ${events[0]?.id} < B ${events[1]?.id}: ids in commit order`)
    }
  })

  await t.test('afterwards: no 5xx, no error logged, both instances still run', async (t) => {
    t.comment(`answers: ${[...statuses].map(([status, n]) => `${n} × ${status}`).join(', ')}`)
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
      servers.map((server) => logged(server, 'migration applied').length),
      [0, 0],
      'the schema was migrated before they started',
    )
    t.strictSame(
      servers.map((server) => server.child.exitCode),
      [null, null],
      'both instances still run',
    )
  })
})
