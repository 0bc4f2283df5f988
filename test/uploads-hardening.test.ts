// Uploads under pressure: sheets as wide as Excel allows, and clients that hang up while their file is read.
import { request } from 'node:http'
import t, { type Test } from 'tap'
import { AS_ADMIN, build, formData, sameReport, serve, type TestApp, upload, workbook } from './helper.js'
import { wideWorkbook } from './wide-workbook.js'

/** An upload and how long it took to be answered, in milliseconds. */
async function timed(app: TestApp, file: Parameters<typeof upload>[2]) {
  const started = performance.now()
  const res = await upload(app, '/upload/customers', file)
  return { res, ms: Math.round(performance.now() - started) }
}

t.test('a sheet as wide as Excel allows is read as far as its columns, beside another upload', async (t) => {
  const wide = wideWorkbook(['Ada', 'ada@example.com', 'London'], 20_000)
  t.ok(wide.length < 300_000, `small on the wire (${wide.length} bytes)`)
  const small = workbook([
    ['Bob', 'bob@example.com', 'Leeds'],
    ['Cy', 'cy@example.com', 'York'],
  ])
  const app = await build(t)
  // Sent together, they take turns on the worker, in either order. How long each takes is measured
  // by `npm run bench`; here, the times for the record.
  const [first, second] = await Promise.all([
    timed(app, { filename: 'wide.xlsx', content: wide }),
    timed(app, { filename: 'small.xlsx', content: small }),
  ])
  t.comment(`wide.xlsx answered in ${first.ms} ms, small.xlsx beside it in ${second.ms} ms`)
  t.equal(first.res.status, 201)
  t.equal(second.res.status, 201)
  t.same([first.res.body.id, second.res.body.id].sort(), [1, 2], 'two reports')
  sameReport(
    t,
    first.res.body,
    { id: first.res.body.id, kind: 'customers', filename: 'wide.xlsx', rows: 1, inserted: 1 },
    'rows whose only cell is past the columns read are blank',
  )
  sameReport(t, second.res.body, {
    id: second.res.body.id,
    kind: 'customers',
    filename: 'small.xlsx',
    rows: 2,
    inserted: 2,
  })
})

/** Waits until `done` holds, checking every 10 ms; false if it does not within `ms`. */
async function until(done: () => boolean, ms = 30_000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((resolve) => setTimeout(resolve, 10))) {
    if (done()) return true
  }
  return done()
}

/**
 * Posts `file` to the customer upload over a real connection, sends all of it, and closes the
 * connection once `working` holds (the server is reading or storing the file). The log lines of
 * the request once it has stopped, or been stored, without what differs from run to run.
 */
async function hangUp(
  t: Test,
  app: TestApp,
  port: number,
  file: { filename: string; content: string | Buffer },
  working: () => boolean,
) {
  const { payload, contentType } = await formData(file)
  const req = request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/upload/customers',
    headers: { ...AS_ADMIN, 'content-type': contentType, 'content-length': payload.length },
  })
  // The connection is closed on purpose: the request's error is expected.
  req.on('error', () => undefined)
  req.end(payload)
  t.ok(await until(working), 'the server is at work on the file')
  req.destroy()
  const ended = (line: Record<string, unknown>) => line.msg === 'upload stopped' || line.msg === 'upload stored'
  await until(() => app.logs().some(ended))
  return app
    .logs()
    .filter(
      (line) => typeof line.msg === 'string' && line.msg.startsWith('upload') && line.msg !== 'upload row skipped',
    )
    .map(({ time: _time, pid: _pid, hostname: _hostname, reqId: _reqId, ...line }) => line)
}

/** Nothing of the upload is stored: no rows, no report. (Counted: a list of 300,000 ids makes a slow diff.) */
async function nothingStored(t: Test, app: TestApp) {
  t.equal((await app.db.selectFrom('customers').select('id').execute()).length, 0, 'no customer stored')
  t.equal((await app.db.selectFrom('upload_reports').select('id').execute()).length, 0, 'no report stored')
}

t.test(
  'a client that hangs up while its CSV is stored: the work stops, nothing is stored, the log says so',
  async (t) => {
    const { app, port } = await serve(t)
    const lines = [
      'Bad,not-an-address,Street',
      ...Array.from({ length: 300_000 }, (_, i) => `P${i},p${i}@example.com,Street`),
    ]
    // A skipped row is logged as its batch is stored: by then the rows are being stored.
    const logs = await hangUp(t, app, port, { filename: 'long.csv', content: `${lines.join('\n')}\n` }, () =>
      app.logs().some((line) => line.msg === 'upload row skipped'),
    )
    t.same(logs, [
      { level: 30, key: 'API_KEY', kind: 'customers', filename: 'long.csv', msg: 'upload started' },
      {
        level: 40,
        key: 'API_KEY',
        kind: 'customers',
        filename: 'long.csv',
        reason: 'the client closed the connection',
        msg: 'upload stopped',
      },
    ])
    await nothingStored(t, app)
  },
)

t.test(
  'a client that hangs up while its workbook is parsed: the worker stops, nothing is stored, the log says so',
  async (t) => {
    // Written before the app starts: it blocks this process for seconds.
    const tall = workbook(Array.from({ length: 60_000 }, (_, i) => [`P${i}`, `p${i}@example.com`, 'Street']))
    const { app, port } = await serve(t)
    const logs = await hangUp(t, app, port, { filename: 'tall.xlsx', content: tall }, () =>
      app.logs().some((line) => line.msg === 'upload started'),
    )
    t.same(logs, [
      { level: 30, key: 'API_KEY', kind: 'customers', filename: 'tall.xlsx', msg: 'upload started' },
      {
        level: 40,
        key: 'API_KEY',
        kind: 'customers',
        filename: 'tall.xlsx',
        reason: 'the client closed the connection',
        msg: 'upload stopped',
      },
    ])
    await nothingStored(t, app)
    const next = await upload(app, '/upload/customers', {
      filename: 'next.xlsx',
      content: workbook([['Ada', 'ada@example.com', 'London']]),
    })
    t.equal(next.status, 201, 'the next workbook is read')
    sameReport(t, next.body, { id: 1, kind: 'customers', filename: 'next.xlsx', rows: 1, inserted: 1 })
  },
)

t.test('each kind reads its own columns: a row with cells only past them is blank, in every format', async (t) => {
  const app = await build(t)
  const customers = await upload(app, '/upload/customers', {
    filename: 'c.xlsx',
    content: workbook([
      ['Ada', 'ada@example.com', 'London'],
      [null, null, null, null, null, null, null, null, 'a note in column I'],
      [null, null, null, null, null, null, null, 'active'],
    ]),
  })
  sameReport(
    t,
    customers.body,
    {
      id: 1,
      kind: 'customers',
      filename: 'c.xlsx',
      rows: 2,
      inserted: 1,
      skipped: 1,
      errors: [{ row: 3, reason: 'Name and Email are missing' }],
    },
    'customers: eight columns, A to H',
  )
  const products = await upload(app, '/upload/products', {
    filename: 'p.xlsx',
    content: workbook([
      ['Lamp', 5],
      [null, null, null, null, null, 'a note in column F'],
      [null, null, null, null, 1],
    ]),
  })
  sameReport(
    t,
    products.body,
    {
      id: 2,
      kind: 'products',
      filename: 'p.xlsx',
      rows: 2,
      inserted: 1,
      skipped: 1,
      errors: [{ row: 3, reason: 'Name and Price are missing' }],
    },
    'products: five columns, A to E',
  )
  const csv = await upload(app, '/upload/customers', {
    filename: 'c.csv',
    content: 'Bob,bob@example.com,Leeds\n,,,,,,,,a note\n',
  })
  sameReport(t, csv.body, { id: 3, kind: 'customers', filename: 'c.csv', rows: 1, inserted: 1 }, 'a CSV alike')
})
