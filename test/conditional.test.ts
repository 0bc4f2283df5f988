// Conditional requests: ETags on customers, products and tickets; If-None-Match gives 304, If-Match guards changes (412).
import t from 'tap'
import { etagOf } from '../src/conditional.js'
import { build, client, type Client, newCustomer, newProduct, PROBLEM_JSON, problemBody, type Reply } from './helper.js'

const STRONG = /^"[\w-]{27}"$/

/** A customer, a product of theirs and a ticket of theirs, and the client that made them. */
async function records(t: Parameters<typeof build>[0]) {
  const app = await build(t)
  const api = client(app)
  const customer = await api.post('/api/add/customer', newCustomer())
  const product = await api.post('/api/add/product', newProduct(customer.body.id, { price: 19.99 }))
  const ticket = await api.post('/api/open/customer/request', { customerid: customer.body.id, request: 'It flickers' })
  return { app, api, customer, product, ticket }
}

/** The record at `url` by `id`, as a lookup answers it. */
const lookUp = (api: Client, url: string, id: number, headers: Record<string, string> = {}) =>
  api.get(url, { query: { id }, headers })

/** Checks that `res` is the 412 problem for `what`, whose ETag is now `etag`. */
function preconditionFailed(t: Parameters<typeof build>[0], res: Reply, what: string, sent: string, etag: string) {
  t.equal(res.status, 412, `${what}: 412`)
  t.equal(res.headers['content-type'], PROBLEM_JSON)
  t.same(
    res.body,
    problemBody(
      res,
      412,
      `${what} has changed since the ETag in If-Match (${sent}): its ETag is now ${etag}. ` +
        'Nothing was changed; get it again and decide on what it holds now.',
    ),
  )
}

t.test('a lookup by id answers with a strong ETag; If-None-Match with it gives 304 and no body', async (t) => {
  const { api, customer, product, ticket } = await records(t)
  for (const [url, created] of [
    ['/api/get/customer', customer],
    ['/api/get/product', product],
    ['/api/get/customer/request', ticket],
  ] as const) {
    t.equal(created.headers.etag, etagOf(created.body), `${url}: the create carries the ETag of its answer`)
    const res = await lookUp(api, url, created.body.id)
    const etag = res.headers.etag as string
    t.match(etag, STRONG, `${url}: a strong ETag`)
    t.equal(etag, etagOf(res.body), `${url}: the ETag of the record as shown`)
    t.equal((await lookUp(api, url, created.body.id)).headers.etag, etag, `${url}: the same while nothing changes`)
    for (const header of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const notModified = await lookUp(api, url, created.body.id, { 'if-none-match': header })
      t.equal(notModified.status, 304, `${url} If-None-Match ${header}: 304`)
      t.equal(notModified.text, '', 'no body')
      t.equal(notModified.headers.etag, etag, 'the ETag again')
    }
    const stale = await lookUp(api, url, created.body.id, { 'if-none-match': '"stale"' })
    t.equal(stale.status, 200, `${url}: an ETag that is not the current one gets the record`)
    t.same(stale.body, res.body)
  }
  const list = await api.get('/api/get/customer', {
    query: { name: 'Ada Lovelace' },
    headers: { 'if-none-match': '*' },
  })
  t.equal(list.status, 200, 'a list has no ETag, and If-None-Match does not apply to it')
  t.equal(list.headers.etag, undefined)
  t.equal(list.body.length, 1)
})

t.test("a customer's ETag changes with their revenue, when a product of theirs changes", async (t) => {
  const { api, customer, product } = await records(t)
  const before = (await lookUp(api, '/api/get/customer', customer.body.id)).headers.etag
  await api.post('/api/update/product', { id: product.body.id, price: 25 })
  const after = await lookUp(api, '/api/get/customer', customer.body.id)
  t.equal(after.body.revenue, 25)
  t.not(after.headers.etag, before, 'another ETag')
  const stale = await lookUp(api, '/api/get/customer', customer.body.id, { 'if-none-match': before as string })
  t.equal(stale.status, 200, 'the old ETag no longer gets a 304')
})

t.test(
  'If-Match on each change: a stale ETag is a 412 and nothing changes; the current one or * goes ahead',
  async (t) => {
    const { app, api, customer, product, ticket } = await records(t)
    const etags = async () => ({
      customer: (await lookUp(api, '/api/get/customer', customer.body.id)).headers.etag as string,
      product: (await lookUp(api, '/api/get/product', product.body.id)).headers.etag as string,
      ticket: (await lookUp(api, '/api/get/customer/request', ticket.body.id)).headers.etag as string,
    })
    const current = await etags()
    const stale = '"3q2-7wH4eXv9mS0tKQ1bZ3fL0aQ"'
    const weak = `W/${current.customer}`
    const ifMatch = (value: string) => ({ headers: { 'if-match': value } })
    const id = customer.body.id

    preconditionFailed(
      t,
      await api.post('/api/update/customer', { id, name: 'Ada King' }, ifMatch(stale)),
      `Customer ${id}`,
      stale,
      current.customer,
    )
    preconditionFailed(
      t,
      await api.post('/api/update/customer', { id, name: 'Ada King' }, ifMatch(weak)),
      `Customer ${id}`,
      weak,
      current.customer,
    )
    preconditionFailed(
      t,
      await api.post('/api/update/product', { id: product.body.id, warranty: 5 }, ifMatch(stale)),
      `Product ${product.body.id}`,
      stale,
      current.product,
    )
    preconditionFailed(
      t,
      await api.post(
        '/api/close/customer/request',
        { id: ticket.body.id, resolved: true, resolution: 'New bulb' },
        ifMatch(stale),
      ),
      `Ticket ${ticket.body.id}`,
      stale,
      current.ticket,
    )
    preconditionFailed(
      t,
      await api.post('/api/delete/product', { id: product.body.id }, ifMatch(stale)),
      `Product ${product.body.id}`,
      stale,
      current.product,
    )
    for (const method of ['GET', 'DELETE'] as const) {
      preconditionFailed(
        t,
        await api.call(method, '/api/delete/customer', { query: { id }, ...ifMatch(stale) }),
        `Customer ${id}`,
        stale,
        current.customer,
      )
    }
    preconditionFailed(
      t,
      await api.post('/api/delete/customer', { id }, ifMatch(stale)),
      `Customer ${id}`,
      stale,
      current.customer,
    )
    t.same(await etags(), current, 'nothing changed')
    t.equal((await app.db.selectFrom('products').select('id').execute()).length, 1, 'the product is still there')

    const updated = await api.post('/api/update/customer', { id, name: 'Ada King' }, ifMatch(current.customer))
    t.equal(updated.status, 200, 'the current ETag: the change is made')
    t.equal(updated.body.name, 'Ada King')
    t.equal(updated.headers.etag, etagOf(updated.body), 'the answer carries the new ETag')
    t.equal(updated.headers.etag, (await etags()).customer, 'the one a lookup gives')
    const listed = await api.post(
      '/api/update/product',
      { id: product.body.id, warranty: 5 },
      ifMatch(`"x", ${current.product}`),
    )
    t.equal(listed.status, 200, 'one of several ETags listed')
    t.equal(listed.headers.etag, etagOf(listed.body))
    const closed = await api.post(
      '/api/close/customer/request',
      { id: ticket.body.id, resolved: true, resolution: 'New bulb' },
      ifMatch('*'),
    )
    t.equal(closed.status, 200, '* matches any existing record')
    t.equal(closed.headers.etag, etagOf(closed.body))
    const missing = await api.post('/api/update/customer', { id: 999, name: 'Nobody' }, ifMatch('*'))
    t.equal(missing.status, 404, 'a record that does not exist is a 404, whatever If-Match says')
    const deleted = await api.post('/api/delete/product', { id: product.body.id }, ifMatch((await etags()).product))
    t.same(deleted.body, { deleted: [product.body.id] }, 'a delete with the current ETag')
    const gone = await api.call('DELETE', '/api/delete/customer', {
      query: { id },
      ...ifMatch((await etags()).customer),
    })
    t.same(gone.body, { deleted: [id] })
    t.equal(
      (await api.post('/api/update/customer', { id, name: 'Ada' })).status,
      404,
      'without If-Match, changes are made as before',
    )
  },
)

t.test('two writers holding the same ETag at the same moment: one 200, one 412', async (t) => {
  const { api, customer, product } = await records(t)
  for (let round = 0; round < 5; round++) {
    const etag = (await lookUp(api, '/api/get/customer', customer.body.id)).headers.etag as string
    const answers = await Promise.all(
      ['Ada A', 'Ada B'].map((name) =>
        api.post('/api/update/customer', { id: customer.body.id, name }, { headers: { 'if-match': etag } }),
      ),
    )
    t.same(answers.map((res) => res.status).sort(), [200, 412], `round ${round}: one wins`)
    const winner = answers.find((res) => res.status === 200)!
    t.same((await lookUp(api, '/api/get/customer', customer.body.id)).body, winner.body, 'the winner is stored')
  }
  const etag = (await lookUp(api, '/api/get/product', product.body.id)).headers.etag as string
  const transfers = await Promise.all(
    [null, customer.body.id].map((changeto) =>
      api.post('/api/update/product', { id: product.body.id, changeto }, { headers: { 'if-match': etag } }),
    ),
  )
  t.same(transfers.map((res) => res.status).sort(), [200, 412], 'of two transfers, one')
})
