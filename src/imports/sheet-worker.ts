// The worker thread that reads spreadsheets: SheetJS parsing takes seconds and must not stop the server.
import { parentPort } from 'node:worker_threads'
import { HttpProblem } from '../problems.js'
import type { Format } from './formats.js'
import type { UploadKind } from '../../schemas/upload.js'
import { parsedRows, parsers } from './parse.js'
import { readRows, type SpreadsheetLimits } from './read.js'

/** A spreadsheet the server asks the worker to read, numbered `id`, and the kind of rows it holds. */
export interface SheetJob {
  id: number
  kind: UploadKind
  path: string
  filename: string
  format: Format
  limits: SpreadsheetLimits
}

/** What the worker posts about job `id`: a batch of parsed rows, the end, or why it failed. */
export type SheetMessage = { id: number } & (
  { batch: unknown[] } | { done: true } | { problem: { status: number; detail: string } } | { error: string }
)

const post = (message: SheetMessage) => parentPort!.postMessage(message)

/** Posts the rows of a job, parsed, batch by batch as they are read: of each row, the columns its kind reads. */
async function postRows({ id, kind, path, filename, format, limits }: SheetJob): Promise<void> {
  const rows = readRows(path, filename, format, parsers[kind].columns, { limits })
  for await (const batch of parsedRows(kind, rows, format)) post({ id, batch })
}

/** Why a job failed, in words that cross to the server: a problem keeps its status and detail. */
function failure(id: number, error: unknown): SheetMessage {
  if (error instanceof HttpProblem) return { id, problem: { status: error.statusCode, detail: error.message } }
  return { id, error: String(error) }
}

// One job at a time: the thread that starts a job waits for its end before sending the next. Every
// job ends with a message; a message that cannot be posted ends the thread, which the server sees.
parentPort!.on('message', (job: SheetJob) => {
  postRows(job).then(
    () => post({ id: job.id, done: true }),
    (error: unknown) => post(failure(job.id, error)),
  )
})
