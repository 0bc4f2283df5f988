// The worker thread that reads spreadsheets: SheetJS parsing takes seconds and must not stop the server.
import { parentPort } from 'node:worker_threads'
import { HttpProblem } from '../problems.js'
import type { Format } from './formats.js'
import type { UploadKind } from '../../schemas/upload.js'
import { parsedRows } from './parse.js'
import { readRows, type SpreadsheetLimits } from './read.js'

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

// One job at a time: the thread that starts a job waits for its end before sending the next.
parentPort!.on('message', async ({ id, kind, path, filename, format, limits }: SheetJob) => {
  try {
    for await (const batch of parsedRows(kind, readRows(path, filename, format, limits), format)) post({ id, batch })
    post({ id, done: true })
  } catch (error) {
    const problem = error instanceof HttpProblem ? { status: error.statusCode, detail: error.message } : undefined
    post(problem ? { id, problem } : { id, error: String(error) })
  }
})
