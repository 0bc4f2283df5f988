// `npm run keys`: create (the key shown once, only its hash stored), list, revoke; and its refusals.
import { join } from 'node:path'
import t from 'tap'
import { keysCommand } from '../src/keys.js'
import { hashKey } from '../src/services/keys.js'
import { build, client, exactly, newCustomer, problemBody, tempFolder } from './helper.js'
import { runScript } from './process.js'

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
