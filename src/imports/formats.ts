// Upload file formats: which extension means which reader, and whether the content is what it claims.
import { open } from 'node:fs/promises'
import { extname } from 'node:path'
import { isUtf8 } from 'node:buffer'
import { HttpProblem } from '../problems.js'

export type Format = 'csv' | 'xlsx' | 'xls'

const FORMATS: Record<string, Format> = { '.csv': 'csv', '.txt': 'csv', '.xlsx': 'xlsx', '.xls': 'xls' }

export const ACCEPTED_EXTENSIONS = Object.keys(FORMATS)

const unsupported = (detail: string) => new HttpProblem(415, detail)

/** The format a file name's extension (in any case) stands for; 415 for any other. */
export function formatOf(filename: string): Format {
  const format = FORMATS[extname(filename).toLowerCase()]
  if (!format) {
    throw unsupported(`"${filename}" is not a file this upload reads: send ${ACCEPTED_EXTENSIONS.join(', ')}.`)
  }
  return format
}

const ZIP = Buffer.from([0x50, 0x4b, 0x03, 0x04])
const OLE2 = Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1])

/** How much of a text file is checked before reading starts; the rest is checked as it is read. */
const TEXT_SAMPLE = 64 * 1024

/**
 * Checks that the file's first bytes are what its extension says: a ZIP container for .xlsx, an
 * OLE2 compound file for .xls, and UTF-8 text without NUL bytes for .csv and .txt. 415 otherwise.
 */
export async function checkContent(path: string, filename: string, format: Format): Promise<void> {
  const file = await open(path)
  let head: Buffer
  try {
    const buffer = Buffer.alloc(TEXT_SAMPLE)
    const { bytesRead } = await file.read(buffer, 0, TEXT_SAMPLE, 0)
    head = buffer.subarray(0, bytesRead)
  } finally {
    await file.close()
  }
  if (format === 'xlsx' && !head.subarray(0, 4).equals(ZIP)) {
    throw unsupported(`"${filename}" is not an Excel workbook (.xlsx), though its name says so.`)
  }
  if (format === 'xls' && !head.subarray(0, 8).equals(OLE2)) {
    throw unsupported(`"${filename}" is not an Excel 97-2003 workbook (.xls), though its name says so.`)
  }
  if (format === 'csv' && !isText(head, head.length === TEXT_SAMPLE)) {
    throw unsupported(`"${filename}" is not UTF-8 text, so it is not a CSV file this upload reads.`)
  }
}

/** Whether a sample of a file is UTF-8 text: no NUL bytes, and valid UTF-8 (a cut-off last character aside). */
function isText(sample: Buffer, truncated: boolean): boolean {
  if (sample.includes(0)) return false
  if (isUtf8(sample)) return true
  // The sample may end inside a multi-byte character: drop up to 3 trailing bytes and try again.
  for (let cut = 1; truncated && cut <= 3; cut++) if (isUtf8(sample.subarray(0, sample.length - cut))) return true
  return false
}
