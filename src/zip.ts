// The ZIP format in one place: its records written and read, DOS times, CRCs, and the archive writers built on them.
import { once } from 'node:events'
import { constants, crc32, createDeflateRaw } from 'node:zlib'

/** The signature that opens each record (APPNOTE 4.3.7, 4.3.9, 4.3.12, 4.3.16). */
export const SIGNATURE = {
  local: 0x04034b50,
  descriptor: 0x08074b50,
  central: 0x02014b50,
  end: 0x06054b50,
} as const

/** Each record's fixed part, before its name, extra field or comment. */
const SIZE = { local: 30, descriptor: 16, central: 46, end: 22 } as const

/** The longest archive comment, which may follow the end record. */
const MAX_COMMENT = 0xffff

/** Version 2.0: what deflate needs to extract, and what these archives claim to be made by. */
const VERSION = 20

/** Compression methods. */
export const STORED = 0
export const DEFLATED = 8

/** General purpose flags: bit 3, the CRC and sizes follow the data in a descriptor; bit 11, names are UTF-8. */
export const FLAG_DESCRIPTOR = 0x0008
export const FLAG_UTF8 = 0x0800

/** A 32-bit field holding this says its value is in a ZIP64 extra field instead. */
const ZIP64 = 0xffffffff

/** A modification time as MS-DOS stores it: two 16-bit fields, 2-second resolution. */
export interface DosTime {
  time: number
  date: number
}

/** An entry as the central directory describes it; its local header repeats all of it but `offset`. */
export interface EntryHeader {
  name: Buffer
  flags: number
  method: number
  modified: DosTime
  crc: number
  compressed: number
  size: number
  /** Where the entry's local header starts in the archive. */
  offset: number
}

/** The end record's account of the central directory. */
export interface Directory {
  entries: number
  size: number
  offset: number
}

/** A file to store in an archive as it is. */
export interface StoredFile {
  name: Buffer
  data: Buffer
}

/** An archive that does not hold together: a record missing, or one pointing past the end. */
export class ZipFormatError extends Error {
  override name = 'ZipFormatError'
}

/** `when` (in UTC: the server's clock, whatever zone it runs in) as a ZIP header stores it. */
export function dosTime(when = new Date()): DosTime {
  return {
    time: (when.getUTCHours() << 11) | (when.getUTCMinutes() << 5) | (when.getUTCSeconds() >> 1),
    date: ((when.getUTCFullYear() - 1980) << 9) | ((when.getUTCMonth() + 1) << 5) | when.getUTCDate(),
  }
}

/** The CRC-32 a ZIP entry carries (zlib's: the same polynomial); `previous` continues one over several chunks. */
export function crc(bytes: Uint8Array, previous = 0): number {
  return crc32(bytes, previous)
}

/** Whether the entry's sizes or offset are in a ZIP64 extra field, which this codec does not read. */
export function usesZip64(entry: EntryHeader): boolean {
  return entry.compressed === ZIP64 || entry.size === ZIP64 || entry.offset === ZIP64
}

/** A record of `size` bytes followed by the entry's name, its signature written. */
function record(signature: number, size: number, name: Buffer = Buffer.alloc(0)): Buffer {
  const bytes = Buffer.alloc(size + name.length)
  bytes.writeUInt32LE(signature, 0)
  name.copy(bytes, size)
  return bytes
}

/**
 * The local header before an entry's data. With a data descriptor the CRC and sizes are not known
 * yet, and APPNOTE 4.4.4 wants them zero here.
 */
export function localHeader(entry: EntryHeader): Buffer {
  const header = record(SIGNATURE.local, SIZE.local, entry.name)
  const later = (entry.flags & FLAG_DESCRIPTOR) !== 0
  header.writeUInt16LE(VERSION, 4)
  header.writeUInt16LE(entry.flags, 6)
  header.writeUInt16LE(entry.method, 8)
  header.writeUInt16LE(entry.modified.time, 10)
  header.writeUInt16LE(entry.modified.date, 12)
  header.writeUInt32LE(later ? 0 : entry.crc, 14)
  header.writeUInt32LE(later ? 0 : entry.compressed, 18)
  header.writeUInt32LE(later ? 0 : entry.size, 22)
  header.writeUInt16LE(entry.name.length, 26)
  return header
}

/** The data descriptor after an entry's data, with the signature that APPNOTE makes optional and readers expect. */
export function dataDescriptor(entry: EntryHeader): Buffer {
  const descriptor = record(SIGNATURE.descriptor, SIZE.descriptor)
  descriptor.writeUInt32LE(entry.crc, 4)
  descriptor.writeUInt32LE(entry.compressed, 8)
  descriptor.writeUInt32LE(entry.size, 12)
  return descriptor
}

/** An entry's header in the central directory. */
export function centralHeader(entry: EntryHeader): Buffer {
  const header = record(SIGNATURE.central, SIZE.central, entry.name)
  header.writeUInt16LE(VERSION, 4)
  header.writeUInt16LE(VERSION, 6)
  header.writeUInt16LE(entry.flags, 8)
  header.writeUInt16LE(entry.method, 10)
  header.writeUInt16LE(entry.modified.time, 12)
  header.writeUInt16LE(entry.modified.date, 14)
  header.writeUInt32LE(entry.crc, 16)
  header.writeUInt32LE(entry.compressed, 20)
  header.writeUInt32LE(entry.size, 24)
  header.writeUInt16LE(entry.name.length, 28)
  header.writeUInt32LE(entry.offset, 42)
  return header
}

/** The end-of-central-directory record, the last thing in an archive: one disk, no comment. */
export function endRecord(directory: Directory): Buffer {
  const end = record(SIGNATURE.end, SIZE.end)
  end.writeUInt16LE(directory.entries, 8)
  end.writeUInt16LE(directory.entries, 10)
  end.writeUInt32LE(directory.size, 12)
  end.writeUInt32LE(directory.offset, 16)
  return end
}

/** Reads the end record: it is the last 22 bytes, or it comes before a comment of up to 64 KiB. */
export function readEndRecord(zip: Buffer): Directory {
  const lowest = Math.max(0, zip.length - SIZE.end - MAX_COMMENT)
  let at = zip.length - SIZE.end
  while (at >= lowest && zip.readUInt32LE(at) !== SIGNATURE.end) at--
  if (at < lowest) throw new ZipFormatError('no end of central directory record')
  return { entries: zip.readUInt16LE(at + 10), size: zip.readUInt32LE(at + 12), offset: zip.readUInt32LE(at + 16) }
}

/**
 * Reads the central directory's headers one at a time, so that a caller holding to a bound can
 * stop at the first entry past it without reading the rest.
 */
export function* readCentralDirectory(zip: Buffer, directory: Directory): Generator<EntryHeader> {
  let at = directory.offset
  for (let i = 0; i < directory.entries; i++) {
    if (at + SIZE.central > zip.length || zip.readUInt32LE(at) !== SIGNATURE.central) {
      throw new ZipFormatError(`no central directory header at byte ${at}`)
    }
    const nameLength = zip.readUInt16LE(at + 28)
    yield {
      name: zip.subarray(at + SIZE.central, at + SIZE.central + nameLength),
      flags: zip.readUInt16LE(at + 8),
      method: zip.readUInt16LE(at + 10),
      modified: { time: zip.readUInt16LE(at + 12), date: zip.readUInt16LE(at + 14) },
      crc: zip.readUInt32LE(at + 16),
      compressed: zip.readUInt32LE(at + 20),
      size: zip.readUInt32LE(at + 24),
      offset: zip.readUInt32LE(at + 42),
    }
    at += SIZE.central + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32)
  }
}

/**
 * An entry's data as it is stored (compressed or not). It starts after the local header's name and
 * extra field, whose lengths need not match the central directory's; its length is the central
 * directory's, since with a data descriptor the local header's is zero.
 */
export function readEntryData(zip: Buffer, entry: EntryHeader): Buffer {
  const at = entry.offset
  if (at + SIZE.local > zip.length || zip.readUInt32LE(at) !== SIGNATURE.local) {
    throw new ZipFormatError(`no local header at byte ${at}`)
  }
  const start = at + SIZE.local + zip.readUInt16LE(at + 26) + zip.readUInt16LE(at + 28)
  if (start + entry.compressed > zip.length) {
    throw new ZipFormatError(`the data of entry at byte ${at} runs past the end`)
  }
  return zip.subarray(start, start + entry.compressed)
}

/** No time at all: a stored archive is read at once and thrown away, by SheetJS, which reads no entry's time. */
const UNDATED: DosTime = { time: 0, date: 0 }

/**
 * A ZIP archive of `files`, stored without compression and built whole in memory. The CRCs are
 * real though SheetJS does not check them: they cost about 2% of repacking an upload (measured on
 * 100,000 rows), and any reader then accepts the archive.
 */
export function storedZip(files: StoredFile[]): Buffer {
  const parts: Buffer[] = []
  const directory: Buffer[] = []
  let offset = 0
  for (const { name, data } of files) {
    const size = data.length
    const entry = { name, flags: 0, method: STORED, modified: UNDATED, crc: crc(data), compressed: size, size, offset }
    const local = localHeader(entry)
    parts.push(local, data)
    directory.push(centralHeader(entry))
    offset += local.length + data.length
  }
  const central = Buffer.concat(directory)
  return Buffer.concat([...parts, central, endRecord({ entries: files.length, size: central.length, offset })])
}

/**
 * A ZIP archive written as it goes, as chunks for the caller to send at its own pace: each entry
 * deflated while its content comes, its CRC and sizes after it in a data descriptor (they are
 * known only at its end), then the central directory. Nothing is held whole. (No ZIP64: an export
 * stays well under 4 GB.)
 */
export class ZipWriter {
  #offset = 0
  readonly #modified = dosTime()
  readonly #entries: EntryHeader[] = []

  /** The bytes of one entry; `content` yields what it holds (text as UTF-8). */
  async *entry(
    fileName: string,
    content: AsyncIterable<string | Buffer> | Iterable<string | Buffer>,
  ): AsyncGenerator<Buffer> {
    const header: EntryHeader = {
      name: Buffer.from(fileName),
      flags: FLAG_DESCRIPTOR | FLAG_UTF8,
      method: DEFLATED,
      modified: this.#modified,
      crc: 0,
      compressed: 0,
      size: 0,
      offset: this.#offset,
    }
    yield this.#counted(localHeader(header))
    const deflate = createDeflateRaw({ level: constants.Z_BEST_SPEED })
    const pending: Buffer[] = []
    deflate.on('data', (chunk: Buffer) => pending.push(chunk))
    try {
      for await (const part of content) {
        const bytes = typeof part === 'string' ? Buffer.from(part) : part
        header.crc = crc(bytes, header.crc)
        header.size += bytes.length
        if (!deflate.write(bytes)) await once(deflate, 'drain')
        yield* this.#deflated(pending, header)
      }
      // All the compressed bytes have come out once the readable side ends, not when writing finishes.
      const ended = once(deflate, 'end')
      deflate.end()
      await ended
      yield* this.#deflated(pending, header)
    } finally {
      // Also when the caller stops reading half way: the deflate stream holds memory and a zlib handle.
      deflate.destroy()
    }
    yield this.#counted(dataDescriptor(header))
    this.#entries.push(header)
  }

  /** The central directory and the end record: the archive is complete. */
  finish(): Buffer {
    const offset = this.#offset
    const central = Buffer.concat(this.#entries.map((entry) => centralHeader(entry)))
    return this.#counted(
      Buffer.concat([central, endRecord({ entries: this.#entries.length, size: central.length, offset })]),
    )
  }

  /** The deflated bytes that have come out so far, added to the entry's compressed size. */
  *#deflated(pending: Buffer[], header: EntryHeader): Generator<Buffer> {
    while (pending.length > 0) {
      const chunk = pending.shift()!
      header.compressed += chunk.length
      yield this.#counted(chunk)
    }
  }

  /** `chunk`, its length added to the offset of whatever comes next. */
  #counted(chunk: Buffer): Buffer {
    this.#offset += chunk.length
    return chunk
  }
}
