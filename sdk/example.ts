// An example program on the generated client: the CRM API's main flows, as an integrator writes them.
// Run it against a server: `CRM_API_KEY=<key> npx tsx sdk/example.ts http://127.0.0.1:3000`; any unexpected
// answer fails it.
import { randomUUID } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import {
  type CrmClient,
  type Customer,
  type CustomerRequest,
  type Event as FeedEvent,
  type EventPage,
  type Problem,
  type Product,
  createCrmClient,
  type operations,
} from './client.js'

/** An answer as openapi-fetch gives it: the data of a success, or the problem details of a failure (the document
 * gives every failure the Problem schema, so openapi-fetch types `error` as one). */
interface Answer<T> {
  data?: T
  error?: Problem
  response: Response
}

/** What the flows saw, step by step. */
export interface FlowReport {
  /** The change feed's `next` before the flows began: their events come after it. */
  feedStart: number
  /** The Idempotency-Key the first customer was added with (a new UUID each run). */
  idempotencyKey: string
  /** The customer added first, who buys the product. */
  customer: Customer
  /** The answer to the same add-customer request sent again with its Idempotency-Key: the first one, replayed. */
  retried: Customer
  /** Whether that answer said `Idempotent-Replayed: true`. */
  replayed: boolean
  /** The 422 for sending that Idempotency-Key with another request. */
  reusedKey: Problem
  foundById: Customer
  /** The ETag the lookup by id answered with. */
  etag: string
  /** The customers found by the first one's name, written in capitals (names ignore case). */
  foundByName: Customer[]
  /** The first customer after a change sent with `If-Match: <etag>`: given a phone number. */
  updated: Customer
  /** The ETag the change answered with. */
  updatedEtag: string
  /** The 412 for another change sent with the old ETag, which no longer matches. */
  staleUpdate: Problem
  /** The status of a lookup by id with `If-None-Match: <updatedEtag>`: 304, nothing changed since. */
  notModified: number
  /** The customer added second, who receives the product. */
  recipient: Customer
  /** The product as added, owned by `customer`. */
  product: Product
  /** The product after its transfer to `recipient`. */
  transferred: Product
  /** The recipient's revenue read after the transfer. */
  recipientRevenue: number
  ticket: CustomerRequest
  closed: CustomerRequest
  /** The 409 for adding a customer with the first one's e-mail address, in capitals. */
  duplicateEmail: Problem
  /** The 409 for closing the closed ticket again. */
  closedAgain: Problem
  /** The first customer's history in the change feed since `feedStart`: what the flows did to them, in order. */
  feed: FeedEvent[]
}

export interface FlowOptions {
  /** Where each step's account goes (nowhere unless given). */
  log?: (line: string) => void
  /** Marks this run's names and e-mail addresses, so the flows can run again on a server that keeps its data. */
  tag?: string
}

/** The data of an answer with the `expected` status; any other answer throws, naming the step. */
function expectData<T>({ data, error, response }: Answer<T>, expected: number, step: string): T {
  if (response.status === expected && data !== undefined) return data
  const problem = error?.detail ? `: ${error.detail}` : ''
  throw new Error(`${step}: expected status ${expected}, got ${response.status}${problem}`)
}

/** The problem details of an answer that must fail with `expected`; anything else throws, naming the step. */
function expectProblem<T>({ error, response }: Answer<T>, expected: number, step: string): Problem {
  if (response.status === expected && error?.status === expected) return error
  throw new Error(`${step}: expected a ${expected} with problem details, got ${response.status}`)
}

/** The status of an answer without a body (a 304, say) that must be `expected`; anything else throws, naming the step. */
function expectStatus<T>({ data, response }: Answer<T>, expected: number, step: string): number {
  if (response.status === expected && data === undefined) return expected
  throw new Error(`${step}: expected status ${expected} with no body, got ${response.status}`)
}

/** The ETag an answer carries: the record's version, to send back in If-Match or If-None-Match. */
function etagOf<T>({ response }: Answer<T>, step: string): string {
  const etag = response.headers.get('etag')
  if (etag === null) throw new Error(`${step}: the answer has no ETag`)
  return etag
}

/** The one record a lookup by id answers with (the same operation answers a list for other keys). */
function one<T>(value: T | T[], step: string): T {
  if (Array.isArray(value)) throw new Error(`${step}: expected one record, got a list`)
  return value
}

/** The list a lookup by name or owner answers with. */
function list<T>(value: T | T[], step: string): T[] {
  if (!Array.isArray(value)) throw new Error(`${step}: expected a list, got one record`)
  return value
}

/** Throws with `message` unless `condition` holds: for answers of the right status but the wrong content. */
function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(message)
}

/** The filters of the change feed: `type`, and `entity` with `entityid` for one record's history. */
type FeedFilter = Omit<NonNullable<operations['getEvents']['parameters']['query']>, 'after' | 'limit'>

/**
 * The change feed after `after`, page by page, as `filter` narrows it: each page asks for the events after the last
 * one's `next`, until a page comes back empty. That last page's `next` is where to ask again later.
 */
async function* feedPages(crm: CrmClient, after: number, filter: FeedFilter, step: string): AsyncGenerator<EventPage> {
  for (;;) {
    const page = expectData(
      await crm.GET('/api/get/events', { params: { query: { ...filter, after, limit: 1000 } } }),
      200,
      step,
    )
    yield page
    if (page.events.length === 0) return
    after = page.next
  }
}

/** Runs the main flows against the CRM API at `baseUrl` and reports what they saw; throws at the first surprise. */
export async function runFlows(baseUrl: string, key: string, options: FlowOptions = {}): Promise<FlowReport> {
  const log = options.log ?? (() => undefined)
  const tag = options.tag ?? Date.now().toString(36)
  const crm = createCrmClient(baseUrl, key)

  // Where the change feed ends now: the flows' own changes are the events after it.
  let feedStart = 0
  for await (const page of feedPages(crm, 0, {}, 'find the end of the change feed')) feedStart = page.next
  log(`The change feed ends at event #${feedStart}`)

  // A change sent with an Idempotency-Key can be sent again (after a timeout, say) without being made twice.
  const idempotencyKey = randomUUID()
  const addAda = {
    body: {
      name: `Ada Lovelace (${tag})`,
      email: `ada.${tag}@example.com`,
      address: '12 St James Square, London',
      optemail: true,
      status: 'active' as const,
    },
    params: { header: { 'idempotency-key': idempotencyKey } },
  }
  const customer = expectData(await crm.POST('/api/add/customer', addAda), 201, 'add customer')
  log(`Added customer #${customer.id}: ${customer.name} <${customer.email}>, ${customer.status}`)

  const retry = await crm.POST('/api/add/customer', addAda)
  const retried = expectData(retry, 201, 'add customer again')
  const replayed = retry.response.headers.get('idempotent-replayed') === 'true'
  check(replayed, 'add customer again: the answer is not marked Idempotent-Replayed: true')
  check(retried.id === customer.id, `add customer again: customer #${retried.id} was added beside #${customer.id}`)
  log(
    `Sent the same request again with its Idempotency-Key: ${retry.response.status}, customer #${retried.id} replayed`,
  )

  const reusedKey = expectProblem(
    await crm.POST('/api/add/customer', { ...addAda, body: { ...addAda.body, optchat: true } }),
    422,
    'add another customer with the same Idempotency-Key',
  )
  log(`Sent another request with that Idempotency-Key: ${reusedKey.status} ${reusedKey.title}: ${reusedKey.detail}`)

  const byId = await crm.GET('/api/get/customer', { params: { query: { id: customer.id } } })
  const foundById = one(expectData(byId, 200, 'get customer by id'), 'get customer by id')
  check(foundById.id === customer.id, `get customer by id: asked for #${customer.id}, got #${foundById.id}`)
  const etag = etagOf(byId, 'get customer by id')
  log(`Found customer #${foundById.id} by id: ${foundById.name}, revenue ${foundById.revenue}`)

  const name = customer.name.toUpperCase()
  const byName = await crm.GET('/api/get/customer', { params: { query: { name } } })
  const foundByName = list(expectData(byName, 200, 'get customers by name'), 'get customers by name')
  check(
    foundByName.some((found) => found.id === customer.id),
    `get customers by name: #${customer.id} is not among those named "${name}"`,
  )
  log(
    `Found ${foundByName.length} customer(s) named "${name}": ${foundByName.map((found) => `#${found.id}`).join(', ')}`,
  )

  // A change sent with `If-Match: <the ETag read>` is made only if nobody changed the record since it was read.
  const update = await crm.POST('/api/update/customer', {
    body: { id: customer.id, phone: '+44 20 7946 0958' },
    params: { header: { 'if-match': etag } },
  })
  const updated = expectData(update, 200, 'update customer if unchanged')
  const updatedEtag = etagOf(update, 'update customer if unchanged')
  log(`Updated customer #${updated.id} with If-Match ${etag}: phone ${updated.phone}, ETag now ${updatedEtag}`)

  const staleUpdate = expectProblem(
    await crm.POST('/api/update/customer', {
      body: { id: customer.id, status: 'inactive' },
      params: { header: { 'if-match': etag } },
    }),
    412,
    'update customer with an old ETag',
  )
  log(
    `Updating customer #${customer.id} with the old ETag: ${staleUpdate.status} ${staleUpdate.title}: ${staleUpdate.detail}`,
  )

  // A lookup with `If-None-Match: <the ETag held>` answers 304, without the record, while it is unchanged.
  const notModified = expectStatus(
    await crm.GET('/api/get/customer', {
      params: { query: { id: customer.id }, header: { 'if-none-match': updatedEtag } },
    }),
    304,
    'get customer if changed',
  )
  log(`Looked up customer #${customer.id} with If-None-Match ${updatedEtag}: ${notModified}, unchanged`)

  const recipient = expectData(
    await crm.POST('/api/add/customer', {
      body: {
        name: `Grace Hopper (${tag})`,
        email: `grace.${tag}@example.com`,
        address: '1 Navy Way, Arlington',
        status: 'active',
      },
    }),
    201,
    'add second customer',
  )
  log(`Added customer #${recipient.id}: ${recipient.name} <${recipient.email}>, ${recipient.status}`)

  const product = expectData(
    await crm.POST('/api/add/product', {
      body: { name: 'Espresso machine', price: 249.99, purchased: '2024-02-29', warranty: 2, customerid: customer.id },
    }),
    201,
    'add product',
  )
  log(
    `Added product #${product.id}: ${product.name}, ${product.price}, owned by #${product.customerid}, ` +
      `warranty until ${product.expires}`,
  )

  const transferred = expectData(
    await crm.POST('/api/update/product', { body: { id: product.id, changeto: recipient.id } }),
    200,
    'transfer product',
  )
  check(
    transferred.customerid === recipient.id,
    `transfer product: owned by #${transferred.customerid}, not #${recipient.id}`,
  )
  log(`Transferred product #${transferred.id} from customer #${product.customerid} to #${transferred.customerid}`)

  const recipientNow = await crm.GET('/api/get/customer', { params: { query: { id: recipient.id } } })
  const recipientRevenue = one(expectData(recipientNow, 200, 'get recipient'), 'get recipient').revenue
  log(`Customer #${recipient.id}'s revenue is now ${recipientRevenue}`)

  const ticket = expectData(
    await crm.POST('/api/open/customer/request', {
      body: { customerid: recipient.id, request: 'My espresso machine leaks water.' },
    }),
    201,
    'open ticket',
  )
  log(`Opened ticket #${ticket.id} for customer #${ticket.customerid}: "${ticket.request}"`)

  const resolution = 'Replaced the gasket under warranty.'
  const closed = expectData(
    await crm.POST('/api/close/customer/request', { body: { id: ticket.id, resolved: true, resolution } }),
    200,
    'close ticket',
  )
  check(closed.closed !== null, `close ticket: #${closed.id} is still open`)
  log(
    `Closed ticket #${closed.id} at ${closed.closed}, ${closed.resolved ? 'resolved' : 'unresolved'}: "${closed.resolution}"`,
  )

  const email = customer.email.toUpperCase()
  const duplicateEmail = expectProblem(
    await crm.POST('/api/add/customer', {
      body: { name: 'Ada King', email, address: 'Ockham Park, Surrey', status: 'active' },
    }),
    409,
    'add customer with a used e-mail address',
  )
  log(
    `Adding a customer with ${email} again: ${duplicateEmail.status} ${duplicateEmail.title}: ${duplicateEmail.detail}`,
  )

  const closedAgain = expectProblem(
    await crm.POST('/api/close/customer/request', { body: { id: ticket.id, resolved: false, resolution: 'Again.' } }),
    409,
    'close the closed ticket',
  )
  log(`Closing ticket #${ticket.id} again: ${closedAgain.status} ${closedAgain.title}: ${closedAgain.detail}`)

  // What the flows did to the first customer, read back from the change feed: their events after `feedStart`.
  const feed: FeedEvent[] = []
  const history = { entity: 'customer', entityid: customer.id } as const
  for await (const page of feedPages(crm, feedStart, history, "read the customer's history")) feed.push(...page.events)
  check(
    feed.every((event) => event.entity === 'customer' && event.entityid === customer.id),
    `read the customer's history: events of other records among #${customer.id}'s`,
  )
  log(
    `Customer #${customer.id}'s history since event #${feedStart}: ` +
      feed.map((event) => event.type + (event.changes ? ` (${Object.keys(event.changes).join(', ')})` : '')).join(', '),
  )

  return {
    feedStart,
    idempotencyKey,
    customer,
    retried,
    replayed,
    reusedKey,
    foundById,
    etag,
    foundByName,
    updated,
    updatedEtag,
    staleUpdate,
    notModified,
    recipient,
    product,
    transferred,
    recipientRevenue,
    ticket,
    closed,
    duplicateEmail,
    closedAgain,
    feed,
  }
}

/** A failure for a person to read: its message, and the cause a failed fetch carries (a refused connection, say). */
function describeFailure(failure: unknown): string {
  if (!(failure instanceof Error)) return String(failure)
  return failure.cause instanceof Error ? `${failure.message} (${failure.cause.message})` : failure.message
}

/**
 * Runs the flows against the server named on the command line with the key in `CRM_API_KEY`,
 * printing each step; exit code 1 when one fails.
 */
async function main(baseUrl = 'http://127.0.0.1:3000'): Promise<void> {
  console.log(`Running the CRM flows against ${baseUrl}`)
  try {
    await runFlows(baseUrl, process.env.CRM_API_KEY ?? '', { log: (line) => console.log(`  ${line}`) })
    console.log('Every flow answered as expected.')
  } catch (failure) {
    console.error(`Failed: ${describeFailure(failure)}`)
    process.exitCode = 1
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv[2])
}
