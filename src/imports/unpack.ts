// An uploaded .xlsx unpacked with bounds and packed again uncompressed, before SheetJS reads it.
import { inflateRawSync } from 'node:zlib'
import { HttpProblem } from '../problems.js'
import {
  DEFLATED,
  readCentralDirectory,
  readEndRecord,
  readEntryData,
  STORED,
  storedZip,
  type StoredFile,
  usesZip64,
} from '../zip.js'
import type { SpreadsheetLimits } from './read.js'

/**
 * An .xlsx is a ZIP archive, and a small one can unpack to gigabytes. Its files are unpacked here,
 * each with a bound on its output, and packed again uncompressed: SheetJS then reads that archive,
 * which holds nothing it could inflate, instead of the upload, whose headers could say anything.
 * A file made to explode is refused (413) having cost at most the bound.
 */
export function repackUnpacked(zip: Buffer, filename: string, limits: SpreadsheetLimits): Buffer {
  const tooLarge = () =>
    new HttpProblem(
      413,
      `"${filename}" unpacks to more than ${limits.inflatedBytes / 1024 / 1024} MB; ` +
        'save it as CSV, or split it into smaller workbooks.',
    )
  let files: StoredFile[]
  try {
    files = unpackWithin(zip, limits, tooLarge)
  } catch (error) {
    if (error instanceof HttpProblem) throw error
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge()
    // Anything else (a record missing or out of place, a method other than store or deflate, bad
    // deflate data) means the upload is not the workbook its name says.
    throw new HttpProblem(415, `"${filename}" could not be read as an Excel workbook.`)
  }
  return storedZip(files)
}

/** The files of the archive, unpacked, as long as they stay within `limits`; `tooLarge` is the refusal. */
function unpackWithin(zip: Buffer, limits: SpreadsheetLimits, tooLarge: () => HttpProblem): StoredFile[] {
  const directory = readEndRecord(zip)
  if (directory.entries > limits.entries) throw tooLarge()
  const files: StoredFile[] = []
  let unpacked = 0
  for (const entry of readCentralDirectory(zip, directory)) {
    // ZIP64 (sizes of 4 GB and more) is far past any bound here.
    if (usesZip64(entry)) throw tooLarge()
    const data = unpackEntry(entry.method, readEntryData(zip, entry), limits.inflatedBytes - unpacked)
    unpacked += data.length
    if (unpacked > limits.inflatedBytes) throw tooLarge()
    files.push({ name: entry.name, data })
  }
  return files
}

/**
 * An entry's data unpacked, to at most one byte past `room`: zlib takes no bound of 0, and a byte
 * past the room is refused all the same.
 */
function unpackEntry(method: number, packed: Buffer, room: number): Buffer {
  if (method === STORED) return packed
  if (method === DEFLATED) return inflateRawSync(packed, { maxOutputLength: room + 1 })
  throw new Error(`compression method ${method} is not read here`)
}
