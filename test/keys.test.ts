// `npm run keys`: create (the key shown once, only its hash stored), list, revoke; and its refusals.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { keysCommand } from '../src/keys.js'
import { hashKey } from '../src/services/keys.js'
import { build, client, newCustomer } from './helper.js'
import { runScript } from './process.js'

t.test('create shows the key once and stores its hash; the key works with its role; revoke ends it', async (t) => {
  const app = await build(t)
  const lines: string[] = []
  await keysCommand(app.db, ['create', '--name', 'Accounts office', '--role', 'reader'], (line) => lines.push(line))
  t.match(lines[0], /^Created reader key crm_[\w-]{8} \(id 1\) for "Accounts office"\.$/)
  const key = /(crm_[\w-]{43})$/.exec(lines[1]!)?.[1]
  t.ok(key, 'the key is printed')
  const [row] = await app.db.selectFrom('api_keys').selectAll().execute()
  t.match(row, {
    id: 1,
    name: 'Accounts office',
    role: 'reader',
    prefix: key!.slice(0, 12),
    hash: hashKey(key!),
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
  t.match(lines, [new RegExp(`^1\\t${key!.slice(0, 12)}\\treader\\tactive\\tcreated \\S+\\tAccounts office$`)])
  t.notMatch(lines.join('\n'), key!, 'list never shows a key')

  lines.length = 0
  await keysCommand(app.db, ['revoke', key!.slice(0, 12)], (line) => lines.push(line))
  t.match(lines[0], /^Revoked key crm_[\w-]{8} \(id 1, "Accounts office"\) at \S+\.$/)
  const after = await app.injectAs({ url: '/api/get/customer?id=1', headers: { authorization: `Bearer ${key}` } })
  t.equal(after.statusCode, 401, 'a revoked key is refused at once')
  lines.length = 0
  await keysCommand(app.db, ['list'], (line) => lines.push(line))
  t.match(lines[0], /\trevoked \S+\t/)
  lines.length = 0
  await keysCommand(app.db, ['revoke', '1'], (line) => lines.push(line))
  t.match(lines[0], /^Revoked key/, 'revoking again (by id) keeps the first time')
})

t.test('refusals: unknown commands, bad names and roles, unknown keys', async (t) => {
  const app = await build(t)
  const print = () => undefined
  await t.rejects(keysCommand(app.db, [], print), /Usage:/)
  await t.rejects(keysCommand(app.db, ['rotate'], print), /Usage:/)
  await t.rejects(
    keysCommand(app.db, ['create', '--name', 'x', '--role', 'owner'], print),
    /--role must be reader, editor or admin/,
  )
  await t.rejects(keysCommand(app.db, ['create', '--role', 'admin'], print), /--name must be one line/)
  await t.rejects(
    keysCommand(app.db, ['create', '--name', 'a\nb', '--role', 'admin'], print),
    /--name must be one line/,
  )
  await t.rejects(keysCommand(app.db, ['revoke', 'crm_nothing1'], print), /Key crm_nothing1 does not exist/)
  await t.rejects(keysCommand(app.db, ['list', '--colour'], print), /Unknown option/)
  t.same(await app.db.selectFrom('api_keys').selectAll().execute(), [], 'nothing stored')
})

t.test('npm run keys runs on DATABASE_URL, migrating it first; exit codes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'crm-keys-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const run = async (...args: string[]) => {
    const { stdout, stderr, exit } = runScript(t, 'src/keys.ts', args, { DATABASE_URL: join(dir, 'crm.sqlite') })
    const code = await exit
    return { code, out: stdout() + stderr() }
  }
  const created = await run('create', '--name', 'CI', '--role', 'admin')
  t.equal(created.code, 0)
  t.match(
    created.out,
    /Created admin key crm_[\w-]{8} \(id 1\) for "CI"\.\nKey \(shown only now; keep it secret\): crm_[\w-]{43}\n/,
  )
  const usage = await run('launch')
  t.equal(usage.code, 2)
  t.match(usage.out, /Usage:/)
})

t.test('admins manage keys over the API too: make one (shown once), list, revoke', async (t) => {
  const app = await build(t)
  const api = client(app)
  const made = await api.post('/api/add/key', { name: 'Shop tablet', role: 'editor' })
  t.equal(made.status, 201)
  t.match(made.body, {
    id: 1,
    name: 'Shop tablet',
    role: 'editor',
    prefix: /^crm_[\w-]{8}$/,
    revoked: null,
    key: /^crm_[\w-]{43}$/,
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
  t.match(listed.body, [{ id: 1, prefix: made.body.prefix, revoked: null }])
  t.notOk(JSON.stringify(listed.body).includes(made.body.key), 'the list never holds a key')
  t.notOk('key' in listed.body[0], 'nor a key field')

  const revoked = await api.post('/api/revoke/key', { id: 1 })
  t.equal(revoked.status, 200)
  t.match(revoked.body, { id: 1, revoked: String })
  const refused = await app.injectAs({
    url: '/api/get/customer?id=1',
    headers: { authorization: `Bearer ${made.body.key}` },
  })
  t.equal(refused.statusCode, 401, 'a revoked key is refused at once')
  t.equal((await api.post('/api/revoke/key', { id: 9 })).status, 404, 'an unknown key: 404')
  t.equal((await api.post('/api/add/key', { name: 'x', role: 'owner' })).status, 400, 'an unknown role: 400')
  t.equal(
    (await api.post('/api/add/key', { name: 'x', role: 'admin', key: 'mine' })).status,
    400,
    'a key cannot be chosen',
  )
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
