// `npm run keys -- create --name NAME --role ROLE | list | revoke ID-OR-PREFIX`: manages the API keys of DATABASE_URL.
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { Value } from '@sinclair/typebox/value'
import { KeyName, Role } from '../schemas/key.js'
import { loadConfig } from './config.js'
import { connect, type Db } from './db/connect.js'
import { migrateToLatest } from './db/migrate.js'
import { HttpProblem } from './problems.js'
import { createKey, listKeys, revokeKey } from './services/keys.js'

const USAGE = `Usage:
  npm run keys -- create --name NAME --role reader|editor|admin
  npm run keys -- list
  npm run keys -- revoke ID-OR-PREFIX`

class UsageError extends Error {}

/** Runs one command of `argv` against `db`, writing what it did to `print`. */
export async function keysCommand(db: Db, argv: string[], print: (line: string) => void): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { name: { type: 'string' }, role: { type: 'string' } },
  })
  const [command, ...rest] = positionals
  if (command === 'create' && rest.length === 0) {
    const { name, role } = values
    if (name === undefined || !Value.Check(KeyName, name)) {
      throw new UsageError('--name must be one line of text, at most 200 characters.')
    }
    if (!Value.Check(Role, role)) throw new UsageError('--role must be reader, editor or admin.')
    const created = await createKey(db, name, role)
    print(`Created ${created.role} key ${created.prefix} (id ${created.id}) for "${created.name}".`)
    print(`Key (shown only now; keep it secret): ${created.key}`)
  } else if (command === 'list' && rest.length === 0) {
    const keys = await listKeys(db)
    if (keys.length === 0) print('No keys.')
    for (const key of keys) {
      const state = key.revoked ? `revoked ${key.revoked}` : 'active'
      print(`${key.id}\t${key.prefix}\t${key.role}\t${state}\tcreated ${key.created}\t${key.name}`)
    }
  } else if (command === 'revoke' && rest.length === 1) {
    const which = rest[0]!
    const key = await revokeKey(db, /^\d+$/.test(which) ? Number(which) : which)
    print(`Revoked key ${key.prefix} (id ${key.id}, "${key.name}") at ${key.revoked}.`)
  } else {
    throw new UsageError(USAGE)
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const db = connect(loadConfig().DATABASE_URL)
    try {
      await migrateToLatest(db)
      await keysCommand(db, process.argv.slice(2), (line) => console.log(line))
    } finally {
      await db.destroy()
    }
  } catch (error) {
    console.error(error instanceof Error ? error.message : error)
    process.exitCode = error instanceof UsageError || error instanceof HttpProblem ? 2 : 1
  }
}
