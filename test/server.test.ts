// The server process: start-up, refusal of bad configuration, graceful shutdown, and the migrate command.
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import SQLite from 'better-sqlite3'
import t from 'tap'
import { newCustomer } from './helper.js'
import { type Run, runScript } from './process.js'

/** A temporary folder, removed when the tests of this file end. */
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'crm-server-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Waits for the server's "listening" log line and returns its port. */
async function listeningPort(server: Run): Promise<number> {
  for (let waited = 0; waited < 20_000; waited += 50) {
    const match = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(server.stdout())
    if (match) return Number(match[1])
    if (server.child.exitCode !== null) break
    await sleep(50)
  }
  throw new Error(`the server did not start:\n${server.stdout()}\n${server.stderr()}`)
}

t.test('starts on a new SQLite file, serves, and on SIGTERM finishes the request in flight, then closes', async (t) => {
  const filename = join(tempDir(), 'data', 'crm.sqlite')
  const server = runScript(t, 'src/server.ts', [], { PORT: '0', DATABASE_URL: filename, LOG_LEVEL: 'info' })
  t.teardown(() => void server.child.kill('SIGKILL'))
  const port = await listeningPort(server)
  t.match(server.stdout(), /"migration":"20261129_001_initial","status":"Success"/)
  // No key existed and API_KEY is not set: the first admin key is made, and (standard output being
  // a log here, not a terminal) written to a file beside the database that only its owner may read.
  const keyFile = join(dirname(filename), 'first-admin-key.txt')
  const key = /^(crm_[\w-]{43})$/m.exec(readFileSync(keyFile, 'utf8'))?.[1]
  t.ok(key, 'the first start makes an admin key, in a file')
  t.equal(statSync(keyFile).mode & 0o777, 0o600, 'that only its owner may read')
  t.match(server.stdout(), /"msg":"made the first admin key and wrote it to a file only its owner can read"/)
  t.match(server.stdout(), `"file":"${keyFile}"`, 'the log says where')
  t.notMatch(server.stdout() + server.stderr(), key ?? 'no key', 'the key is in no log line')

  // A request whose body is still arriving when the signal comes.
  const body = JSON.stringify(newCustomer())
  const req = request({
    port,
    method: 'POST',
    path: '/api/add/customer',
    headers: {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      authorization: `Bearer ${key}`,
    },
  })
  const response = once(req, 'response')
  req.write(body.slice(0, 10))
  await sleep(200)
  server.child.kill('SIGTERM')
  await sleep(200)
  req.end(body.slice(10))

  const [res] = (await response) as [import('node:http').IncomingMessage]
  let text = ''
  for await (const chunk of res) text += chunk
  t.equal(res.statusCode, 201, 'the request in flight completes')
  t.equal(res.headers.connection, 'close', 'and its connection is not kept open')
  t.match(JSON.parse(text), { id: 1, email: 'ada@example.com' })
  t.equal(await server.exit, 0, 'exits cleanly')
  t.match(server.stdout(), /"signal":"SIGTERM"/)
  t.match(server.stdout(), /stopped; the database is closed/)

  const sqlite = new SQLite(filename, { readonly: true })
  t.teardown(() => sqlite.close())
  t.same(sqlite.prepare('select id, email from customers').all(), [{ id: 1, email: 'ada@example.com' }])
  sqlite.close()

  // Started again: a key exists, so none is made or printed.
  const again = runScript(t, 'src/server.ts', [], { PORT: '0', DATABASE_URL: filename, LOG_LEVEL: 'info' })
  t.teardown(() => void again.child.kill('SIGKILL'))
  await listeningPort(again)
  t.notMatch(again.stdout(), /crm_|first admin key/, 'a later start makes no key')
  again.child.kill('SIGTERM')
  t.equal(await again.exit, 0)
})

t.test('a bad configuration value stops start-up with a clear message', async (t) => {
  const server = runScript(t, 'src/server.ts', [], { PORT: 'eighty', DATABASE_URL: ':memory:' })
  t.equal(await server.exit, 1)
  t.match(server.stderr(), /Invalid configuration: PORT="eighty": Expected integer/)
})

t.test('a migration that fails stops start-up with a non-zero exit', async (t) => {
  const filename = join(tempDir(), 'crm.sqlite')
  const sqlite = new SQLite(filename)
  sqlite.exec('create table customers (id integer)')
  sqlite.close()
  const server = runScript(t, 'src/server.ts', [], { PORT: '0', DATABASE_URL: filename })
  t.equal(await server.exit, 1)
  t.match(
    server.stderr() + server.stdout(),
    /Migration 20261129_001_initial failed: table `?"?customers"?`? already exists/,
  )
  t.notMatch(server.stdout(), /Server listening/)
})

t.test('npm run db:migrate applies pending migrations, then reports the database up to date', async (t) => {
  const filename = join(tempDir(), 'crm.sqlite')
  const first = runScript(t, 'src/migrate.ts', [], { DATABASE_URL: filename })
  t.equal(await first.exit, 0)
  t.match(
    first.stdout(),
    /Success: 20261129_001_initial\nSuccess: 20261129_002_upload_reports\nSuccess: 20261129_003_export_records\nSuccess: 20261129_004_api_keys\nApplied 4 migration\(s\)\./,
  )
  const second = runScript(t, 'src/migrate.ts', [], { DATABASE_URL: filename })
  t.equal(await second.exit, 0)
  t.match(second.stdout(), /The database is up to date\./)
  const bad = runScript(t, 'src/migrate.ts', [], { DATABASE_URL: 'postgres://localhost/test' })
  t.equal(await bad.exit, 1)
  t.match(bad.stderr(), /PostgreSQL is not supported yet/)
})
