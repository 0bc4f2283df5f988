// Conditional requests: a record's ETag, and the If-None-Match and If-Match checks made with it.
import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { HttpProblem } from './problems.js'

/**
 * A record's strong ETag: a hash of the record exactly as the API shows it, so that it changes
 * whenever any field of the answer does (a customer's `revenue` too), on every instance alike.
 */
export const etagOf = (record: object) =>
  `"${createHash('sha256').update(JSON.stringify(record)).digest('base64url').slice(0, 27)}"`

/** The entity tags a header lists (`"a", W/"b"`), or `*`. */
const tagsOf = (header: string) =>
  header
    .split(',')
    .map((tag) => tag.trim())
    .filter(Boolean)

/** Whether If-Match holds for `etag`: `*`, or the tag itself (strong comparison: a weak tag never matches). */
export const ifMatchHolds = (header: string, etag: string) => tagsOf(header).some((tag) => tag === '*' || tag === etag)

/** Whether If-None-Match names `etag`: `*`, or the tag (weak comparison: `W/` is passed over). */
export const ifNoneMatchNames = (header: string, etag: string) =>
  tagsOf(header).some((tag) => tag === '*' || tag.replace(/^W\//, '') === etag)

/**
 * Refuses a change (412) when the request's If-Match does not hold for the record as it is now.
 * Called inside the change's transaction, which holds the write lock: of two writers holding the
 * same ETag, the second finds the record changed.
 */
export function assertIfMatch(header: string | undefined, record: object, what: string): void {
  if (header === undefined) return
  const etag = etagOf(record)
  if (ifMatchHolds(header, etag)) return
  throw new HttpProblem(
    412,
    `${what} has changed since the ETag in If-Match (${header}): its ETag is now ${etag}. ` +
      'Nothing was changed; get it again and decide on what it holds now.',
  )
}

/** `record` with its ETag header; a 304 with no body when the request's If-None-Match names that ETag. */
export function withEtag<T extends object>(request: FastifyRequest, reply: FastifyReply, record: T) {
  const etag = etagOf(record)
  void reply.header('etag', etag)
  const header = request.headers['if-none-match']
  if (header !== undefined && ifNoneMatchNames(header, etag)) return reply.code(304).send()
  return record
}
