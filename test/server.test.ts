// The server process: start-up, refusal of bad configuration, graceful shutdown, and the migrate command.
import { once } from 'node:events'
import { readFileSync, statSync } from 'node:fs'
import { type IncomingMessage, request } from 'node:http'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import SQLite from 'better-sqlite3'
import t from 'tap'
import { customerRecord, MIGRATIONS, newCustomer, tempFolder } from './helper.js'
import { logged, runScript, startServer } from './process.js'

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

t.test('starts on a new SQLite file, serves, and on SIGTERM finishes the request in flight, then closes', async (t) => {
  const filename = join(tempFolder(t, 'server'), 'data', 'crm.sqlite')
  const server = await startServer(t, { DATABASE_URL: filename, LOG_LEVEL: 'info' })
  const { port } = server
  t.same(
    logged(server, 'migration applied'),
    MIGRATIONS.map((migration) => ({ level: 30, migration, status: 'Success', msg: 'migration applied' })),
    'the new file is migrated, each migration logged',
  )
  // No key existed and API_KEY is not set: the first admin key is made, and (standard output being
  // a log here, not a terminal) written to a file beside the database that only its owner may read.
  const keyFile = join(dirname(filename), 'first-admin-key.txt')
  const written = readFileSync(keyFile, 'utf8')
  const key = /^crm_[\w-]{43}(?=\n)/.exec(written)?.[0]
  t.ok(key, 'the first start makes an admin key, in a file')
  const prefix = key?.slice(0, 12)
  t.equal(
    written,
    `${key}\n\nSend it as "Authorization: Bearer <key>" (in Swagger UI: Authorize). Revoke it with ` +
      `\`npm run keys -- revoke ${prefix}\` once you have made your own keys.\n` +
      'Delete this file once you have kept the key somewhere safe.\n',
    'the file holds the key, how to use it and how to revoke it',
  )
  t.equal(statSync(keyFile).mode & 0o777, 0o600, 'that only its owner may read')
  t.same(
    logged(server, 'made the first admin key and wrote it to a file only its owner can read'),
    [
      {
        level: 40,
        key: prefix,
        file: keyFile,
        msg: 'made the first admin key and wrote it to a file only its owner can read',
      },
    ],
    'the log names the key by its prefix and says where it is',
  )
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

  const [res] = (await response) as [IncomingMessage]
  let text = ''
  for await (const chunk of res) text += chunk
  t.equal(res.statusCode, 201, 'the request in flight completes')
  t.equal(res.headers.connection, 'close', 'and its connection is not kept open')
  const added = JSON.parse(text)
  t.match(added.created, ISO)
  t.same(added, customerRecord(1, added.created), 'and answers with the customer')
  t.equal(await server.exit, 0, 'exits cleanly')
  t.same(logged(server, 'shutting down: finishing in-flight requests'), [
    { level: 30, signal: 'SIGTERM', msg: 'shutting down: finishing in-flight requests' },
  ])
  t.same(logged(server, 'stopped; the database is closed'), [{ level: 30, msg: 'stopped; the database is closed' }])

  const sqlite = new SQLite(filename, { readonly: true })
  t.teardown(() => sqlite.close())
  t.same(sqlite.prepare('select id, email from customers').all(), [{ id: 1, email: 'ada@example.com' }])
  sqlite.close()

  // Started again: a key exists, so none is made or printed.
  const again = await startServer(t, { DATABASE_URL: filename, LOG_LEVEL: 'info' })
  t.notMatch(again.stdout(), /crm_|first admin key/, 'a later start makes no key')
  again.child.kill('SIGTERM')
  t.equal(await again.exit, 0)
})

t.test('a bad configuration value stops start-up with a clear message', async (t) => {
  const server = runScript(t, 'src/server.ts', [], { PORT: 'eighty', DATABASE_URL: ':memory:' })
  t.equal(await server.exit, 1)
  t.equal(server.stderr(), 'Invalid configuration: PORT="eighty": Expected integer\n')
})

t.test('a migration that fails stops start-up with a non-zero exit', async (t) => {
  const filename = join(tempFolder(t, 'server'), 'crm.sqlite')
  const sqlite = new SQLite(filename)
  sqlite.exec('create table customers (id integer)')
  sqlite.close()
  const server = runScript(t, 'src/server.ts', [], { PORT: '0', DATABASE_URL: filename })
  t.equal(await server.exit, 1)
  t.equal(server.stderr(), 'Could not start: Migration 20261129_001_initial failed: table "customers" already exists\n')
  t.notMatch(server.stdout(), /Server listening/)
})

t.test('npm run db:migrate applies pending migrations, then reports the database up to date', async (t) => {
  const filename = join(tempFolder(t, 'server'), 'crm.sqlite')
  const first = runScript(t, 'src/migrate.ts', [], { DATABASE_URL: filename })
  t.equal(await first.exit, 0)
  t.equal(
    first.stdout(),
    `${MIGRATIONS.map((name) => `Success: ${name}\n`).join('')}Applied ${MIGRATIONS.length} migration(s).\n`,
  )
  const second = runScript(t, 'src/migrate.ts', [], { DATABASE_URL: filename })
  t.equal(await second.exit, 0)
  t.equal(second.stdout(), 'The database is up to date.\n')
  const bad = runScript(t, 'src/migrate.ts', [], { DATABASE_URL: 'postgres:crm' })
  t.equal(await bad.exit, 1)
  t.equal(bad.stderr(), 'DATABASE_URL: a PostgreSQL URL starts with postgres://\n')
})
