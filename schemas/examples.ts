// The examples of the OpenAPI document, as one story: Ada Lovelace becomes customer 1, buys an espresso
// machine, gives feedback, opens and closes a ticket; the machine then goes to customer 2. Each request
// example and the answer it gets are kept together here, so they fit; test/examples.test.ts plays the
// story against the API and compares every answer with its example (times aside).

/** The times the story happens at (the server sets them; the test does not compare them). */
const at = (minute: number) => `2026-11-29T15:${String(minute).padStart(2, '0')}:00.000Z`

export const newCustomer = {
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  address: '12 St James Square, London',
  phone: '+44 20 7946 0958',
  optemail: true,
  status: 'active',
} as const

/** `addCustomer` answers with the whole record: the flags not given are false, and she owns nothing yet. */
export const customer = {
  id: 1,
  ...newCustomer,
  optphone: false,
  optchat: false,
  revenue: 0,
  created: at(0),
  updated: at(0),
} as const

/** Customer 2, whom the story needs to receive the product; added like customer 1. */
export const secondCustomer = {
  name: 'Grace Hopper',
  email: 'grace@example.com',
  address: '1 Navy Way, Arlington',
  status: 'active',
} as const

export const newProduct = {
  name: 'Espresso machine',
  price: 249.99,
  purchased: '2024-02-29',
  customerid: 1,
  warranty: 2,
} as const

export const product = {
  id: 1,
  ...newProduct,
  expires: '2026-02-28',
  created: at(2),
  updated: at(2),
} as const

/** `getCustomer` once the product is hers: `revenue` is its price. */
export const customerWithProduct = { ...customer, revenue: 249.99 } as const

export const customerChange = { id: 1, status: 'inactive', optemail: false } as const
export const changedCustomer = { ...customerWithProduct, ...customerChange, updated: at(3) } as const

export const newBrandFeedback = {
  customerid: 1,
  heading: 'Great service',
  body: 'Quick and friendly.',
  nps: 9,
} as const
export const brandFeedback = { id: 1, ...newBrandFeedback, created: at(4) } as const

export const newProductFeedback = {
  productid: 1,
  customerid: 1,
  heading: 'Loud grinder',
  body: 'Works well, but noisy.',
  nps: 7,
} as const
export const productFeedback = { id: 1, ...newProductFeedback, created: at(5) } as const

export const newTicket = { request: 'My espresso machine leaks water.', customerid: 1 } as const
export const openTicket = {
  id: 1,
  ...newTicket,
  resolved: false,
  resolution: null,
  opened: at(6),
  closed: null,
} as const

export const ticketClosing = { id: 1, resolved: true, resolution: 'Replaced the gasket under warranty.' } as const
export const closedTicket = {
  ...openTicket,
  resolved: true,
  resolution: ticketClosing.resolution,
  closed: at(7),
} as const

/** The product goes to customer 2 with a year more of warranty. */
export const productChange = { id: 1, warranty: 3, changeto: 2 } as const
export const changedProduct = { ...product, warranty: 3, expires: '2027-02-28', customerid: 2, updated: at(8) } as const

/** Who asks for an export, and the record it leaves: Grace, with her admin key (key 1, below). */
export const exportRequester = { name: 'Grace', surname: 'Hopper', email: 'grace@example.com' } as const
export const exportRecord = {
  id: 1,
  kind: 'customers',
  format: 'xlsx',
  ...exportRequester,
  keyid: 1,
  keyprefix: 'crm_Ab12Cd34',
  keyrole: 'admin',
  rows: 2,
  completed: true,
  requestid: 'req-1',
  created: at(9),
} as const

/** A customer list uploaded later: two rows stored, one refused. */
export const uploadReport = {
  id: 1,
  kind: 'customers',
  mode: 'insert',
  filename: 'customers.csv',
  rows: 3,
  inserted: 2,
  updated: 0,
  skipped: 1,
  errors: [{ row: 2, reason: 'Email must be an e-mail address' }],
  created: at(10),
} as const

/** Deleting the product (now customer 2's), then customer 1, who owns nothing any more. */
export const productDeletion = { id: 1 } as const
export const deleted = { deleted: [1] } as const

/** Grace, an admin, makes a key for the accounts office; it lists as number 2 (1 is hers), then is revoked. */
export const newKey = { name: 'Accounts office', role: 'editor' } as const
export const createdKey = {
  id: 2,
  ...newKey,
  prefix: 'crm_Xy3kP9aQ',
  created: at(11),
  revoked: null,
  key: 'crm_Xy3kP9aQ7mW2vB8nR4tL6cJ1hF5gD0sE9uZ3yK7xA2w',
} as const
const { key: _secret, ...listedKey } = createdKey
export const keyList = [
  { id: 1, name: 'First admin key', role: 'admin', prefix: 'crm_Ab12Cd34', created: at(0), revoked: null },
  listedKey,
] as const
export const keyRevocation = { id: 2 } as const
export const revokedKey = { ...listedKey, revoked: at(12) } as const

/**
 * The change feed: Ada's change above as its event (the fourth: after the two customers were added and
 * the product), made with Grace's admin key, and the page of the feed that holds it.
 */
export const event = {
  id: 4,
  type: 'customer.updated',
  time: at(3),
  entity: 'customer',
  entityid: 1,
  data: changedCustomer,
  changes: { status: { from: 'active', to: 'inactive' }, optemail: { from: true, to: false } },
  actor: { key: 'crm_Ab12Cd34', role: 'admin' },
  requestid: 'req-4',
  uploadid: null,
} as const
export const eventsAfter = { after: 3, limit: 1 } as const
export const eventPage = { events: [event], next: 4 } as const

/** Grace adds a webhook for the shop's system, which takes customer events and closed tickets. */
export const newWebhook = {
  url: 'https://hooks.example.com/crm',
  types: ['customer.*', 'ticket.closed'],
  description: 'Sync to the shop',
} as const
export const webhook = {
  id: 1,
  ...newWebhook,
  enabled: true,
  disabledreason: null,
  created: at(13),
  updated: at(13),
} as const
export const createdWebhook = { ...webhook, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw7Qd3YyT4Kjg=' } as const
export const webhookChange = { id: 1, types: ['customer.*', 'ticket.*'] } as const
export const webhookId = { id: 1 } as const
export const changedWebhook = { ...webhook, ...webhookChange, updated: at(14) } as const
export const rotatedWebhook = {
  ...changedWebhook,
  secret: 'whsec_b3JJ0Fq9w2pQ6k1yXv8s4tZ7mN5cR0aE3hL9uJ2dG6o=',
} as const
/** Its delivery log: event 9 failed once (the receiver was down), then went through. */
export const attempts = [
  {
    eventid: 9,
    attempt: 2,
    time: at(16),
    status: 'delivered',
    code: 204,
    duration_ms: 41,
    error: null,
    next_attempt: null,
  },
  {
    eventid: 9,
    attempt: 1,
    time: at(15),
    status: 'pending',
    code: 503,
    duration_ms: 12,
    error: 'HTTP 503',
    next_attempt: at(16),
  },
] as const
export const redeliveryRequest = { id: 1, eventid: 9 } as const
export const redelivery = { ...redeliveryRequest, next_attempt: at(17) } as const
