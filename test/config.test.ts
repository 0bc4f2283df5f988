// Configuration from the environment: defaults, conversions, and a clear refusal of bad values.
import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'
import { exactly } from './helper.js'

/** The refusal of a configuration, with its exact words. */
const refused = (message: string) => ({ name: 'ConfigError', message: exactly(`Invalid configuration: ${message}`) })

t.test('defaults when nothing is set (or a variable is empty)', async (t) => {
  t.same(loadConfig({}), {
    PORT: 3000,
    HOST: '127.0.0.1',
    DATABASE_URL: 'data/crm.sqlite',
    DATABASE_POOL_SIZE: 10,
    UPLOAD_MAX_BYTES: 52428800,
    RATE_LIMIT_PER_MINUTE: 600,
    MAX_EVENT_LOOP_DELAY_MS: 1000,
    HEADERS_TIMEOUT_MS: 10_000,
    REQUEST_TIMEOUT_MS: 600_000,
    KEEP_ALIVE_TIMEOUT_MS: 72_000,
    IDEMPOTENCY_TTL_HOURS: 24,
    IDEMPOTENCY_LEASE_MS: 30_000,
    EVENT_RETENTION_DAYS: 90,
    STREAM_HEARTBEAT_MS: 10_000,
    WEBHOOK_ALLOW_PRIVATE: 'false',
    WEBHOOK_DELIVERY: 'true',
    WEBHOOK_TIMEOUT_MS: 10_000,
    WEBHOOK_RETRY_DELAYS_MS: '5000,300000,1800000,7200000,18000000,36000000,36000000',
    LOG_LEVEL: 'info',
  })
  t.same(loadConfig({ PORT: '', LOG_LEVEL: '' }), loadConfig({}))
})

t.test('values from the environment, converted to their types; other variables ignored', async (t) => {
  t.same(
    loadConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgres://crm@db.internal:5432/crm',
      DATABASE_POOL_SIZE: '25',
      REDIS_URL: 'redis://cache.internal:6379',
      UPLOAD_MAX_BYTES: '1024',
      LOG_LEVEL: 'debug',
      HOME: '/root',
      API_KEY: 'k'.repeat(40),
      RATE_LIMIT_PER_MINUTE: '60',
      MAX_EVENT_LOOP_DELAY_MS: '200',
      HEADERS_TIMEOUT_MS: '5000',
      REQUEST_TIMEOUT_MS: '900000',
      KEEP_ALIVE_TIMEOUT_MS: '65000',
      IDEMPOTENCY_TTL_HOURS: '48',
      IDEMPOTENCY_LEASE_MS: '5000',
      EVENT_RETENTION_DAYS: '0',
      STREAM_HEARTBEAT_MS: '15000',
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_DELIVERY: 'false',
      WEBHOOK_TIMEOUT_MS: '2000',
      WEBHOOK_RETRY_DELAYS_MS: '10,20',
    }),
    {
      PORT: 8080,
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgres://crm@db.internal:5432/crm',
      DATABASE_POOL_SIZE: 25,
      REDIS_URL: 'redis://cache.internal:6379',
      UPLOAD_MAX_BYTES: 1024,
      LOG_LEVEL: 'debug',
      API_KEY: 'k'.repeat(40),
      RATE_LIMIT_PER_MINUTE: 60,
      MAX_EVENT_LOOP_DELAY_MS: 200,
      HEADERS_TIMEOUT_MS: 5000,
      REQUEST_TIMEOUT_MS: 900_000,
      KEEP_ALIVE_TIMEOUT_MS: 65_000,
      IDEMPOTENCY_TTL_HOURS: 48,
      IDEMPOTENCY_LEASE_MS: 5000,
      EVENT_RETENTION_DAYS: 0,
      STREAM_HEARTBEAT_MS: 15_000,
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_DELIVERY: 'false',
      WEBHOOK_TIMEOUT_MS: 2000,
      WEBHOOK_RETRY_DELAYS_MS: '10,20',
    },
  )
})

t.test('a bad value is refused with a message naming the variable and the value', async (t) => {
  t.throws(() => loadConfig({ PORT: 'eighty' }), refused('PORT="eighty": Expected integer'))
  t.throws(() => loadConfig({ PORT: '70000' }), refused('PORT="70000": Expected integer to be less or equal to 65535'))
  t.throws(() => loadConfig({ PORT: '80.5' }), ConfigError)
  t.throws(
    () => loadConfig({ DATABASE_POOL_SIZE: '0' }),
    refused('DATABASE_POOL_SIZE="0": Expected integer to be greater or equal to 1'),
  )
  t.throws(
    () => loadConfig({ REDIS_URL: 'http://user:secret@cache:6379' }),
    refused("REDIS_URL (not shown): Expected string to match '^rediss?://'"),
  )
  t.throws(() => loadConfig({ PORT: '80.5' }), refused('PORT="80.5": Expected integer'))
  // What a bad level is told stops at the variable and its value: the schema's words for it
  // ("Expected kind 'StringEnum'") do not name the levels there are.
  t.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), {
    name: 'ConfigError',
    message: /^Invalid configuration: LOG_LEVEL="loud": /,
  })
  t.throws(
    () => loadConfig({ UPLOAD_MAX_BYTES: '0' }),
    refused('UPLOAD_MAX_BYTES="0": Expected integer to be greater or equal to 1'),
  )
  t.throws(() => loadConfig({ UPLOAD_MAX_BYTES: '50MB' }), refused('UPLOAD_MAX_BYTES="50MB": Expected integer'))
  t.throws(() => loadConfig({ PORT: 'x', LOG_LEVEL: 'loud' }), {
    name: 'ConfigError',
    message: /^Invalid configuration: PORT="x": Expected integer; LOG_LEVEL="loud": [^;]*$/,
  })
  t.throws(
    () => loadConfig({ RATE_LIMIT_PER_MINUTE: '0' }),
    refused('RATE_LIMIT_PER_MINUTE="0": Expected integer to be greater or equal to 1'),
  )
  t.throws(
    () => loadConfig({ REQUEST_TIMEOUT_MS: '0' }),
    refused('REQUEST_TIMEOUT_MS="0": Expected integer to be greater or equal to 1'),
  )
  // The whole request's bound runs from its first byte too: a shorter one would cut the headers first.
  t.throws(
    () => loadConfig({ HEADERS_TIMEOUT_MS: '20000', REQUEST_TIMEOUT_MS: '15000' }),
    refused('HEADERS_TIMEOUT_MS="20000": Expected at most REQUEST_TIMEOUT_MS (15000)'),
  )
  t.throws(
    () => loadConfig({ REQUEST_TIMEOUT_MS: '5000' }),
    refused('REQUEST_TIMEOUT_MS="5000": Expected at least HEADERS_TIMEOUT_MS (10000)'),
  )
  // A key too short to be safe is refused without being printed.
  const refusal = t.throws(() => loadConfig({ API_KEY: 'secret-but-short' })) as Error
  t.equal(refusal.message, 'Invalid configuration: API_KEY (not shown): Expected string length greater or equal to 32')
  t.notMatch(refusal.message, /secret-but-short/)
})
