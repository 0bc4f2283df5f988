// Who may do what: every route of the API needs a key whose role reaches the route's `role`.
// Keys come as `Authorization: Bearer KEY` or `X-API-Key: KEY`; the routes browsers post forms to
// (`html`) also take HTTP Basic (any user name, the key as password), from their own origin only.
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Role } from '../../schemas/key.js'
import { HttpProblem } from '../problems.js'
import { prefersHtml } from '../html.js'
import type { Db } from '../db/connect.js'
import { type Caller, callerOf } from '../services/keys.js'

/** Each role can do what the ones before it can. */
export const ROLES: readonly Role[] = ['reader', 'editor', 'admin']
const rank = (role: Role) => ROLES.indexOf(role)

const REALM = 'CRM API'

interface Presented {
  key: string
  scheme: 'bearer' | 'header' | 'basic'
}

/** An `Authorization` of a scheme the API reads, with more than the credentials after it. */
const MALFORMED = 'malformed'

/**
 * The key a request presents, if any, and how: `Authorization` (Bearer or Basic) first, then
 * `X-API-Key`, which also serves when a proxy has put an `Authorization` of its own. A Bearer or
 * Basic header with anything after its credentials is malformed: the key is not guessed from it.
 */
function presented(request: FastifyRequest): Presented | typeof MALFORMED | undefined {
  const authorization = request.headers.authorization
  if (authorization) {
    const [scheme = '', value = '', ...more] = authorization.trim().split(/\s+/)
    const known = ['bearer', 'basic'].includes(scheme.toLowerCase())
    if (known && more.length > 0) return MALFORMED
    if (scheme.toLowerCase() === 'bearer' && value) return { key: value, scheme: 'bearer' }
    if (scheme.toLowerCase() === 'basic' && value) {
      const decoded = Buffer.from(value, 'base64').toString('utf8')
      const colon = decoded.indexOf(':')
      if (colon >= 0 && colon < decoded.length - 1) return { key: decoded.slice(colon + 1), scheme: 'basic' }
    }
  }
  const header = request.headers['x-api-key']
  if (typeof header === 'string' && header !== '') return { key: header, scheme: 'header' }
  return undefined
}

/**
 * The key a request was admitted with, as sent: what only its caller knows, from which the answers
 * stored for its retries are sealed (see the idempotency plugin).
 */
export function presentedKey(request: FastifyRequest): string | undefined {
  const credentials = presented(request)
  return credentials === MALFORMED ? undefined : credentials?.key
}

/**
 * 401 with the challenge the client can answer: a browser on a form route gets `Basic` (its own
 * login prompt), anything else `Bearer`, never a browser dialog.
 */
function unauthorized(request: FastifyRequest, detail: string) {
  const basic = request.routeOptions.config.html && prefersHtml(request)
  return new HttpProblem(401, detail, undefined, {
    'www-authenticate': basic ? `Basic realm="${REALM}", charset="UTF-8"` : `Bearer realm="${REALM}"`,
  })
}

/**
 * A Basic login the browser remembers is sent with any form posted to this server, from any site:
 * only a post from this server's own page (or typed in by the user) may use it.
 */
function fromThisSite(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site']
  if (site !== undefined) return site === 'same-origin' || site === 'none'
  const origin = request.headers.origin
  return origin === undefined || origin === `${request.protocol}://${request.host}`
}

const identified = new WeakMap<FastifyRequest, Promise<Caller | undefined>>()

/**
 * The caller whose valid key a request presents, looked up once per request (the rate limit asks
 * first, to count requests per key); `undefined` without a usable key.
 */
export function identify(request: FastifyRequest, db: Db, apiKey: string | undefined): Promise<Caller | undefined> {
  let caller = identified.get(request)
  if (!caller) {
    const credentials = presented(request)
    // A Basic login counts only on the forms and from this site: another site's posts, refused,
    // must not use up the rate limit of the key the browser remembers.
    const usable =
      credentials &&
      credentials !== MALFORMED &&
      (credentials.scheme !== 'basic' || (request.routeOptions.config.html && fromThisSite(request)))
    caller = usable ? callerOf(db, credentials.key, apiKey) : Promise.resolve(undefined)
    identified.set(request, caller)
  }
  return caller
}

export default fp(
  async function auth(app: FastifyInstance, { apiKey }: { apiKey?: string | undefined }) {
    app.decorateRequest('caller', undefined)
    // A route hook, added after the rate limit's: refused requests are counted too.
    app.addHook('onRoute', (route) => {
      route.onRequest = [route.onRequest ?? []].flat().concat(admit)
    })
    async function admit(request: FastifyRequest) {
      const { role, public: open } = request.routeOptions.config
      if (open) return
      const credentials = presented(request)
      if (!credentials) throw unauthorized(request, 'This request needs an API key: send Authorization: Bearer <key>.')
      if (credentials === MALFORMED) {
        throw unauthorized(
          request,
          'The Authorization header is malformed: send the scheme and the key alone, as Authorization: Bearer <key>.',
        )
      }
      if (credentials.scheme === 'basic' && !request.routeOptions.config.html) {
        throw unauthorized(request, 'HTTP Basic is accepted only by the upload page; send Authorization: Bearer <key>.')
      }
      if (credentials.scheme === 'basic' && !fromThisSite(request)) {
        throw new HttpProblem(403, 'A form posted from another site cannot use the login of this one.')
      }
      const caller = await identify(request, app.db, apiKey)
      if (!caller) throw unauthorized(request, 'The API key is not valid, or it has been revoked.')
      const needed = role ?? 'admin'
      if (rank(caller.role) < rank(needed)) {
        throw new HttpProblem(
          403,
          `This request needs the ${needed} role; the key ${caller.key} has the ${caller.role} role.`,
        )
      }
      request.caller = caller
      request.log.debug({ key: caller.key, role: caller.role }, 'authenticated')
      // From here on every line of the request names the key (the line above names it once): the
      // handlers' lines and Fastify's own "request completed". Fastify's logger is pino, whose child
      // loggers take more bindings.
      const log = request.log as FastifyBaseLogger & { setBindings(bindings: Record<string, unknown>): void }
      log.setBindings({ key: caller.key })
    }
  },
  { name: 'auth', dependencies: ['db'] },
)

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The least role a key needs for this route; a route without one needs `admin`. */
    role?: Role
    /** Open to anyone, without a key. */
    public?: boolean
  }
  interface FastifyRequest {
    /** The key the request was admitted with. */
    caller?: Caller
  }
}
