// `npm run keys`: create (the key shown once, only its hash stored), list, revoke; and its refusals.
import { join } from 'node:path'
import SQLite from 'better-sqlite3'
import t from 'tap'
import { connect } from '../src/db/connect.js'
import { migrateToLatest } from '../src/db/migrate.js'
import { keysCommand } from '../src/keys.js'
import { createKey, hashKey } from '../src/services/keys.js'
import { build, client, exactly, newCustomer, PROBLEM_JSON, problemBody, tempFolder } from './helper.js'
import { runScript, startServer } from './process.js'

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

const USAGE = `Usage:
  npm run keys -- create --name NAME --role reader|editor|admin
  npm run keys -- list
  npm run keys -- revoke ID-OR-PREFIX`

t.test('create shows the key once and stores its hash; the key works with its role; revoke ends it', async (t) => {
  const app = await build(t)
  const lines: string[] = []
  await keysCommand(app.db, ['create', '--name', 'Accounts office', '--role', 'reader'], (line) => lines.push(line))
  const key = /(crm_[\w-]{43})$/.exec(lines[1]!)?.[1]
  t.ok(key, 'the key is printed')
  const prefix = key!.slice(0, 12)
  t.same(lines, [
    `Created reader key ${prefix} (id 1) for "Accounts office".`,
    `Key (shown only now; keep it secret): ${key}`,
  ])
  const [row] = await app.db.selectFrom('api_keys').selectAll().execute()
  t.match(row?.created, ISO)
  t.same(row, {
    id: 1,
    name: 'Accounts office',
    role: 'reader',
    prefix,
    hash: hashKey(key!),
    created: row?.created,
    revoked: null,
  })
  t.notOk(JSON.stringify(row).includes(key!), 'the key itself is not stored')

  const read = await app.injectAs({ url: '/api/get/customer?id=1', headers: { authorization: `Bearer ${key}` } })
  t.equal(read.statusCode, 404, 'the reader key reads')
  const write = await app.injectAs({
    method: 'POST',
    url: '/api/add/customer',
    payload: {},
    headers: { 'x-api-key': key! },
  })
  t.equal(write.statusCode, 403, 'and may not write')

  lines.length = 0
  await keysCommand(app.db, ['list'], (line) => lines.push(line))
  t.same(lines, [`1\t${prefix}\treader\tactive\tcreated ${row?.created}\tAccounts office`])
  t.notMatch(lines.join('\n'), key!, 'list never shows a key')

  lines.length = 0
  await keysCommand(app.db, ['revoke', prefix], (line) => lines.push(line))
  const { revoked } = await app.db.selectFrom('api_keys').select('revoked').executeTakeFirstOrThrow()
  t.match(revoked, ISO)
  t.same(lines, [`Revoked key ${prefix} (id 1, "Accounts office") at ${revoked}.`])
  const after = await app.injectAs({ url: '/api/get/customer?id=1', headers: { authorization: `Bearer ${key}` } })
  t.equal(after.statusCode, 401, 'a revoked key is refused at once')
  lines.length = 0
  await keysCommand(app.db, ['list'], (line) => lines.push(line))
  t.same(lines, [`1\t${prefix}\treader\trevoked ${revoked}\tcreated ${row?.created}\tAccounts office`])
  lines.length = 0
  await keysCommand(app.db, ['revoke', '1'], (line) => lines.push(line))
  t.same(
    lines,
    [`Revoked key ${prefix} (id 1, "Accounts office") at ${revoked}.`],
    'revoking again (by id) keeps the first time',
  )
})

t.test('refusals: unknown commands, bad names and roles, unknown keys', async (t) => {
  const app = await build(t)
  const print = () => undefined
  const oneLine = exactly('--name must be one line of text, at most 200 characters.')
  await t.rejects(keysCommand(app.db, [], print), { message: exactly(USAGE) })
  await t.rejects(keysCommand(app.db, ['rotate'], print), { message: exactly(USAGE) })
  await t.rejects(keysCommand(app.db, ['create', '--name', 'x', '--role', 'owner'], print), {
    message: exactly('--role must be reader, editor or admin.'),
  })
  await t.rejects(keysCommand(app.db, ['create', '--role', 'admin'], print), { message: oneLine })
  await t.rejects(keysCommand(app.db, ['create', '--name', 'a\nb', '--role', 'admin'], print), { message: oneLine })
  await t.rejects(keysCommand(app.db, ['revoke', 'crm_nothing1'], print), {
    message: exactly('Key crm_nothing1 does not exist.'),
  })
  // Node's own words for an unknown option follow its version; which refusal it is does not.
  await t.rejects(keysCommand(app.db, ['list', '--colour'], print), {
    code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION',
    message: /^Unknown option '--colour'\./,
  })
  t.same(await app.db.selectFrom('api_keys').selectAll().execute(), [], 'nothing stored')
})

t.test('npm run keys runs on DATABASE_URL, migrating it first; exit codes', async (t) => {
  const dir = tempFolder(t, 'keys')
  const run = async (...args: string[]) => {
    const { stdout, stderr, exit } = runScript(t, 'src/keys.ts', args, { DATABASE_URL: join(dir, 'crm.sqlite') })
    const code = await exit
    return { code, out: stdout() + stderr() }
  }
  const created = await run('create', '--name', 'CI', '--role', 'admin')
  t.equal(created.code, 0)
  const key = /^Key \(shown only now; keep it secret\): (crm_[\w-]{43})$/m.exec(created.out)?.[1]
  t.ok(key, 'the key is printed')
  t.equal(
    created.out,
    `Created admin key ${key?.slice(0, 12)} (id 1) for "CI".\nKey (shown only now; keep it secret): ${key}\n`,
  )
  const usage = await run('launch')
  t.equal(usage.code, 2)
  t.equal(usage.out, `${USAGE}\n`)
})

t.test('admins manage keys over the API too: make one (shown once), list, revoke', async (t) => {
  const app = await build(t)
  const api = client(app)
  const made = await api.post('/api/add/key', { name: 'Shop tablet', role: 'editor' })
  t.equal(made.status, 201)
  const { key, created } = made.body
  t.match(key, /^crm_[\w-]{43}$/)
  t.match(created, ISO)
  t.same(made.body, {
    id: 1,
    name: 'Shop tablet',
    role: 'editor',
    prefix: key.slice(0, 12),
    created,
    revoked: null,
    key,
  })
  t.equal(made.body.prefix, made.body.key.slice(0, 12), 'the prefix is the start of the key')
  const written = await app.injectAs({
    method: 'POST',
    url: '/api/add/customer',
    payload: newCustomer(),
    headers: { authorization: `Bearer ${made.body.key}` },
  })
  t.equal(written.statusCode, 201, 'the new editor key writes')
  const listed = await api.get('/api/get/keys')
  const { key: _key, ...record } = made.body
  t.same(listed.body, [record])
  t.notOk(JSON.stringify(listed.body).includes(made.body.key), 'the list never holds a key')
  t.notOk('key' in listed.body[0], 'nor a key field')

  const revoked = await api.post('/api/revoke/key', { id: 1 })
  t.equal(revoked.status, 200)
  t.match(revoked.body.revoked, ISO)
  t.same(revoked.body, { ...record, revoked: revoked.body.revoked })
  const refused = await app.injectAs({
    url: '/api/get/customer?id=1',
    headers: { authorization: `Bearer ${made.body.key}` },
  })
  t.equal(refused.statusCode, 401, 'a revoked key is refused at once')
  const unknown = await api.post('/api/revoke/key', { id: 9 })
  t.equal(unknown.status, 404, 'an unknown key: 404')
  t.same(unknown.body, problemBody(unknown, 404, 'Key 9 does not exist.'))
  const owner = await api.post('/api/add/key', { name: 'x', role: 'owner' })
  t.equal(owner.status, 400, 'an unknown role: 400')
  t.same(owner.body.errors, [
    { field: 'role', message: 'must be equal to one of the allowed values: reader, editor, admin' },
  ])
  const chosen = await api.post('/api/add/key', { name: 'x', role: 'admin', key: 'mine' })
  t.equal(chosen.status, 400, 'a key cannot be chosen')
  t.same(chosen.body.errors, [{ field: 'key', message: 'is not a known field' }])
  t.equal(
    await app.db
      .selectFrom('api_keys')
      .selectAll()
      .execute()
      .then((rows) => rows.length),
    1,
    'no other key stored',
  )
})

/** The refusal to revoke the last active admin key over the API. */
const lastAdmin = (prefix: string) =>
  `Key ${prefix} is the last active admin key: revoking it would leave no admin key in the database ` +
  `(API_KEY does not count). Make another admin key first, or revoke it with npm run keys -- revoke ${prefix}.`

t.test('the last active admin key cannot be revoked over the API, whoever asks; the command line can', async (t) => {
  const app = await build(t)
  const api = client(app)
  const grace = await createKey(app.db, 'Grace', 'admin')
  const reader = await createKey(app.db, 'Front desk', 'reader')
  const revoke = (id: number, key?: string) =>
    api.post('/api/revoke/key', { id }, key ? { headers: { authorization: `Bearer ${key}` } } : undefined)

  const itself = await revoke(grace.id, grace.key)
  t.equal(itself.status, 409, 'the last admin key cannot revoke itself')
  t.equal(itself.headers['content-type'], PROBLEM_JSON)
  t.same(itself.body, problemBody(itself, 409, lastAdmin(grace.prefix)))
  const byApiKey = await revoke(grace.id)
  t.equal(byApiKey.status, 409, 'nor can API_KEY revoke it: API_KEY does not count as an admin key')
  t.same(byApiKey.body, problemBody(byApiKey, 409, lastAdmin(grace.prefix)))
  t.equal((await revoke(reader.id, grace.key)).status, 200, 'other keys are revoked as before')

  const alan = await createKey(app.db, 'Alan', 'admin')
  const own = await revoke(grace.id, grace.key)
  t.equal(own.status, 200, 'with another admin key active, an admin key may revoke itself')
  t.ok(own.body.revoked, 'and is revoked')
  const again = await revoke(grace.id, alan.key)
  t.same(again.body, own.body, 'revoking a revoked admin key still answers it as it is')
  const last = await revoke(alan.id, alan.key)
  t.equal(last.status, 409, 'now Alan holds the last admin key')
  t.same(last.body, problemBody(last, 409, lastAdmin(alan.prefix)))

  const lines: string[] = []
  await keysCommand(app.db, ['revoke', alan.prefix], (line) => lines.push(line))
  const rows = await app.db.selectFrom('api_keys').select(['prefix', 'revoked']).orderBy('id').execute()
  t.same(lines, [`Revoked key ${alan.prefix} (id ${alan.id}, "Alan") at ${rows[2]?.revoked}.`], 'the command line can')
  t.same(
    rows.map((row) => [row.prefix, row.revoked === null ? 'active' : 'revoked']),
    [
      [grace.prefix, 'revoked'],
      [reader.prefix, 'revoked'],
      [alan.prefix, 'revoked'],
    ],
  )
})

t.test(
  'two admins revoking each other at the same moment, on two servers of one database: one admin remains',
  async (t) => {
    const filename = join(tempFolder(t, 'keys-race'), 'crm.sqlite')
    const db = connect(filename)
    await migrateToLatest(db)
    const ada = await createKey(db, 'Ada', 'admin')
    const alan = await createKey(db, 'Alan', 'admin')
    await db.destroy()
    // Processes of their own: a server waiting for the database's write lock waits in SQLite, holding its
    // thread, which its pressure valve would rightly answer with 503 (tested on its own, as in build()).
    const servers = await Promise.all(
      [1, 2].map(() => startServer(t, { DATABASE_URL: filename, MAX_EVENT_LOOP_DELAY_MS: '60000' })),
    )
    const send = (port: number, key: string, path: string, body?: unknown) =>
      fetch(`http://127.0.0.1:${port}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      })
    // Each server answers once first, so that the revocation takes it no time to reach the database.
    for (const [server, key] of [
      [servers[0]!, ada.key],
      [servers[1]!, alan.key],
    ] as const) {
      t.equal((await send(server.port, key, '/api/get/keys')).status, 200)
    }
    // The test holds the write lock while both revocations arrive, so that both are under way at once
    // before either can write. Two seconds, well within the servers' 5 s wait for a lock: a revocation
    // slower than that to arrive could only let a check made outside the transaction go unnoticed.
    const lock = new SQLite(filename)
    t.teardown(() => lock.close())
    lock.exec('begin immediate')
    const answers = Promise.all([
      send(servers[0]!.port, ada.key, '/api/revoke/key', { id: alan.id }),
      send(servers[1]!.port, alan.key, '/api/revoke/key', { id: ada.id }),
    ])
    await new Promise((resolve) => setTimeout(resolve, 2000))
    lock.exec('commit')
    const [byAda, byAlan] = await answers
    const statuses = [byAda.status, byAlan.status]
    t.same([...statuses].sort(), [200, 409], 'one revocation is done, the other refused')
    // Ada's request revokes Alan's key, Alan's revokes Ada's: the refused one names the key it kept.
    const [refused, kept] = byAda.status === 409 ? [byAda, alan] : [byAlan, ada]
    t.same(await refused.json(), {
      type: 'about:blank',
      title: 'Conflict',
      status: 409,
      detail: lastAdmin(kept.prefix),
      instance: `urn:request:${refused.headers.get('x-request-id')}`,
    })
    const active = lock.prepare(`select prefix from api_keys where role = 'admin' and revoked is null`).all()
    t.same(active, [{ prefix: kept.prefix }], 'the admin key whose revocation was refused remains')
  },
)
