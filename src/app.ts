// buildApp: the whole application, with every Fastify option, as production and the tests run it.
import { randomUUID } from 'node:crypto'
import querystring from 'node:querystring'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyRequest, type FastifyServerOptions } from 'fastify'
import { sharedSchemas } from '../schemas/common.js'
import { type Config, loadConfig } from './config.js'
import auth from './plugins/auth.js'
import db from './plugins/db.js'
import errors from './plugins/errors.js'
import feed from './plugins/feed.js'
import idempotency from './plugins/idempotency.js'
import parameters from './plugins/parameters.js'
import protection, { answerClientError, limitRate } from './plugins/protection.js'
import shutdown from './plugins/shutdown.js'
import webhookDelivery from './plugins/webhooks.js'
import openapi from './plugins/swagger.js'
import * as customers from './routes/customers.js'
import * as events from './routes/events.js'
import * as exportRoutes from './routes/exports.js'
import * as feedback from './routes/feedback.js'
import * as keys from './routes/keys.js'
import * as products from './routes/products.js'
import health from './routes/health.js'
import page from './routes/page.js'
import * as tickets from './routes/tickets.js'
import * as uploads from './routes/uploads.js'
import * as webhooks from './routes/webhooks.js'
import { ajvOptions, buildValidator } from './validation.js'

/** The endpoint groups: each a route plugin with the OpenAPI tag its operations carry. */
const endpointGroups = [customers, products, feedback, tickets, uploads, exportRoutes, keys, events, webhooks]

/**
 * A value whose percent-escapes are not UTF-8 cannot be text anyone typed: it reads as a lone
 * surrogate, which every text rule refuses (the default parser would keep the escapes as text).
 */
const BROKEN_TEXT = '\uD800'
const parseQuery = (query: string) =>
  querystring.parse(query, '&', '=', {
    decodeURIComponent: (text) => {
      try {
        return decodeURIComponent(text)
      } catch {
        return BROKEN_TEXT
      }
    },
  })

/** Fastify's `trustProxy` from TRUST_PROXY: nothing, `true` (any proxy), or the proxies' addresses. */
function trustProxyOf(setting: string | undefined): boolean | string {
  if (setting === undefined || setting === 'false') return false
  return setting === 'true' ? true : setting
}

/** Request ids taken from `X-Request-Id`: short, and safe in logs, headers and URIs. */
const SANE_REQUEST_ID = /^[\w.:@+=-]{1,128}$/

/**
 * A key as made (`crm_` and 43 base64url characters), or a mistyped one: its prefix (the 12
 * characters that name it in lists and logs) and whatever follows.
 */
const KEY_SHAPED = /(crm_[\w-]{8})[\w-]+/g
const REDACTED = '[Redacted]'

/**
 * Text for the logs with each key cut to its prefix, and `API_KEY` (which has none) left out: a
 * client may put a key anywhere, in the query string (`?api_key=…`) or a header that is logged.
 */
function keysRedacted(apiKey: string | undefined) {
  const secrets = apiKey ? [apiKey, encodeURIComponent(apiKey)] : []
  return (text: string) =>
    secrets.reduce((cut, secret) => cut.replaceAll(secret, REDACTED), text.replace(KEY_SHAPED, `$1${REDACTED}`))
}

/** The largest JSON body accepted; a record is a few hundred bytes. */
export const JSON_BODY_LIMIT = 64 * 1024

export interface AppOptions {
  /** Settings not given take their defaults (`loadConfig({})`). */
  config: Partial<Config>
  /** Where log lines go (standard output when not given); tests pass a stream to read them. */
  logStream?: NodeJS.WritableStream
}

function logger(
  config: Config,
  redact: (text: string) => string,
  logStream?: NodeJS.WritableStream,
): FastifyServerOptions['logger'] {
  const options = {
    level: config.LOG_LEVEL,
    redact: ['req.headers.authorization', 'req.headers["x-api-key"]'],
    // Fastify's own request fields, with what the client wrote (the URL, Host, Accept-Version) redacted.
    serializers: {
      req: (request: FastifyRequest) => ({
        method: request.method,
        url: redact(request.url),
        version:
          typeof request.headers['accept-version'] === 'string' ? redact(request.headers['accept-version']) : undefined,
        host: redact(request.host),
        remoteAddress: request.ip,
        remotePort: request.socket?.remotePort,
      }),
    },
  }
  if (logStream) return { ...options, stream: logStream }
  if (process.stdout.isTTY) return { ...options, transport: { target: 'pino-pretty' } }
  return options
}

export async function buildApp(options: AppOptions) {
  const config: Config = { ...loadConfig({}), ...options.config }
  const redact = keysRedacted(config.API_KEY)
  const app = Fastify({
    logger: logger(config, redact, options.logStream),
    // A sane `X-Request-Id` from the client (or a proxy) is kept; otherwise, or when it holds a key
    // (every log line of the request names it), each request gets a UUID.
    requestIdHeader: false,
    genReqId: (request) => {
      const given = request.headers['x-request-id']
      return typeof given === 'string' && SANE_REQUEST_ID.test(given) && redact(given) === given ? given : randomUUID()
    },
    trustProxy: trustProxyOf(config.TRUST_PROXY),
    // Slow clients are cut off with 408: a request's headers, and the whole request, must arrive in
    // time; an idle connection is closed. Node checks the first two every 30 s unless told otherwise:
    // here every tenth of the headers' time, at most a second, so that the bounds hold as stated.
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    keepAliveTimeout: config.KEEP_ALIVE_TIMEOUT_MS,
    http: {
      headersTimeout: config.HEADERS_TIMEOUT_MS,
      requestTimeout: config.REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: Math.min(1000, Math.max(10, Math.round(config.HEADERS_TIMEOUT_MS / 10))),
    },
    // A request that cannot be read (too slow, headers too large, not HTTP) is answered with a problem too.
    clientErrorHandler: answerClientError(config),
    bodyLimit: JSON_BODY_LIMIT,
    // GET routes read a JSON body (below); Fastify's automatic HEAD routes cannot coexist with that.
    exposeHeadRoutes: false,
    routerOptions: { querystringParser: parseQuery },
    // Refusals while shutting down are the shutdown plugin's, as problem+json.
    return503OnClosing: false,
    ajv: { customOptions: ajvOptions },
    // The serializer checks a record against each branch of a union response (one record or a
    // list) with its own Ajv: it must read `multipleOf: 0.01` as validation does, or 19.99 fails.
    serializerOpts: { ajv: { multipleOfPrecision: ajvOptions.multipleOfPrecision } },
    schemaController: { compilersFactory: { buildValidator } },
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.addHttpMethod('GET', { hasBody: true, overrideExisting: true })

  await app.register(protection, { config })
  for (const schema of sharedSchemas) app.addSchema(schema)
  await app.register(feed, { retentionDays: config.EVENT_RETENTION_DAYS })
  await app.register(shutdown)
  await app.register(db, { url: config.DATABASE_URL, poolSize: config.DATABASE_POOL_SIZE })
  await app.register(webhookDelivery, { config })
  await app.register(openapi, { tags: endpointGroups.map((group) => group.tag) })
  await app.register(errors)
  await app.register(parameters)

  await app.register(health)

  // Every endpoint group lives in this one context: the place where a request is admitted.
  await app.register(async function api(scope) {
    await scope.register(limitRate, { config })
    await scope.register(auth, { apiKey: config.API_KEY })
    await scope.register(idempotency, { ttlHours: config.IDEMPOTENCY_TTL_HOURS, leaseMs: config.IDEMPOTENCY_LEASE_MS })
    for (const group of endpointGroups) await scope.register(group.default, { config })
    await scope.register(page)
  })
  return app
}

export type App = Awaited<ReturnType<typeof buildApp>>
