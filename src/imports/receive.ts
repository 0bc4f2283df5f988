// Receiving an upload: the one file of a multipart form, kept in a temporary file while it is read.
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { MultipartFile } from '@fastify/multipart'
import type { FastifyRequest } from 'fastify'
import { FILENAME_MAX_LENGTH } from '../../schemas/upload.js'
import { HttpProblem, invalid } from '../problems.js'

/** An uploaded file on disk, with what the form sent before it. */
export interface ReceivedFile {
  /** Where the file is kept until `discard`: a slow client never holds the database while it sends. */
  path: string
  /** The file's name as the form gave it, made safe to store and show (`cleanFilename`); '' when it gave none. */
  filename: string
  /**
   * The values of the `mode` form fields (the page sends one, before the file), unchecked: none when
   * the form has none, '' for a part that is no plain field, so that it cannot pass for a mode.
   */
  modeFields: string[]
  /** Removes the file and its folder. */
  discard(): Promise<void>
}

/** How long reading may go on after the request body has ended: longer means it was cut short. */
const CUT_SHORT_MS = 2000

/**
 * `work` (reading the multipart body), failed with a 400 when the body ends, or the client goes
 * away, and `work` is still waiting for data that will never come: a body that stops inside its
 * file would otherwise hold the request, its file descriptor and its temporary file for ever.
 * `stop` hears of it first, to end what `work` is waiting on.
 */
async function untilBodyEnds<T>(request: FastifyRequest, work: Promise<T>, stop?: (error: Error) => void) {
  let timer: NodeJS.Timeout | undefined
  let fail!: (error: Error) => void
  const cutShort = new Promise<never>((_, reject) => (fail = reject))
  const cut = () => {
    const error = invalid('(body)', 'ends before the file in it does: the upload was cut short')
    stop?.(error)
    fail(error)
  }
  const onEnd = () => (timer = setTimeout(cut, CUT_SHORT_MS))
  // Closed before the whole body came: the client went away.
  const onClose = () => request.raw.complete || cut()
  if (request.raw.readableEnded) onEnd()
  else request.raw.once('end', onEnd)
  request.raw.once('close', onClose)
  try {
    return await Promise.race([work, cutShort])
  } finally {
    clearTimeout(timer)
    request.raw.off('end', onEnd).off('close', onClose)
  }
}

/** The first file part of the form, with the fields sent before it; 400 when there is none. */
async function firstFile(request: FastifyRequest): Promise<MultipartFile> {
  let file: MultipartFile | undefined
  try {
    file = await untilBodyEnds(request, request.file())
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode) throw error
    throw invalid('(body)', `is not a multipart/form-data body that can be read (${(error as Error).message})`)
  }
  if (!file) throw invalid('(body)', 'must hold a file')
  return file
}

/**
 * Takes the file in whole before anything is refused, so that the client is not left sending into
 * a connection nobody reads; then refuses one over `maxBytes` (413), a name too long, or none chosen.
 */
async function saveFile(
  request: FastifyRequest,
  stream: MultipartFile['file'],
  filename: string,
  path: string,
  maxBytes: number,
) {
  await untilBodyEnds(request, pipeline(stream, createWriteStream(path)), (error) => stream.destroy(error))
  // At the limit the stream ends early, marked truncated, rather than failing.
  if (stream.truncated) {
    throw new HttpProblem(
      413,
      `"${filename}" is larger than the ${maxBytes} bytes an upload may be (UPLOAD_MAX_BYTES).`,
    )
  }
  if (filename && filename.length > FILENAME_MAX_LENGTH) {
    throw invalid('(body)', `must hold a file whose name is at most ${FILENAME_MAX_LENGTH} characters long`)
  }
  // A form sent without choosing a file still has the file part, with no name and no content (a
  // part with `filename=""` has no name at all, as the multipart parser reads it).
  if (!filename && stream.bytesRead === 0) throw invalid('(body)', 'must hold a file: none was chosen')
}

function modeFieldsOf(file: MultipartFile): string[] {
  const fields = file.fields.mode
  if (fields === undefined) return []
  return (Array.isArray(fields) ? fields : [fields]).map((field) => ('value' in field ? String(field.value) : ''))
}

/**
 * What a file name may not hold: control characters (C0, DEL, C1), lone surrogates, the
 * bidirectional controls (a U+202E in `list<U+202E>gpj.exe` shows it as `listexe.jpg`) and non-characters.
 */
const UNSAFE_IN_NAMES = /[\p{Cc}\p{Cs}\p{Bidi_Control}\p{Noncharacter_Code_Point}]/gu

/**
 * A file name as it is stored, logged, and shown in reports and refusals: each character it may not
 * hold becomes U+FFFD, so that the name shows that something was there instead of hiding it.
 */
export const cleanFilename = (name: string) => name.replace(UNSAFE_IN_NAMES, '\uFFFD')

/**
 * Reads a multipart upload into a temporary file: 415 for a body that is no multipart form, 400
 * for one that holds no file or ends inside it, 413 for a file over `maxBytes`. The caller
 * discards the file once it has been read.
 */
export async function receiveFile(request: FastifyRequest, maxBytes: number): Promise<ReceivedFile> {
  if (!request.isMultipart()) {
    throw new HttpProblem(415, 'An upload is a multipart/form-data form holding one file.')
  }
  const file = await firstFile(request)
  const folder = await mkdtemp(join(tmpdir(), 'crm-upload-'))
  const discard = () => rm(folder, { recursive: true, force: true })
  try {
    const path = join(folder, 'upload')
    // The parser gives no name as undefined, whatever its types say.
    const filename = cleanFilename(file.filename ?? '')
    await saveFile(request, file.file, filename, path, maxBytes)
    return { path, filename, modeFields: modeFieldsOf(file), discard }
  } catch (error) {
    await discard()
    throw error
  }
}
