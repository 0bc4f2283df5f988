// A ZIP archive written as a stream: entries are deflated as they are written, so nothing is held whole.
import type { Writable } from 'node:stream'
import { constants, crc32, createDeflateRaw } from 'node:zlib'

/** Writes `chunk`, waiting while `out` is full; fails once `out` is closed (the client went away). */
export async function writeTo(out: Writable, chunk: Buffer | string) {
  if (out.destroyed) throw new Error('the download was closed')
  if (out.write(chunk)) return
  await new Promise<void>((resolve, reject) => {
    const done = () => {
      out.off('drain', done).off('close', done)
      if (out.destroyed) reject(new Error('the download was closed'))
      else resolve()
    }
    out.on('drain', done).on('close', done)
  })
}

interface Written {
  name: Buffer
  crc: number
  compressed: number
  size: number
  offset: number
}

/**
 * Writes entries one after another to `out`, each deflated while it is written, then the central
 * directory. Sizes and CRCs follow each entry in a data descriptor, since they are known only at
 * its end. (No ZIP64: an export stays well under 4 GB.)
 */
/** The time now as MS-DOS stores it in a ZIP header: [time, date]. */
function dosTime(now = new Date()): [number, number] {
  const time = (now.getUTCHours() << 11) | (now.getUTCMinutes() << 5) | (now.getUTCSeconds() >> 1)
  const date = ((now.getUTCFullYear() - 1980) << 9) | ((now.getUTCMonth() + 1) << 5) | now.getUTCDate()
  return [time, date]
}

export class ZipWriter {
  #offset = 0
  #time = dosTime()
  #entries: Written[] = []
  constructor(private readonly out: Writable) {}

  async #write(chunk: Buffer) {
    this.#offset += chunk.length
    await writeTo(this.out, chunk)
  }

  /** Writes one entry; `content` yields its bytes (text as UTF-8). */
  async entry(fileName: string, content: AsyncIterable<string | Buffer> | Iterable<string | Buffer>) {
    const name = Buffer.from(fileName)
    const offset = this.#offset
    const header = Buffer.alloc(30)
    header.writeUInt32LE(0x04034b50, 0)
    header.writeUInt16LE(20, 4)
    header.writeUInt16LE(0x0808, 6) // sizes in a data descriptor; names in UTF-8
    header.writeUInt16LE(8, 8) // deflate
    header.writeUInt16LE(this.#time[0], 10)
    header.writeUInt16LE(this.#time[1], 12)
    header.writeUInt16LE(name.length, 26)
    await this.#write(Buffer.concat([header, name]))

    const deflate = createDeflateRaw({ level: constants.Z_BEST_SPEED })
    let crc = 0
    let size = 0
    let compressed = 0
    const pending: Buffer[] = []
    deflate.on('data', (chunk: Buffer) => pending.push(chunk))
    const flushPending = async () => {
      while (pending.length > 0) {
        const chunk = pending.shift()!
        compressed += chunk.length
        await this.#write(chunk)
      }
    }
    for await (const part of content) {
      const bytes = typeof part === 'string' ? Buffer.from(part) : part
      crc = crc32(bytes, crc)
      size += bytes.length
      if (!deflate.write(bytes)) await new Promise((resolve) => deflate.once('drain', resolve))
      await flushPending()
    }
    // All the compressed bytes have come out once the readable side ends, not when writing finishes.
    const ended = new Promise<void>((resolve, reject) => deflate.once('end', resolve).once('error', reject))
    deflate.end()
    await ended
    await flushPending()

    const descriptor = Buffer.alloc(16)
    descriptor.writeUInt32LE(0x08074b50, 0)
    descriptor.writeUInt32LE(crc, 4)
    descriptor.writeUInt32LE(compressed, 8)
    descriptor.writeUInt32LE(size, 12)
    await this.#write(descriptor)
    this.#entries.push({ name, crc, compressed, size, offset })
  }

  /** Writes the central directory; the archive is complete. */
  async finish() {
    const start = this.#offset
    for (const { name, crc, compressed, size, offset } of this.#entries) {
      const central = Buffer.alloc(46)
      central.writeUInt32LE(0x02014b50, 0)
      central.writeUInt16LE(20, 4)
      central.writeUInt16LE(20, 6)
      central.writeUInt16LE(0x0808, 8)
      central.writeUInt16LE(8, 10)
      central.writeUInt16LE(this.#time[0], 12)
      central.writeUInt16LE(this.#time[1], 14)
      central.writeUInt32LE(crc, 16)
      central.writeUInt32LE(compressed, 20)
      central.writeUInt32LE(size, 24)
      central.writeUInt16LE(name.length, 28)
      central.writeUInt32LE(offset, 42)
      await this.#write(Buffer.concat([central, name]))
    }
    const end = Buffer.alloc(22)
    end.writeUInt32LE(0x06054b50, 0)
    end.writeUInt16LE(this.#entries.length, 8)
    end.writeUInt16LE(this.#entries.length, 10)
    end.writeUInt32LE(this.#offset - start, 12)
    end.writeUInt32LE(start, 16)
    await this.#write(end)
  }
}
