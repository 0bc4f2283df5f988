// Retries made safe. Every request that changes data may carry an Idempotency-Key (scoped to its API
// key): the first is carried out and its answer stored in the change's own transaction; the same
// request again gets that answer (`Idempotent-Replayed: true`) and changes nothing; another request
// with the key is a 422; while the first is still running, on any instance, a 409.
//
// The key is claimed first by one insert, committed before the change begins: of requests arriving
// together on any number of instances, one claims it. The claim is renewed while its request runs
// and lapses when its instance dies, so that a retry then runs afresh. The answer is stored only
// while the claim is held, as the last statement of the change's transaction.
import { createCipheriv, createDecipheriv, createHash, randomBytes, randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import type { IdempotencyKeyRow } from '../../schemas/database.js'
import type { Writer } from '../changes.js'
import { etagOf } from '../conditional.js'
import type { Db } from '../db/connect.js'
import { HttpProblem } from '../problems.js'
import { hashKey } from '../services/keys.js'
import { presentedKey } from './auth.js'
import { later } from '../services/values.js'

export const IDEMPOTENCY_HEADER = 'idempotency-key'

/** Answers not stored: the server failed, or the request was never let in; a retry runs afresh. */
const unstored = (status: number) => status >= 500 || [401, 403, 429, 499].includes(status)

/** Whether a route changes data: every POST and DELETE, and the seed's GET that deletes a customer. */
export const changesData = (route: Pick<RouteOptions, 'method' | 'url'>) =>
  [route.method].flat().some((method) => method !== 'GET') || route.url === '/api/delete/customer'

/** A request's claim on its Idempotency-Key, while it runs. */
interface Claim {
  scope: string
  key: string
  token: string
  /** Seals the stored answer: derived from the API key as sent, which the database never holds. */
  secret: Buffer
  /** Whether the change's transaction has written the answer (it holds once that transaction commits). */
  answered: boolean
  /** Whether nothing is left to do: the answer is stored, or the claim given up. */
  settled: boolean
  renewal: NodeJS.Timeout
}

/** What a route answers when it succeeds: its status, and whether the answer carries the record's ETag. */
interface Success {
  status: number
  etag: boolean
}

const claims = new WeakMap<FastifyRequest, Claim>()

/** JSON with object keys in order, so that one request always gives one fingerprint. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined)
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

/** What makes two requests "the same": method, route, and the parameters given (the file, for an upload). */
export const fingerprintOf = (request: FastifyRequest, parts: unknown[]) =>
  createHash('sha256')
    .update(canonical([request.method, request.routeOptions.url, ...parts]))
    .digest('base64url')

// A stored answer is sealed with AES-256-GCM under a key only the caller can give again: a new API
// key's answer holds the key itself, and no answer should be readable from the database alone.
function seal(secret: Buffer, text: string): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', secret, iv)
  const sealed = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64')
}

function unseal(secret: Buffer, stored: string): string {
  const bytes = Buffer.from(stored, 'base64')
  const decipher = createDecipheriv('aes-256-gcm', secret, bytes.subarray(0, 12))
  decipher.setAuthTag(bytes.subarray(12, 28))
  return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8')
}

export interface IdempotencyOptions {
  ttlHours: number
  leaseMs: number
}

/**
 * Claims the request's Idempotency-Key, if it sent one, for the request `parts` describe (its
 * parameters, or an upload's file): true when the stored answer has been sent instead (a replay),
 * so that the handler stops; a 422 or 409 problem is thrown. Without the header, nothing happens.
 */
export async function claimIdempotencyKey(
  request: FastifyRequest,
  reply: FastifyReply,
  parts: unknown[],
): Promise<boolean> {
  // Its form (1 to 255 visible ASCII characters) is checked with the route's headers (ChangeHeaders).
  const key = request.headers[IDEMPOTENCY_HEADER]
  if (typeof key !== 'string') return false
  const { db, idempotency: options } = request.server
  const caller = request.caller!
  const sent = presentedKey(request) ?? ''
  const scope = caller.id === null ? `config:${hashKey(sent).slice(0, 16)}` : `key:${caller.id}`
  const secret = createHash('sha256').update(`${sent}\n${key}`).digest()
  const fingerprint = fingerprintOf(request, parts)
  for (;;) {
    const time = new Date().toISOString()
    const token = randomUUID()
    const inserted = await db
      .insertInto('idempotency_keys')
      .values({
        scope,
        key,
        fingerprint,
        token,
        lockeduntil: later(options.leaseMs),
        status: null,
        contenttype: null,
        etag: null,
        body: null,
        created: time,
        expires: later(options.ttlHours * 3_600_000),
      })
      .onConflict((conflict) => conflict.columns(['scope', 'key']).doNothing())
      .executeTakeFirst()
    if (Number(inserted.numInsertedOrUpdatedRows) === 1) return hold(request, reply, { scope, key, token, secret })
    const row = await db
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('scope', '=', scope)
      .where('key', '=', key)
      .executeTakeFirst()
    if (!row) continue
    // Kept past IDEMPOTENCY_TTL_HOURS (the hourly removal has not come yet): the key is new again.
    if (row.expires <= time) {
      await db
        .deleteFrom('idempotency_keys')
        .where('scope', '=', scope)
        .where('key', '=', key)
        .where('token', '=', row.token)
        .execute()
      continue
    }
    if (row.fingerprint !== fingerprint) {
      throw new HttpProblem(
        422,
        `The Idempotency-Key ${key} was used for another request (method, path, parameters or file); ` +
          'a key names one request. Send a new key for a new request.',
      )
    }
    if (row.status !== null) return replay(reply, row, secret)
    if (row.lockeduntil > time) {
      throw new HttpProblem(
        409,
        `A request with the Idempotency-Key ${key} is still being carried out; retry after a moment to get its answer.`,
        undefined,
        { 'retry-after': '1' },
      )
    }
    // Its instance stopped renewing the claim: this request takes it over, if no other did first.
    const taken = await db
      .updateTable('idempotency_keys')
      .set({ token, lockeduntil: later(options.leaseMs) })
      .where('scope', '=', scope)
      .where('key', '=', key)
      .where('token', '=', row.token)
      .where('status', 'is', null)
      .executeTakeFirst()
    if (Number(taken.numUpdatedRows) === 1) return hold(request, reply, { scope, key, token, secret })
  }
}

/** Holds a claim while the request runs: renewed until its answer is stored or it is given up. */
function hold(
  request: FastifyRequest,
  reply: FastifyReply,
  { scope, key, token, secret }: Omit<Claim, 'answered' | 'settled' | 'renewal'>,
): false {
  const { db, idempotency: options } = request.server
  const renew = () =>
    db
      .updateTable('idempotency_keys')
      .set({ lockeduntil: later(options.leaseMs) })
      .where('scope', '=', scope)
      .where('key', '=', key)
      .where('token', '=', token)
      .execute()
      .catch((error: unknown) => request.log.warn({ err: error }, 'renewing an idempotency key claim failed'))
  const renewal = setInterval(() => void renew(), Math.max(1, Math.floor(options.leaseMs / 3)))
  renewal.unref()
  reply.raw.once('close', () => clearInterval(renewal))
  claims.set(request, { scope, key, token, secret, answered: false, settled: false, renewal })
  request.writer.answer = (trx, result) => storeSuccess(trx, request, result)
  return false
}

/** The stored answer, sent again. */
function replay(reply: FastifyReply, row: IdempotencyKeyRow, secret: Buffer): true {
  let body: string
  try {
    body = unseal(secret, row.body!)
  } catch {
    throw new HttpProblem(422, 'The stored answer of this Idempotency-Key cannot be read with the key sent.')
  }
  void reply.code(row.status!).header('idempotent-replayed', 'true').type(row.contenttype!)
  if (row.etag) void reply.header('etag', row.etag)
  void reply.send(row.contenttype!.includes('json') ? JSON.parse(body) : body)
  return true
}

/** Stores the answer of a change that succeeded, in its transaction: only while this request still holds the key. */
async function storeSuccess(trx: Db, request: FastifyRequest, result: unknown): Promise<void> {
  const claim = claims.get(request)!
  const { success = { status: 200, etag: false }, present } = request.routeOptions.config
  const answer = present?.(request, result) ?? { type: 'application/json; charset=utf-8', body: JSON.stringify(result) }
  const stored = await trx
    .updateTable('idempotency_keys')
    .set({
      status: success.status,
      contenttype: answer.type,
      etag: success.etag ? etagOf(result as object) : null,
      body: seal(claim.secret, answer.body),
    })
    .where('scope', '=', claim.scope)
    .where('key', '=', claim.key)
    .where('token', '=', claim.token)
    .where('status', 'is', null)
    .executeTakeFirst()
  if (Number(stored.numUpdatedRows) !== 1) {
    throw new HttpProblem(
      409,
      `The claim on the Idempotency-Key ${claim.key} lapsed and another request took it over; nothing was changed ` +
        'by this one. Retry to get the answer of that one.',
      undefined,
      { 'retry-after': '1' },
    )
  }
  claim.answered = true
}

/** After the answer: a failure's answer is stored too (it changed nothing), or the claim is given up. */
async function settle(request: FastifyRequest, reply: FastifyReply, payload: unknown) {
  const claim = claims.get(request)
  if (!claim || claim.settled) return
  claim.settled = true
  clearInterval(claim.renewal)
  const status = reply.statusCode
  // The change committed with its answer. (When its commit failed, the answer went with it: the 500
  // below gives the claim up.)
  if (claim.answered && !unstored(status)) return
  const { db } = request.server
  if (unstored(status) || typeof payload !== 'string') {
    await db
      .deleteFrom('idempotency_keys')
      .where('scope', '=', claim.scope)
      .where('key', '=', claim.key)
      .where('token', '=', claim.token)
      .where('status', 'is', null)
      .execute()
    return
  }
  const etag = reply.getHeader('etag')
  await db
    .updateTable('idempotency_keys')
    .set({
      status,
      contenttype: String(reply.getHeader('content-type') ?? 'application/json; charset=utf-8'),
      etag: typeof etag === 'string' ? etag : null,
      body: seal(claim.secret, payload),
    })
    .where('scope', '=', claim.scope)
    .where('key', '=', claim.key)
    .where('token', '=', claim.token)
    .where('status', 'is', null)
    .execute()
}

declare module 'fastify' {
  interface FastifyInstance {
    idempotency: IdempotencyOptions
  }
  interface FastifyContextConfig {
    /** The handler claims the Idempotency-Key itself, once it has read what the request is (an upload's file). */
    claimsIdempotencyKey?: boolean
    /** A route that changes data: what it answers when it succeeds (set for every such route). */
    success?: Success
    /**
     * How the result of a change becomes the answer's body, when that is not its JSON (an upload's
     * report as a page): the answer stored for retries is the one sent.
     */
    present?: (request: FastifyRequest, result: unknown) => { type: string; body: string } | undefined
  }
  interface FastifyRequest {
    /** Who makes the changes of a request that changes data, and what its transaction must store besides. */
    writer: Writer
  }
}

export default fp(
  async function idempotency(app: FastifyInstance, options: IdempotencyOptions) {
    app.decorate('idempotency', options)
    app.decorateRequest('writer', undefined as unknown as Writer)
    app.addHook('onRoute', (route) => {
      if (!changesData(route)) return
      const response = (route.schema?.response ?? {}) as Record<string, { headers?: { etag?: unknown } }>
      const status = Object.keys(response)
        .map(Number)
        .filter((code) => code >= 200 && code < 300)
        .sort((a, b) => a - b)[0]
      const success = { status: status ?? 200, etag: response[status ?? 200]?.headers?.etag !== undefined }
      route.config = { ...route.config, success }
      route.preHandler = [route.preHandler ?? []].flat().concat(async function writer(request, reply) {
        request.writer = {
          actor: request.caller ? { key: request.caller.key, role: request.caller.role } : null,
          requestid: request.id,
          committed: () => app.feed.wake(),
        }
        if (request.routeOptions.config.claimsIdempotencyKey) return
        if (await claimIdempotencyKey(request, reply, [request.query, request.body])) return reply
      })
      route.onSend = [route.onSend ?? []].flat().concat(async function storeAnswer(request, reply, payload) {
        await settle(request, reply, payload)
        return payload
      })
    })
  },
  { name: 'idempotency', dependencies: ['db', 'auth'] },
)
