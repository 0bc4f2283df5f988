// The online backup of the SQLite database: a consistent copy of the live file, taken with SQLite's
// backup API while the server keeps writing, checked, and put in place under its final name at once.
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, renameSync, rmSync, statSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import SQLite from 'better-sqlite3'
import { BUSY_TIMEOUT_MS } from './connect.js'

/**
 * Pages copied per step at first (1 MiB with SQLite's 4 KiB pages). A write by another connection
 * between two steps makes SQLite start the copy again; each restart doubles the step, so a copy
 * under a steady stream of writes still ends, at worst in one step (one read transaction, which in
 * WAL mode does not hold up the writers).
 */
export const PAGES_PER_STEP = 256

export interface BackupOptions {
  /** Replace `destination` when it exists (refused otherwise). */
  force?: boolean
  /** Pages copied per step at first (PAGES_PER_STEP). */
  pagesPerStep?: number
  /** Stops the copy between two steps; nothing is left behind. */
  signal?: AbortSignal
}

export interface BackupResult {
  /** The database file copied. */
  source: string
  /** The backup file, as given. */
  file: string
  /** Its size in bytes. */
  bytes: number
  pages: number
  pageSize: number
  /** From the start of the copy to the backup in place under its name, checks included. */
  milliseconds: number
  /** Times a write to the live database made SQLite start the copy again. */
  restarts: number
  /** Rows per table of the copy, in the order the tables were created (the migrations' records aside). */
  rows: Record<string, number>
}

/** A backup refused or failed for a reason worth telling as it is (no stack trace). */
export class BackupError extends Error {
  override name = 'BackupError'
}

/** Refuses a source that is not a database file: `:memory:`, a missing path, a folder. */
function checkSource(source: string) {
  if (source === ':memory:' || source === '') {
    throw new BackupError(
      'DATABASE_URL is :memory: — an in-memory database lives only inside the server process; there is no file to back up',
    )
  }
  if (!existsSync(source)) {
    throw new BackupError(`The database file ${source} does not exist (DATABASE_URL); nothing to back up`)
  }
  if (!statSync(source).isFile()) throw new BackupError(`The database path ${source} is not a file (DATABASE_URL)`)
}

/** Refuses a destination that is the live database (or its journal), or that exists without `force`. */
function checkDestination(source: string, destination: string, force: boolean) {
  const live = resolve(source)
  const target = resolve(destination)
  const sameFile =
    existsSync(destination) &&
    statSync(destination).ino === statSync(source).ino &&
    statSync(destination).dev === statSync(source).dev
  if (sameFile || ['', '-wal', '-shm', '-journal'].some((suffix) => target === live + suffix)) {
    throw new BackupError(
      `The backup file ${destination} is the live database ${source} or one of its files; choose another name`,
    )
  }
  if (existsSync(destination) && !force) {
    throw new BackupError(
      `The backup file ${destination} already exists; choose another name, or pass --force to replace it`,
    )
  }
  // SQLite would replay a journal it finds beside the backup into it when it is opened.
  const journal = ['-wal', '-journal'].map((suffix) => destination + suffix).find((file) => existsSync(file))
  if (journal) {
    throw new BackupError(
      `${journal} exists (a database by that name is open or was not closed cleanly); choose another name`,
    )
  }
}

/** A name in the destination's folder that no backup ends up with: `.NAME.RANDOM.tmp`. */
function temporaryName(destination: string): string {
  return join(dirname(destination), `.${basename(destination)}.${randomBytes(6).toString('hex')}.tmp`)
}

/** Removes a temporary copy and any journal SQLite made beside it. */
function removeCopy(file: string) {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(file + suffix, { force: true })
}

/**
 * Copies the live database page by page into `copy` through a read-only connection; returns how
 * many times writes made SQLite start again (each time with twice as many pages per step).
 */
async function copyPages(source: string, copy: string, pagesPerStep: number, signal?: AbortSignal): Promise<number> {
  // `timeout` is SQLite's busy_timeout.
  const live = new SQLite(source, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS })
  try {
    let step = pagesPerStep
    let copied = 0
    let restarts = 0
    let first = true
    await live.backup(copy, {
      progress({ totalPages, remainingPages }) {
        signal?.throwIfAborted()
        // Without a restart, a step copies `step` more pages; after one, it copied them from page 1.
        const done = totalPages - remainingPages
        if (done !== copied + (first ? 0 : step)) {
          restarts += 1
          step = Math.min(step * 2, 0x7fffffff)
        }
        copied = done
        first = false
        return step
      },
    })
    signal?.throwIfAborted()
    return restarts
  } finally {
    live.close()
  }
}

/**
 * Opens the copy, makes it a single self-contained file (rollback journal, not WAL, so it can be
 * read or copied alone), runs `integrity_check` and `foreign_key_check`, and counts its pages and rows.
 */
function checkCopy(copy: string): Pick<BackupResult, 'pages' | 'pageSize' | 'rows'> {
  const sqlite = new SQLite(copy, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS })
  try {
    sqlite.pragma('journal_mode = DELETE')
    const integrity = sqlite.pragma('integrity_check') as { integrity_check: string }[]
    if (integrity.length !== 1 || integrity[0]!.integrity_check !== 'ok') {
      const problems = integrity.map((row) => row.integrity_check).join('; ')
      throw new BackupError(`The copy failed integrity_check, so no backup was written: ${problems}`)
    }
    const orphans = sqlite.pragma('foreign_key_check') as { table: string; rowid: number; parent: string }[]
    if (orphans.length > 0) {
      const first = orphans.slice(0, 5).map((row) => `${row.table} row ${row.rowid} → ${row.parent}`)
      throw new BackupError(
        `The copy failed foreign_key_check (${orphans.length} row(s): ${first.join(', ')}), so no backup was written`,
      )
    }
    const tables = sqlite
      .prepare(
        `select name from sqlite_schema where type = 'table'
           and name not like 'sqlite\\_%' escape '\\' and name not like 'kysely\\_migration%' escape '\\'
         order by rowid`,
      )
      .pluck()
      .all() as string[]
    const rows: Record<string, number> = {}
    for (const table of tables) {
      rows[table] = sqlite
        .prepare(`select count(*) from "${table.replaceAll('"', '""')}"`)
        .pluck()
        .get() as number
    }
    return {
      pages: sqlite.pragma('page_count', { simple: true }) as number,
      pageSize: sqlite.pragma('page_size', { simple: true }) as number,
      rows,
    }
  } finally {
    sqlite.close()
  }
}

/** Flushes a file, or a folder's list of names, to the disk. */
function flush(path: string) {
  const fd = openSync(path, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/**
 * Gives the finished copy its final name in one step. Without `force` it is a hard link, which
 * fails rather than replace a file that appeared meanwhile; with `force`, a rename over it.
 */
function putInPlace(copy: string, destination: string, force: boolean) {
  flush(copy)
  if (force) {
    renameSync(copy, destination)
  } else {
    try {
      linkSync(copy, destination)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new BackupError(
          `The backup file ${destination} already exists; choose another name, or pass --force to replace it`,
        )
      }
      throw error
    }
    rmSync(copy)
  }
  // The new name is on the disk too (folders cannot be opened for this on Windows).
  if (process.platform !== 'win32') flush(dirname(destination))
}

/**
 * Backs up the SQLite database file `source` into `destination` while other connections go on
 * writing to it: a consistent copy, checked, written under a temporary name and renamed when done.
 */
export async function backupDatabase(
  source: string,
  destination: string,
  options: BackupOptions = {},
): Promise<BackupResult> {
  const started = performance.now()
  checkSource(source)
  checkDestination(source, destination, options.force ?? false)
  mkdirSync(dirname(destination), { recursive: true })
  const copy = temporaryName(destination)
  try {
    const restarts = await copyPages(source, copy, options.pagesPerStep ?? PAGES_PER_STEP, options.signal)
    const checked = checkCopy(copy)
    putInPlace(copy, destination, options.force ?? false)
    const bytes = statSync(destination).size
    return { source, file: destination, bytes, ...checked, milliseconds: performance.now() - started, restarts }
  } finally {
    removeCopy(copy)
  }
}

/** The one line the backup command prints: the file, its size, pages, time taken and rows per table. */
export function describeBackup(result: BackupResult): string {
  const rows = Object.entries(result.rows).map(([table, count]) => `${table} ${count}`)
  const restarts = result.restarts === 1 ? '1 restart' : `${result.restarts} restarts`
  return (
    `Backed up ${result.source} to ${result.file}: ${result.bytes} bytes, ${result.pages} pages of ${result.pageSize} bytes, ` +
    `${Math.round(result.milliseconds)} ms (${restarts} for writes), integrity ok, foreign keys ok; ` +
    `rows: ${rows.join(', ')}`
  )
}
