// An example program on the generated client: the CRM API's main flows, as an integrator writes them.
// Run it against a server: `CRM_API_KEY=<key> npx tsx sdk/example.ts http://127.0.0.1:3000`; any unexpected
// answer fails it.
import { pathToFileURL } from 'node:url'
import { type Customer, type CustomerRequest, type Problem, type Product, createCrmClient } from './client.js'

/** An answer as openapi-fetch gives it: the data of a success, or the problem details of a failure (the document
 * gives every failure the Problem schema, so openapi-fetch types `error` as one). */
interface Answer<T> {
  data?: T
  error?: Problem
  response: Response
}

/** What the flows saw, step by step. */
export interface FlowReport {
  /** The customer added first, who buys the product. */
  customer: Customer
  foundById: Customer
  /** The customers found by the first one's name, written in capitals (names ignore case). */
  foundByName: Customer[]
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

/** Runs the main flows against the CRM API at `baseUrl` and reports what they saw; throws at the first surprise. */
export async function runFlows(baseUrl: string, key: string, options: FlowOptions = {}): Promise<FlowReport> {
  const log = options.log ?? (() => undefined)
  const tag = options.tag ?? Date.now().toString(36)
  const crm = createCrmClient(baseUrl, key)

  const customer = expectData(
    await crm.POST('/api/add/customer', {
      body: {
        name: `Ada Lovelace (${tag})`,
        email: `ada.${tag}@example.com`,
        address: '12 St James Square, London',
        optemail: true,
        status: 'active',
      },
    }),
    201,
    'add customer',
  )
  log(`Added customer #${customer.id}: ${customer.name} <${customer.email}>, ${customer.status}`)

  const byId = await crm.GET('/api/get/customer', { params: { query: { id: customer.id } } })
  const foundById = one(expectData(byId, 200, 'get customer by id'), 'get customer by id')
  check(foundById.id === customer.id, `get customer by id: asked for #${customer.id}, got #${foundById.id}`)
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

  return {
    customer,
    foundById,
    foundByName,
    recipient,
    product,
    transferred,
    recipientRevenue,
    ticket,
    closed,
    duplicateEmail,
    closedAgain,
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
