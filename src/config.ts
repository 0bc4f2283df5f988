// The server's configuration: a TypeBox schema of the environment variables it reads.
import { type Static, Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { StringEnum } from '../schemas/common.js'

export const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000, description: 'TCP port to listen on.' }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Address to listen on.' }),
  DATABASE_URL: Type.String({
    minLength: 1,
    default: 'data/crm.sqlite',
    description:
      'A SQLite file path (also as `file:PATH` or `sqlite:PATH`), `:memory:`, or a PostgreSQL URL (`postgres://…`).',
  }),
  DATABASE_POOL_SIZE: Type.Integer({
    minimum: 1,
    maximum: 1000,
    default: 10,
    description: 'PostgreSQL: the most connections each instance keeps open.',
  }),
  REDIS_URL: Type.Optional(
    Type.String({
      pattern: '^rediss?://',
      maxLength: 1000,
      description: 'A Redis server (`redis://…`) where all instances count their rate limits together.',
    }),
  ),
  UPLOAD_MAX_BYTES: Type.Integer({
    minimum: 1,
    default: 50 * 1024 * 1024,
    description: 'The largest file the upload endpoints accept, in bytes (413 above).',
  }),
  API_KEY: Type.Optional(
    Type.String({
      minLength: 32,
      maxLength: 512,
      description: 'A key accepted with the admin role, besides the stored keys (for automation and CI).',
    }),
  ),
  RATE_LIMIT_PER_MINUTE: Type.Integer({
    minimum: 1,
    default: 600,
    description: 'Requests a minute each key (or each address without a key) may make; 429 above.',
  }),
  MAX_EVENT_LOOP_DELAY_MS: Type.Integer({
    minimum: 1,
    default: 1000,
    description: 'Event loop delay above which requests are refused with 503 until it recovers.',
  }),
  // A request's headers are a few kilobytes, which even a 56 kbit/s line carries in about a second.
  HEADERS_TIMEOUT_MS: Type.Integer({
    minimum: 1,
    default: 10_000,
    description: 'How long a request may take to send its headers, from its first byte (408 above).',
  }),
  // A 50 MB upload at 1 Mbit/s takes about 7 minutes: 10 leave room for a slower line and the form around the file.
  REQUEST_TIMEOUT_MS: Type.Integer({
    minimum: 1,
    default: 600_000,
    description: 'How long a request may take to arrive in full, headers and body, from its first byte (408 above).',
  }),
  // Longer than the 60 s a proxy or load balancer usually keeps an idle connection: it closes first,
  // and never sends a request on a connection the server is closing (Fastify's own default).
  KEEP_ALIVE_TIMEOUT_MS: Type.Integer({
    minimum: 1,
    default: 72_000,
    description: 'How long a connection may stay open with no request, between requests.',
  }),
  TRUST_PROXY: Type.Optional(
    Type.String({
      maxLength: 1000,
      description:
        'Behind a reverse proxy: `true` (trust any), or the addresses and CIDR ranges (comma-separated) ' +
        'of the proxies whose X-Forwarded-For and X-Forwarded-Proto are believed.',
    }),
  ),
  IDEMPOTENCY_TTL_HOURS: Type.Integer({
    minimum: 1,
    maximum: 24 * 365,
    default: 24,
    description: 'How long the answer to a request sent with an Idempotency-Key is kept for its retries.',
  }),
  IDEMPOTENCY_LEASE_MS: Type.Integer({
    minimum: 100,
    maximum: 3_600_000,
    default: 30_000,
    description:
      'How long an Idempotency-Key stays claimed by a request in progress after its instance last renewed the claim ' +
      '(every third of this): once an instance has died, a retry after this runs afresh.',
  }),
  EVENT_RETENTION_DAYS: Type.Integer({
    minimum: 0,
    maximum: 36_500,
    default: 90,
    description: 'How long the change feed keeps an event; 0 keeps every event.',
  }),
  STREAM_HEARTBEAT_MS: Type.Integer({
    minimum: 100,
    maximum: 15_000,
    default: 10_000,
    description:
      'How often an open event stream with nothing to send gets a comment line, to keep proxies from closing it.',
  }),
  WEBHOOK_ALLOW_PRIVATE: StringEnum(['true', 'false'], {
    default: 'false',
    description:
      'true lets webhooks go to loopback, private and link-local addresses (a receiver on this machine or network).',
  }),
  WEBHOOK_DELIVERY: StringEnum(['true', 'false'], {
    default: 'true',
    description: 'false: this instance delivers no webhooks (the other instances do); it still manages them.',
  }),
  WEBHOOK_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    maximum: 60_000,
    default: 10_000,
    description: 'How long a webhook receiver has to answer; slower is a failed attempt.',
  }),
  WEBHOOK_RETRY_DELAYS_MS: Type.String({
    pattern: '^\\d{1,10}(,\\d{1,10}){0,19}$',
    default: '5000,300000,1800000,7200000,18000000,36000000,36000000',
    description:
      'The waits before each retry of a failed delivery, comma-separated (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h); ' +
      'after the last, the delivery has failed.',
  }),
  LOG_LEVEL: StringEnum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
    default: 'info',
    description: 'Least severe level of log lines written.',
  }),
})
export type Config = Static<typeof ConfigSchema>

/** Settings whose values never appear in a message. */
const SECRETS = new Set(['API_KEY', 'REDIS_URL'])

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Reads the configuration from `env`; an unset or empty variable takes its default. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const given: Record<string, string> = {}
  const config: Record<string, unknown> = {}
  for (const [key, schema] of Object.entries(ConfigSchema.properties)) {
    const value = env[key]
    if (value === undefined || value === '') continue
    given[key] = value
    // Only whole numbers are read as integers: "80.5" or "8e3" must not become a port by rounding.
    config[key] = schema.type === 'integer' && /^\d+$/.test(value) ? Number(value) : value
  }
  Value.Default(ConfigSchema, config)
  const problems = [...Value.Errors(ConfigSchema, config)].map((error) => {
    const key = error.path.slice(1)
    return `${key}${SECRETS.has(key) ? ' (not shown)' : `=${JSON.stringify(given[key])}`}: ${error.message}`
  })
  if (problems.length === 0) problems.push(...inconsistencies(config as Config, given))
  if (problems.length > 0) throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`)
  return config as Config
}

/** Settings valid one by one that cannot go together, named as they were given. */
function inconsistencies(config: Config, given: Record<string, string>): string[] {
  const { HEADERS_TIMEOUT_MS: headers, REQUEST_TIMEOUT_MS: request } = config
  // The whole request's time runs from its first byte too: a shorter one would cut the headers off first.
  if (headers <= request) return []
  return given.HEADERS_TIMEOUT_MS === undefined
    ? [
        `REQUEST_TIMEOUT_MS=${JSON.stringify(given.REQUEST_TIMEOUT_MS)}: Expected at least HEADERS_TIMEOUT_MS (${headers})`,
      ]
    : [
        `HEADERS_TIMEOUT_MS=${JSON.stringify(given.HEADERS_TIMEOUT_MS)}: Expected at most REQUEST_TIMEOUT_MS (${request})`,
      ]
}
