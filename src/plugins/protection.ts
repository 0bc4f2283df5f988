// What every answer carries and every request passes first: its request id, security headers, the
// pressure valve (503 while the event loop is saturated), and, for the API, the rate limit per key.
import helmet from '@fastify/helmet'
import rateLimit from '@fastify/rate-limit'
import underPressure from '@fastify/under-pressure'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import { HttpProblem } from '../problems.js'
import { identify } from './auth.js'

interface Options {
  config: Config
}

export default fp(
  async function protection(app: FastifyInstance, { config }: Options) {
    app.addHook('onRequest', async (request, reply) => {
      reply.header('x-request-id', request.id)
    })
    // Security headers everywhere; the policy keeps Swagger UI (its own scripts and styles, inline
    // SVG images) and the upload page (inline styles, forms posting here) working. No upgrade of
    // http requests: the server itself speaks plain HTTP, behind a proxy that may add TLS.
    await app.register(helmet, {
      contentSecurityPolicy: {
        directives: { 'upgrade-insecure-requests': null, 'img-src': ["'self'", 'data:'], 'form-action': ["'self'"] },
      },
    })
    // A saturated event loop answers 503 with Retry-After at once, instead of queueing more work.
    await app.register(underPressure, {
      maxEventLoopDelay: config.MAX_EVENT_LOOP_DELAY_MS,
      sampleInterval: Math.min(1000, Math.max(10, Math.floor(config.MAX_EVENT_LOOP_DELAY_MS / 2))),
      pressureHandler: async (_request, _reply, type, value) => {
        const detail = `The server is too busy to take this request (${type} ${Math.round(value ?? 0)}); try again shortly.`
        throw new HttpProblem(503, detail, undefined, { 'retry-after': '10' })
      },
    })
  },
  { name: 'protection' },
)

/** The rate limit of the API, counted per key (or per address without a valid one) before roles are checked. */
export const limitRate = fp(
  async function rateLimitPlugin(app: FastifyInstance, { config }: Options) {
    await app.register(rateLimit, {
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
  { name: 'limit-rate', dependencies: ['db'] },
)
