// An uploaded .xlsx unpacked with bounds and packed again uncompressed, before SheetJS reads it.
import { inflateRawSync } from 'node:zlib'
import { HttpProblem } from '../problems.js'
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
  const broken = () => new HttpProblem(415, `"${filename}" could not be read as an Excel workbook.`)
  const files: { name: Buffer; data: Buffer }[] = []
  try {
    // The end-of-central-directory record: the last 22 bytes, or before a comment of up to 64 KiB.
    let end = zip.length - 22
    const lowest = Math.max(0, zip.length - 65_557)
    while (end >= lowest && zip.readUInt32LE(end) !== 0x06054b50) end--
    if (end < lowest) throw broken()
    const entries = zip.readUInt16LE(end + 10)
    if (entries > limits.entries) throw tooLarge()
    let offset = zip.readUInt32LE(end + 16)
    let unpacked = 0
    for (let i = 0; i < entries; i++) {
      if (zip.readUInt32LE(offset) !== 0x02014b50) throw broken()
      const method = zip.readUInt16LE(offset + 10)
      const compressed = zip.readUInt32LE(offset + 20)
      const size = zip.readUInt32LE(offset + 24)
      const nameLength = zip.readUInt16LE(offset + 28)
      const name = zip.subarray(offset + 46, offset + 46 + nameLength)
      const local = zip.readUInt32LE(offset + 42)
      offset += 46 + nameLength + zip.readUInt16LE(offset + 30) + zip.readUInt16LE(offset + 32)
      // ZIP64 (sizes of 4 GB and more) is far past any bound here.
      if (compressed === 0xffffffff || size === 0xffffffff || local === 0xffffffff) throw tooLarge()
      if (zip.readUInt32LE(local) !== 0x04034b50) throw broken()
      const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28)
      if (start + compressed > zip.length) throw broken()
      const packed = zip.subarray(start, start + compressed)
      const room = limits.inflatedBytes - unpacked
      let data: Buffer
      if (method === 0) data = packed
      else if (method === 8) data = inflateRawSync(packed, { maxOutputLength: room + 1 })
      else throw broken()
      unpacked += data.length
      if (unpacked > limits.inflatedBytes) throw tooLarge()
      files.push({ name, data })
    }
  } catch (error) {
    if (error instanceof HttpProblem) throw error
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge()
    throw broken()
  }
  return storedZip(files)
}

/** A ZIP archive of `files`, stored without compression (SheetJS does not check the CRCs, left 0). */
function storedZip(files: { name: Buffer; data: Buffer }[]): Buffer {
  const parts: Buffer[] = []
  const directory: Buffer[] = []
  let offset = 0
  for (const { name, data } of files) {
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt32LE(data.length, 18)
    local.writeUInt32LE(data.length, 22)
    local.writeUInt16LE(name.length, 26)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0)
    central.writeUInt16LE(20, 4)
    central.writeUInt16LE(20, 6)
    central.writeUInt32LE(data.length, 20)
    central.writeUInt32LE(data.length, 24)
    central.writeUInt16LE(name.length, 28)
    central.writeUInt32LE(offset, 42)
    parts.push(local, name, data)
    directory.push(central, name)
    offset += 30 + name.length + data.length
  }
  const size = directory.reduce((sum, part) => sum + part.length, 0)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(files.length, 8)
  end.writeUInt16LE(files.length, 10)
  end.writeUInt32LE(size, 12)
  end.writeUInt32LE(offset, 16)
  return Buffer.concat([...parts, ...directory, end])
}
