// `npm run backup -- FILE [--force]`: a consistent, checked copy of the live SQLite database
// (DATABASE_URL) in FILE, taken with SQLite's online backup while the server keeps serving.
import { parseArgs } from 'node:util'

const USAGE = `Usage: npm run backup -- FILE [--force]
Copies the database named by DATABASE_URL (default data/crm.sqlite) into FILE while the server runs,
checks the copy (integrity_check, foreign_key_check) and prints its size, pages, time and rows per table.
  --force   replace FILE if it exists (refused otherwise)`

type Command = { file: string; force: boolean } | { help: true } | { usage: string }

/** Reads the command line: one FILE and `--force`, or `--help`; anything else is a usage error. */
function readCommand(args: string[]): Command {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { force: { type: 'boolean', short: 'f' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
    })
    if (values.help) return { help: true }
    if (positionals.length === 0) return { usage: 'The backup FILE is missing.' }
    if (positionals.length > 1) return { usage: `One backup FILE is expected, not ${positionals.length}.` }
    return { file: positionals[0]!, force: values.force ?? false }
  } catch (error) {
    return { usage: `${(error as Error).message}.` }
  }
}

/** What the command says when DATABASE_URL is a PostgreSQL database, which has its own tools. */
const POSTGRES_BACKUP =
  'DATABASE_URL is a PostgreSQL database: npm run backup copies SQLite files. Back PostgreSQL up with its own ' +
  'pg_dump, which takes a consistent copy while the servers run:\n' +
  '    pg_dump --format=custom --file=crm.dump "$DATABASE_URL"\n' +
  'and restore it into an empty database with:\n' +
  '    pg_restore --dbname="$DATABASE_URL" crm.dump'

/** Runs the backup and prints its line; a refusal or failure is a message on stderr and exit code 1. */
async function main(command: { file: string; force: boolean }) {
  // Loaded once the command line is known to be right, so that a usage error answers at once.
  const [{ ConfigError, loadConfig }, { BackupError, backupDatabase, describeBackup }, { parseDatabaseUrl }] =
    await Promise.all([import('./config.js'), import('./db/backup.js'), import('./db/connect.js')])
  const abort = new AbortController()
  const stop = () => abort.abort(new BackupError('Interrupted; no backup was written'))
  process.once('SIGINT', stop).once('SIGTERM', stop)
  try {
    const location = parseDatabaseUrl(loadConfig().DATABASE_URL)
    if (location.dialect === 'postgres') throw new BackupError(POSTGRES_BACKUP)
    const result = await backupDatabase(location.filename, command.file, { force: command.force, signal: abort.signal })
    console.log(describeBackup(result))
  } catch (error) {
    const known = error instanceof BackupError || error instanceof ConfigError
    console.error(known ? error.message : `Backup failed: ${error instanceof Error ? error.message : String(error)}`)
    process.exitCode = 1
  } finally {
    process.off('SIGINT', stop).off('SIGTERM', stop)
  }
}

const command = readCommand(process.argv.slice(2))
if ('usage' in command) {
  console.error(`${command.usage}\n${USAGE}`)
  process.exitCode = 2
} else if ('help' in command) {
  console.log(USAGE)
} else {
  await main(command)
}
