// Spreadsheet rows, read and checked in a worker thread while the server goes on answering.
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { HttpProblem } from '../problems.js'
import type { Format } from './formats.js'
import type { UploadKind } from '../../schemas/upload.js'
import type { Pending, RowValue } from './parse.js'
import { SPREADSHEET_LIMITS } from './read.js'
import type { SheetJob, SheetMessage } from './sheet-worker.js'

// The worker runs from the same place as this module: dist/ (.js) in production, src/ (.ts) in tests.
const workerFile = new URL(`./sheet-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url)

/**
 * Heap for the worker: a workbook within the unpacked-size bound parses well inside it, and one
 * that does not fit ends the worker (a 413), not the server.
 */
const WORKER_HEAP_MB = 1536

/**
 * One worker, started with the first spreadsheet and kept (it does not hold the process open), so
 * that later uploads do not pay for loading SheetJS and the schemas again. Jobs take turns.
 */
let worker: Worker | undefined
let turn: Promise<void> = Promise.resolve()
let jobs = 0

/**
 * Under `npm run dev` the worker is TypeScript, and tsx's loader does not reach worker threads on
 * Node 20: the worker registers it itself before loading its module. (Under tap's loader, and from
 * dist/, the worker file loads as it is.)
 */
const viaTsx = workerFile.pathname.endsWith('.ts') && process.execArgv.some((arg) => arg.includes('tsx'))
const workerSource = viaTsx
  ? `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(workerFile.href)}) })`
  : workerFile

function startWorker(): Worker {
  const started = new Worker(workerSource, {
    eval: viaTsx,
    resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
  })
  started.unref()
  started.on('exit', () => {
    if (worker === started) worker = undefined
  })
  return started
}

/** The rows of a spreadsheet, parsed as CSV rows are, batch by batch as the worker posts them. */
export function sheetRows<K extends UploadKind>(job: { kind: K; path: string; filename: string; format: Format }) {
  return {
    async *[Symbol.asyncIterator](): AsyncGenerator<Pending<RowValue<K>>[]> {
      let release!: () => void
      const previous = turn
      turn = new Promise<void>((resolve) => (release = resolve))
      await previous
      const id = ++jobs
      const current = (worker ??= startWorker())
      const messages: SheetMessage[] = []
      let failure: unknown
      let wake: (() => void) | undefined
      const onMessage = (message: SheetMessage) => {
        if (message.id !== id) return
        messages.push(message)
        wake?.()
      }
      const onError = (error: Error & { code?: string }) => {
        failure =
          error.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? new HttpProblem(
                413,
                `"${job.filename}" needs more memory to read than an upload may use; save it as CSV, or split it.`,
              )
            : error
        wake?.()
      }
      const onExit = () => {
        failure ??= new Error('the spreadsheet worker stopped')
        wake?.()
      }
      current.on('message', onMessage).on('error', onError).on('exit', onExit)
      current.postMessage({ ...job, id, limits: SPREADSHEET_LIMITS } satisfies SheetJob)
      let finished = false
      try {
        for (;;) {
          const message = messages.shift()
          if (message === undefined) {
            if (failure !== undefined) throw failure
            await new Promise<void>((resolve) => (wake = resolve))
            wake = undefined
          } else if ('batch' in message) {
            yield message.batch as Pending<RowValue<K>>[]
          } else if ('done' in message) {
            finished = true
            return
          } else {
            finished = true
            if ('problem' in message) throw new HttpProblem(message.problem.status, message.problem.detail)
            throw new Error(`reading the spreadsheet failed: ${message.error}`)
          }
        }
      } finally {
        current.off('message', onMessage).off('error', onError).off('exit', onExit)
        // A job left half way (the upload failed) would go on posting: that worker is not reused.
        if (!finished) {
          if (worker === current) worker = undefined
          await current.terminate()
        }
        release()
      }
    },
  }
}
