// Spreadsheet rows, read and checked in a worker thread while the server goes on answering.
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { HttpProblem } from '../problems.js'
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
 * that later uploads do not pay for loading SheetJS and the schemas again.
 */
let worker: Worker | undefined
/** Jobs take turns on the worker: this settles when the last one queued has ended. */
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

/**
 * Waits for the jobs queued before this one; the function returned lets the next one go. Fails with
 * the signal's reason when it aborts first: the turn then passes on when the job before ends.
 */
async function takeTurn(signal?: AbortSignal): Promise<() => void> {
  let release!: () => void
  const previous = turn
  turn = new Promise<void>((resolve) => (release = resolve))
  try {
    await untilAborted(previous, signal)
  } catch (error) {
    void previous.then(release)
    throw error
  }
  return release
}

/** `promise`, or the signal's reason as soon as it aborts. */
async function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise
  signal.throwIfAborted()
  let onAbort!: () => void
  const aborted = new Promise<never>((_, reject) => (onAbort = () => reject(signal.reason as Error)))
  signal.addEventListener('abort', onAbort)
  try {
    return await Promise.race([promise, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

/**
 * What the worker posts about one job, kept until it is asked for, and why the worker failed, if it
 * did, or why the job was given up (the signal's reason).
 */
class JobMessages {
  readonly #messages: SheetMessage[] = []
  #failure: Error | undefined
  #wake: (() => void) | undefined

  constructor(
    private readonly thread: Worker,
    private readonly id: number,
    private readonly filename: string,
    private readonly signal?: AbortSignal,
  ) {
    thread.on('message', this.#onMessage).on('error', this.#onError).on('exit', this.#onExit)
    signal?.addEventListener('abort', this.#onAbort)
  }

  /** The next message about the job, once there is one; throws why the worker failed when none is left. */
  async next(): Promise<SheetMessage> {
    for (;;) {
      this.signal?.throwIfAborted()
      const message = this.#messages.shift()
      if (message !== undefined) return message
      if (this.#failure !== undefined) throw this.#failure
      await new Promise<void>((resolve) => (this.#wake = resolve))
      this.#wake = undefined
    }
  }

  close() {
    this.thread.off('message', this.#onMessage).off('error', this.#onError).off('exit', this.#onExit)
    this.signal?.removeEventListener('abort', this.#onAbort)
  }

  readonly #onAbort = () => this.#wake?.()

  readonly #onMessage = (message: SheetMessage) => {
    if (message.id !== this.id) return
    this.#messages.push(message)
    this.#wake?.()
  }

  readonly #onError = (error: Error & { code?: string }) => {
    this.#failure =
      error.code === 'ERR_WORKER_OUT_OF_MEMORY'
        ? new HttpProblem(
            413,
            `"${this.filename}" needs more memory to read than an upload may use; save it as CSV, or split it.`,
          )
        : error
    this.#wake?.()
  }

  readonly #onExit = () => {
    this.#failure ??= new Error('the spreadsheet worker stopped')
    this.#wake?.()
  }
}

/** A spreadsheet to read, and the kind of rows it holds. */
type SheetFile<K extends UploadKind> = Pick<SheetJob, 'path' | 'filename' | 'format'> & { kind: K }

/**
 * The rows of a spreadsheet, parsed as CSV rows are, batch by batch as the worker posts them. When
 * `signal` aborts, the batch asked for fails with its reason and the worker's job ends at once,
 * whether it waits for its turn, is being parsed or is being posted.
 */
export function sheetRows<K extends UploadKind>(
  job: SheetFile<K>,
  signal?: AbortSignal,
): AsyncIterable<Pending<RowValue<K>>[]> {
  return { [Symbol.asyncIterator]: () => readInWorker<K>(job, signal) }
}

/** The job's turn on the worker, given back however the job ends: even a worker that fails to start. */
async function* readInWorker<K extends UploadKind>(
  job: SheetFile<K>,
  signal: AbortSignal | undefined,
): AsyncGenerator<Pending<RowValue<K>>[]> {
  const release = await takeTurn(signal)
  try {
    yield* runJob(job, signal)
  } finally {
    release()
  }
}

async function* runJob<K extends UploadKind>(
  job: SheetFile<K>,
  signal: AbortSignal | undefined,
): AsyncGenerator<Pending<RowValue<K>>[]> {
  const id = ++jobs
  const current = (worker ??= startWorker())
  const messages = new JobMessages(current, id, job.filename, signal)
  let finished = false
  try {
    current.postMessage({ ...job, id, limits: SPREADSHEET_LIMITS } satisfies SheetJob)
    for (;;) {
      const message = await messages.next()
      if ('batch' in message) {
        yield message.batch as Pending<RowValue<K>>[]
        continue
      }
      finished = true
      if ('done' in message) return
      if ('problem' in message) throw new HttpProblem(message.problem.status, message.problem.detail)
      throw new Error(`reading the spreadsheet failed: ${message.error}`)
    }
  } finally {
    messages.close()
    // A job left half way (the upload failed, or its client went away) would go on parsing and
    // posting: that worker is ended, and the next job starts another.
    if (!finished) {
      if (worker === current) worker = undefined
      await current.terminate()
    }
  }
}
