// What every answer carries and every request passes first: its request id, security headers, the
// pressure valve (503 while the event loop is saturated), and, for the API, the rate limit per key
// (counted in Redis, shared by every instance, when REDIS_URL is set); and the answer to a request
// that cannot be read at all (too slow, headers too large, not HTTP).
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { type IncomingMessage, maxHeaderSize, type ServerResponse, STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import helmet from '@fastify/helmet'
import rateLimit from '@fastify/rate-limit'
import underPressure from '@fastify/under-pressure'
import type { ConnectionError, FastifyBaseLogger, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Redis, type RedisOptions } from 'ioredis'
import type { Config } from '../config.js'
import { HttpProblem, problem } from '../problems.js'
import { identify } from './auth.js'

interface Options {
  config: Config
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The Redis client the rate limit counts in (REDIS_URL), or null where each instance counts alone. */
    rateLimitStore: Redis | null
  }
}

/** The prefix of the rate limit's keys in Redis, so that they meet no other data kept there. */
export const RATE_LIMIT_NAMESPACE = 'crm-rate-limit:'

/** The longest a request waits for Redis to count it, and a connection attempt for Redis to answer. */
const STORE_TIMEOUT_MS = 1000

/**
 * The rate limit store's connection: a request never waits for a Redis that is gone. A command
 * sent while disconnected fails at once (no offline queue), one in flight fails as soon as the
 * connection drops (no retries) or after STORE_TIMEOUT_MS (a Redis that hangs); meanwhile the
 * client reconnects in the background, for as long as it takes: soon at first, then every 2 seconds.
 */
const STORE_OPTIONS: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  connectTimeout: STORE_TIMEOUT_MS,
  commandTimeout: STORE_TIMEOUT_MS,
  socketTimeout: STORE_TIMEOUT_MS,
  retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
}

/** The last request each connection brought (once its headers were read), with its id and its response. */
const lastRequests = new WeakMap<Socket, { id: string; request: IncomingMessage; response: ServerResponse }>()

export default fp(
  async function protection(app: FastifyInstance, { config }: Options) {
    app.addHook('onRequest', async (request, reply) => {
      reply.header('x-request-id', request.id)
      lastRequests.set(request.raw.socket, { id: request.id, request: request.raw, response: reply.raw })
    })
    // Security headers everywhere; the policy allows this server's own scripts, styles and fonts
    // (Swagger UI's and the page's inline styles too, and inline SVG images), and forms posting
    // here: nothing from another site. No upgrade of http requests: the server itself speaks plain
    // HTTP, behind a proxy that may add TLS.
    await app.register(helmet, {
      contentSecurityPolicy: {
        directives: {
          'upgrade-insecure-requests': null,
          'img-src': ["'self'", 'data:'],
          'style-src': ["'self'", "'unsafe-inline'"],
          'font-src': ["'self'"],
          'form-action': ["'self'"],
        },
      },
    })
    // A saturated event loop answers 503 with Retry-After at once, instead of queueing more work.
    const sampleInterval = Math.min(1000, Math.max(10, Math.floor(config.MAX_EVENT_LOOP_DELAY_MS / 2)))
    const stalled = stallClock(sampleInterval)
    app.addHook('onClose', async () => stalled.stop())
    await app.register(underPressure, {
      maxEventLoopDelay: config.MAX_EVENT_LOOP_DELAY_MS,
      sampleInterval,
      pressureHandler: async (_request, _reply, type, value) => {
        // A loop blocked through a whole sampling interval leaves no sample, which under-pressure
        // reports as an infinite delay: the real stall, measured here, decides instead.
        if (value === Number.POSITIVE_INFINITY && stalled.ms() <= config.MAX_EVENT_LOOP_DELAY_MS) return
        const detail = `The server is too busy to take this request (${type} ${Math.round(value ?? 0)}); try again shortly.`
        throw new HttpProblem(503, detail, undefined, { 'retry-after': '10' })
      },
    })
    // Here, at the root, so that `/ready` (outside the API) can tell whether Redis answers.
    app.decorate('rateLimitStore', config.REDIS_URL ? await connectRateLimitStore(app, config.REDIS_URL) : null)
  },
  { name: 'protection' },
)

/** How long a stall is remembered: about as long as under-pressure may go on reporting it. */
const STALL_MEMORY_MS = 1000

/**
 * How long the event loop has been held up lately: the lateness of a timer ticking every
 * `interval`, now or at its worst tick in the last STALL_MEMORY_MS (0 when the ticks come on time).
 */
function stallClock(interval: number) {
  let last = performance.now()
  let worst = { ms: 0, at: last }
  const timer = setInterval(() => {
    const now = performance.now()
    const late = Math.max(0, now - last - interval)
    if (late >= worst.ms || now - worst.at > STALL_MEMORY_MS) worst = { ms: late, at: now }
    last = now
  }, interval)
  timer.unref()
  return {
    ms: () => {
      const now = performance.now()
      return Math.max(now - last - interval, now - worst.at <= STALL_MEMORY_MS ? worst.ms : 0)
    },
    stop: () => clearInterval(timer),
  }
}

/**
 * A Redis client for the rate limit at `url`, disconnected when the app closes. It waits for its
 * first connection (STORE_TIMEOUT_MS at most): counting starts with the first request when Redis
 * answers, and the app starts anyway when it does not.
 */
async function connectRateLimitStore(app: FastifyInstance, url: string): Promise<Redis> {
  const client = new Redis(url, STORE_OPTIONS)
  let closing = false
  logAvailability(client, app.log, () => closing)
  app.addHook('onClose', async () => {
    closing = true
    client.disconnect()
  })
  // Resolves on the first connection; `once` rejects on the first error, a failed attempt.
  await once(client, 'ready').catch(() => undefined)
  return client
}

/**
 * Logs when the rate limit store stops answering (a warning) and when it answers again: once per
 * outage, not once per request nor once per attempt to reconnect; nothing when the app closes it.
 */
function logAvailability(client: Redis, log: FastifyBaseLogger, closing: () => boolean) {
  let available = true
  const lost = (error?: Error) => {
    if (!available || closing()) return
    available = false
    log.warn({ err: error }, 'rate limit store unavailable: requests are not counted')
  }
  client.on('error', lost)
  client.on('close', () => lost())
  client.on('ready', () => {
    if (available) return
    available = true
    log.info('rate limit store available again: requests are counted')
  })
}

/**
 * The rate limit of the API, counted per key (or per address without a valid one) before roles are
 * checked: in this instance's memory, or in Redis with every other instance when REDIS_URL is set
 * (the `protection` plugin's `rateLimitStore`). While Redis does not answer, requests are served
 * uncounted: a rate limit store that is down must not take the API down with it.
 */
export const limitRate = fp(
  async function rateLimitPlugin(app: FastifyInstance, { config }: Options) {
    const store = app.rateLimitStore
    await app.register(rateLimit, {
      ...(store && { redis: store, nameSpace: RATE_LIMIT_NAMESPACE, skipOnError: true }),
      max: config.RATE_LIMIT_PER_MINUTE,
      timeWindow: 60_000,
      enableDraftSpec: true,
      keyGenerator: async (request) => {
        const caller = await identify(request, app.db, config.API_KEY)
        return caller ? `key ${caller.key}` : `address ${request.ip}`
      },
      errorResponseBuilder: (_request, { max, after }) =>
        new HttpProblem(429, `Too many requests: ${max} a minute are allowed; try again in ${after}.`),
    })
  },
  { name: 'limit-rate', dependencies: ['db', 'protection'] },
)

const seconds = (ms: number) => (ms === 1000 ? '1 second' : `${ms / 1000} seconds`)

/**
 * Fastify's `clientErrorHandler`: a request Node could not read (it came too slowly, its headers
 * are too large, it is not HTTP) is answered with a problem, as every other failure is, instead of
 * Node's bare status or Fastify's own JSON; then the connection is closed. It is written to the
 * socket directly, as no reply exists for it, and only where no other answer has begun on the
 * connection. A request whose headers were read keeps its id (and its log lines); any other gets one.
 */
export function answerClientError(config: Config) {
  return function clientErrorHandler(this: FastifyInstance, error: ConnectionError, socket: Socket) {
    if (error.code === 'ECONNRESET' || socket.destroyed) return
    const last = lastRequests.get(socket)
    const cutOff = last && !last.request.complete ? last : undefined
    const id = cutOff?.id ?? randomUUID()
    const [status, detail] =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? cutOff
          ? [408, `The request did not arrive in full within ${seconds(config.REQUEST_TIMEOUT_MS)}.`]
          : [408, `The request headers did not arrive within ${seconds(config.HEADERS_TIMEOUT_MS)}.`]
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? [431, `The request headers are larger than the limit of ${maxHeaderSize} bytes.`]
          : [400, 'The request is not well-formed HTTP/1.1.']
    const answering = last?.response.headersSent && (cutOff !== undefined || !last.response.writableFinished)
    const answer = socket.writable && !answering
    this.log.info({ reqId: id, code: error.code, ...(answer && { res: { statusCode: status } }) }, 'request cut off')
    if (answer) socket.write(problemMessage(status, detail, id))
    socket.destroy()
  }
}

/** A whole HTTP response with a problem+json body, as the error handler would send it. */
function problemMessage(status: number, detail: string, id: string): string {
  const body = JSON.stringify({ ...problem(status, detail), instance: `urn:request:${encodeURIComponent(id)}` })
  return [
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
    'Content-Type: application/problem+json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    `X-Request-Id: ${id}`,
    'X-Content-Type-Options: nosniff',
    'Connection: close',
    '',
    body,
  ].join('\r\n')
}
