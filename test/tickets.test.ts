// The ticket endpoints, rule by rule: open, close, get and list, and what is stored.
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { build, client, newCustomer, PROBLEM_JSON, problemBody, type Client, type TestApp } from './helper.js'

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

const storedTickets = (app: TestApp) => app.db.selectFrom('customer_requests').selectAll().orderBy('id').execute()

/** An app with Ada (customer 1) and Grace (customer 2). */
async function withCustomers(t: Test): Promise<{ app: TestApp; api: Client }> {
  const app = await build(t)
  const api = client(app)
  t.equal((await api.post('/api/add/customer', newCustomer())).status, 201)
  t.equal((await api.post('/api/add/customer', newCustomer({ name: 'Grace', email: 'grace@example.com' }))).status, 201)
  return { app, api }
}

const LEAK = 'My espresso machine leaks water.'
const FIXED = 'Replaced the gasket under warranty.'
const LINES =
  'must be text with a visible character, without control characters or text direction controls (tabs and line breaks as CR or LF are allowed)'

t.test('open a ticket', async (t) => {
  t.test('201 with the whole open ticket; the row is stored, opened at the time of the request', async (t) => {
    const { app, api } = await withCustomers(t)
    const before = Date.now()
    const res = await api.post('/api/open/customer/request', { request: LEAK, customerid: 1 })
    t.equal(res.status, 201)
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
    t.match(res.body.opened, ISO)
    t.ok(Date.parse(res.body.opened) >= before && Date.parse(res.body.opened) <= Date.now(), 'opened is now')
    t.same(res.body, {
      id: 1,
      customerid: 1,
      request: LEAK,
      resolved: false,
      resolution: null,
      opened: res.body.opened,
      closed: null,
    })
    t.same(await storedTickets(app), [
      { id: 1, customerid: 1, request: LEAK, resolved: 0, resolution: null, opened: res.body.opened, closed: null },
    ])
  })

  t.test('customerid as a string; a request over several lines; each ticket opened at its own time', async (t) => {
    const { app, api } = await withCustomers(t)
    const first = await api.post('/api/open/customer/request', { request: 'Line one\nLine two', customerid: '2' })
    t.equal(first.status, 201)
    await sleep(5)
    const second = await api.post('/api/open/customer/request', { request: LEAK, customerid: 2 })
    t.equal(second.status, 201)
    t.same(first.body, {
      id: 1,
      customerid: 2,
      request: 'Line one\nLine two',
      resolved: false,
      resolution: null,
      opened: first.body.opened,
      closed: null,
    })
    t.not(second.body.opened, first.body.opened)
    t.ok(Date.parse(second.body.opened) > Date.parse(first.body.opened), 'opened increases with time')
    t.same(
      (await storedTickets(app)).map((row) => [row.customerid, row.opened]),
      [
        [2, first.body.opened],
        [2, second.body.opened],
      ],
    )
  })

  t.test('404 for a customer who does not exist; nothing stored', async (t) => {
    const { app, api } = await withCustomers(t)
    const res = await api.post('/api/open/customer/request', { request: LEAK, customerid: 99 })
    t.equal(res.status, 404)
    t.equal(res.headers['content-type'], PROBLEM_JSON)
    t.same(res.body, problemBody(res, 404, 'Customer 99 does not exist.'))
    t.same(await storedTickets(app), [])
  })

  t.test('400 for a missing, blank or over-long request, a bad customerid or an unknown field', async (t) => {
    const { app, api } = await withCustomers(t)
    const none = await api.post('/api/open/customer/request', {})
    t.equal(none.status, 400)
    t.same(
      none.body,
      problemBody(none, 400, 'The request has 2 invalid fields: request is required; customerid is required.', [
        { field: 'request', message: 'is required' },
        { field: 'customerid', message: 'is required' },
      ]),
    )
    t.same(
      none.body.errors.sort((a: { field: string }, b: { field: string }) => a.field.localeCompare(b.field)),
      [
        { field: 'customerid', message: 'is required' },
        { field: 'request', message: 'is required' },
      ],
    )
    const cases: [Record<string, unknown>, string, string][] = [
      [{ customerid: 1 }, 'request', 'is required'],
      [{ request: LEAK }, 'customerid', 'is required'],
      [{ request: '   ', customerid: 1 }, 'request', LINES],
      [{ request: '', customerid: 1 }, 'request', LINES],
      [{ request: 'x'.repeat(5001), customerid: 1 }, 'request', 'must NOT have more than 5000 characters'],
      [{ request: LEAK, customerid: 'one' }, 'customerid', 'must be integer'],
      [{ request: LEAK, customerid: 1, resolved: true }, 'resolved', 'is not a known field'],
      [{ request: LEAK, customerid: 1, reqeust: 'typo' }, 'reqeust', 'is not a known field'],
    ]
    for (const [body, field, message] of cases) {
      const res = await api.post('/api/open/customer/request', body)
      t.equal(res.status, 400, JSON.stringify(body).slice(0, 60))
      t.same(res.body.errors, [{ field, message }], JSON.stringify(body).slice(0, 60))
    }
    t.same(await storedTickets(app), [])
  })
})

t.test('close a ticket', async (t) => {
  t.test('200 with the outcome and the closing time; the row is updated', async (t) => {
    const { app, api } = await withCustomers(t)
    const opened = (await api.post('/api/open/customer/request', { request: LEAK, customerid: 1 })).body
    await sleep(5)
    const res = await api.post('/api/close/customer/request', { id: opened.id, resolved: true, resolution: FIXED })
    t.equal(res.status, 200)
    t.match(res.body.closed, ISO)
    t.ok(Date.parse(res.body.closed) > Date.parse(opened.opened), 'closed is later than opened')
    t.ok(Date.parse(res.body.closed) <= Date.now())
    t.same(res.body, { ...opened, resolved: true, resolution: FIXED, closed: res.body.closed })
    const row = { id: 1, customerid: 1, request: LEAK, resolved: 1, resolution: FIXED, opened: opened.opened }
    t.same(await storedTickets(app), [{ ...row, closed: res.body.closed }])
    t.same((await api.get('/api/get/customer/request', { query: { id: 1 } })).body, res.body)
  })

  t.test('resolved is true or false, also as "true" or "false"; id may be a string', async (t) => {
    const { app, api } = await withCustomers(t)
    const cases: [unknown, boolean][] = [
      [true, true],
      [false, false],
      ['true', true],
      ['false', false],
    ]
    for (const [resolved, expected] of cases) {
      const { id } = (await api.post('/api/open/customer/request', { request: LEAK, customerid: 1 })).body
      const res = await api.post('/api/close/customer/request', { id: String(id), resolved, resolution: 'Done.\nBye.' })
      t.equal(res.status, 200, `resolved ${JSON.stringify(resolved)}`)
      t.equal(res.body.resolved, expected, `resolved ${JSON.stringify(resolved)}`)
    }
    t.same(
      (await storedTickets(app)).map((row) => row.resolved),
      [1, 0, 1, 0],
    )
    t.same(
      (await storedTickets(app)).map((row) => [row.resolution, ISO.test(row.closed ?? '')]),
      Array.from({ length: 4 }, () => ['Done.\nBye.', true]),
      'each closed, with its resolution and a closing time',
    )
  })

  t.test(
    '400 for a bad resolved, a missing or bad resolution or id, an unknown field; the ticket stays open',
    async (t) => {
      const { app, api } = await withCustomers(t)
      const opened = (await api.post('/api/open/customer/request', { request: LEAK, customerid: 1 })).body
      const close = (fields: Record<string, unknown>) => ({
        id: opened.id,
        resolved: true,
        resolution: FIXED,
        ...fields,
      })
      const cases: [Record<string, unknown>, string, string][] = [
        [close({ resolved: 'yes' }), 'resolved', 'must be boolean'],
        [close({ resolved: 1 }), 'resolved', 'must be boolean'],
        [close({ resolved: null }), 'resolved', 'must be boolean'],
        [close({ resolved: 'TRUE' }), 'resolved', 'must be boolean'],
        [close({ resolved: undefined }), 'resolved', 'is required'],
        [close({ resolution: undefined }), 'resolution', 'is required'],
        [close({ resolution: null }), 'resolution', 'must be string'],
        [close({ resolution: ' ' }), 'resolution', LINES],
        [close({ resolution: 'x'.repeat(5001) }), 'resolution', 'must NOT have more than 5000 characters'],
        [close({ id: undefined }), 'id', 'is required'],
        [close({ id: 0 }), 'id', 'must be >= 1'],
        [close({ closed: '2026-01-01T00:00:00.000Z' }), 'closed', 'is not a known field'],
      ]
      for (const [body, field, message] of cases) {
        const res = await api.post('/api/close/customer/request', body)
        t.equal(res.status, 400, JSON.stringify(body).slice(0, 80))
        t.equal(res.headers['content-type'], PROBLEM_JSON)
        t.same(res.body.errors, [{ field, message }], JSON.stringify(body).slice(0, 80))
      }
      t.same(await storedTickets(app), [
        { id: 1, customerid: 1, request: LEAK, resolved: 0, resolution: null, opened: opened.opened, closed: null },
      ])
    },
  )

  t.test('404 for a ticket that does not exist; nothing is created', async (t) => {
    const { app, api } = await withCustomers(t)
    const res = await api.post('/api/close/customer/request', { id: 5, resolved: true, resolution: FIXED })
    t.equal(res.status, 404)
    t.same(res.body, problemBody(res, 404, 'Ticket 5 does not exist.'))
    t.same(await storedTickets(app), [])
  })

  t.test('409 for closing a closed ticket; the stored outcome and closing time stay', async (t) => {
    const { app, api } = await withCustomers(t)
    const { id } = (await api.post('/api/open/customer/request', { request: LEAK, customerid: 1 })).body
    const closed = (await api.post('/api/close/customer/request', { id, resolved: true, resolution: FIXED })).body
    const before = await storedTickets(app)
    await sleep(5)
    for (const resolved of [false, true]) {
      const again = await api.post('/api/close/customer/request', { id, resolved, resolution: 'Something else.' })
      t.equal(again.status, 409)
      t.equal(again.headers['content-type'], PROBLEM_JSON)
      const detail = `Ticket ${id} was already closed at ${closed.closed}; a closed ticket cannot be closed again.`
      t.same(again.body, problemBody(again, 409, detail))
      t.equal(again.body.detail, detail)
    }
    t.same(await storedTickets(app), before)
    t.same(
      before.map((row) => [row.resolved, row.resolution, row.closed]),
      [[1, FIXED, closed.closed]],
    )
  })

  t.test('two closes at once: one 200, one 409, and the winner is what is stored', async (t) => {
    const { app, api } = await withCustomers(t)
    const { id } = (await api.post('/api/open/customer/request', { request: LEAK, customerid: 1 })).body
    const results = await Promise.all([
      api.post('/api/close/customer/request', { id, resolved: true, resolution: 'First' }),
      api.post('/api/close/customer/request', { id, resolved: false, resolution: 'Second' }),
    ])
    t.same(results.map((res) => res.status).sort(), [200, 409])
    const winner = results.find((res) => res.status === 200)!
    const loser = results.find((res) => res.status === 409)!
    t.equal(
      loser.body.detail,
      `Ticket ${id} was already closed at ${winner.body.closed}; a closed ticket cannot be closed again.`,
    )
    const [row] = await storedTickets(app)
    const { resolved, resolution, closed } = winner.body
    t.same(row && [row.resolved === 1, row.resolution, row.closed], [resolved, resolution, closed])
    t.equal((await storedTickets(app)).length, 1)
  })
})

t.test('get tickets', async (t) => {
  const { app, api } = await withCustomers(t)
  const tickets: Record<string, unknown>[] = []
  for (const [customerid, request] of [
    [1, 'First'],
    [2, 'Grace asks'],
    [1, 'Second'],
    [1, 'Third'],
  ] as const) {
    tickets.push((await api.post('/api/open/customer/request', { request, customerid })).body)
    await sleep(3)
  }
  const close = { id: 3, resolved: false, resolution: 'Could not reproduce.' }
  tickets[2] = (await api.post('/api/close/customer/request', close)).body
  const [first, graces, second, third] = tickets
  const ada = [first, second, third]
  await api.post('/api/add/customer', newCustomer({ name: 'Ivy', email: 'ivy@example.com' }))

  t.test('by id, in the query string or a JSON body, as a number or a string', async (t) => {
    const res = await api.get('/api/get/customer/request', { query: { id: 1 } })
    t.equal(res.status, 200)
    t.same(res.body, first)
    t.same((await api.get('/api/get/customer/request', { body: { id: 3 } })).body, second)
    t.same((await api.get('/api/get/customer/request', { body: { id: '3' } })).body, second)
    t.same((await api.get('/api/get/customer/request', { query: { id: '4' } })).body, third)
    t.same((await api.get('/api/get/customer/request', { query: { id: 2 } })).body, graces)
    t.same(graces, {
      id: 2,
      customerid: 2,
      request: 'Grace asks',
      resolved: false,
      resolution: null,
      opened: graces?.opened,
      closed: null,
    })
    t.match(second?.closed, ISO)
    t.same(second, {
      id: 3,
      customerid: 1,
      request: 'Second',
      resolved: false,
      resolution: 'Could not reproduce.',
      opened: second?.opened,
      closed: second?.closed,
    })
  })

  t.test('404 for an unknown ticket id', async (t) => {
    const res = await api.get('/api/get/customer/request', { query: { id: 99 } })
    t.equal(res.status, 404)
    t.equal(res.headers['content-type'], PROBLEM_JSON)
    t.same(res.body, problemBody(res, 404, 'Ticket 99 does not exist.'))
  })

  t.test("by customerid: that customer's tickets, oldest first, paged", async (t) => {
    const all = await api.get('/api/get/customer/request', { query: { customerid: 1 } })
    t.equal(all.status, 200)
    t.same(all.body, [first, second, third])
    t.same((await api.get('/api/get/customer/request', { body: { customerid: '1' } })).body, [first, second, third])
    t.same((await api.get('/api/get/customer/request', { query: { customerid: 1, limit: 2 } })).body, [first, second])
    t.same((await api.get('/api/get/customer/request', { body: { customerid: 1, limit: 1, offset: 2 } })).body, [third])
    t.same((await api.get('/api/get/customer/request', { query: { customerid: 1, offset: 3 } })).body, [])
    t.same((await api.get('/api/get/customer/request', { query: { customerid: 2 } })).body, [graces])
    const opened = ada.map((ticket) => Date.parse(String(ticket?.opened)))
    t.ok(opened[0]! < opened[1]! && opened[1]! < opened[2]!, 'opened increases with time')
    t.equal((await storedTickets(app)).length, 4)
  })

  t.test('[] for a customer without tickets, 404 for an unknown customer', async (t) => {
    const none = await api.get('/api/get/customer/request', { query: { customerid: 3 } })
    t.equal(none.status, 200)
    t.same(none.body, [])
    const unknown = await api.get('/api/get/customer/request', { body: { customerid: 42 } })
    t.equal(unknown.status, 404)
    t.same(unknown.body, problemBody(unknown, 404, 'Customer 42 does not exist.'))
  })

  t.test('400 with neither id nor customerid, with both, or with a bad or unknown parameter', async (t) => {
    const neither = await api.get('/api/get/customer/request')
    t.equal(neither.status, 400)
    t.same(
      neither.body,
      problemBody(neither, 400, 'The request has 1 invalid field: id or customerid is required.', [
        { field: 'id', message: 'or customerid is required' },
      ]),
    )
    t.same(neither.body.errors, [{ field: 'id', message: 'or customerid is required' }])
    const both = await api.get('/api/get/customer/request', { query: { id: 1, customerid: 1 } })
    t.equal(both.status, 400)
    t.same(both.body.errors, [{ field: 'id', message: 'and customerid cannot be given together' }])
    const bothInBody = await api.get('/api/get/customer/request', { body: { id: 1, customerid: 1 } })
    t.equal(bothInBody.status, 400)
    t.same(bothInBody.body.errors, [{ field: 'id', message: 'and customerid cannot be given together' }])
    const bad = await api.get('/api/get/customer/request', { query: { id: 'abc' } })
    t.equal(bad.status, 400)
    t.same(bad.body.errors, [{ field: 'id', message: 'must be integer' }])
    const unknown = await api.get('/api/get/customer/request', { query: { id: 1, request: 'x' } })
    t.equal(unknown.status, 400)
    t.same(unknown.body.errors, [{ field: 'request', message: 'is not a known field' }])
    const twice = await api.get('/api/get/customer/request', { query: { id: 1 }, body: { id: 1 } })
    t.equal(twice.status, 400)
    t.same(twice.body.errors, [{ field: 'id', message: 'is given both in the query string and in the body' }])
  })
})

t.test("deleting a customer removes their tickets, not others'", async (t) => {
  const { app, api } = await withCustomers(t)
  for (const customerid of [1, 2, 1]) {
    t.equal((await api.post('/api/open/customer/request', { request: LEAK, customerid })).status, 201)
  }
  t.same((await api.post('/api/delete/customer', { id: 1 })).body, { deleted: [1] })
  t.same(
    (await storedTickets(app)).map((row) => [row.id, row.customerid]),
    [[2, 2]],
  )
  t.equal((await api.get('/api/get/customer/request', { query: { id: 1 } })).status, 404)
  t.equal((await api.get('/api/get/customer/request', { query: { customerid: 1 } })).status, 404)
})
