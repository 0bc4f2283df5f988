// Configuration from the environment: defaults, conversions, and a clear refusal of bad values.
import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'

t.test('defaults when nothing is set (or a variable is empty)', async (t) => {
  t.same(loadConfig({}), {
    PORT: 3000,
    HOST: '127.0.0.1',
    DATABASE_URL: 'data/crm.sqlite',
    UPLOAD_MAX_BYTES: 52428800,
    RATE_LIMIT_PER_MINUTE: 600,
    MAX_EVENT_LOOP_DELAY_MS: 1000,
    LOG_LEVEL: 'info',
  })
  t.same(loadConfig({ PORT: '', LOG_LEVEL: '' }), loadConfig({}))
})

t.test('values from the environment, converted to their types; other variables ignored', async (t) => {
  t.same(
    loadConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      DATABASE_URL: ':memory:',
      UPLOAD_MAX_BYTES: '1024',
      LOG_LEVEL: 'debug',
      HOME: '/root',
      API_KEY: 'k'.repeat(40),
      RATE_LIMIT_PER_MINUTE: '60',
      MAX_EVENT_LOOP_DELAY_MS: '200',
    }),
    {
      PORT: 8080,
      HOST: '0.0.0.0',
      DATABASE_URL: ':memory:',
      UPLOAD_MAX_BYTES: 1024,
      LOG_LEVEL: 'debug',
      API_KEY: 'k'.repeat(40),
      RATE_LIMIT_PER_MINUTE: 60,
      MAX_EVENT_LOOP_DELAY_MS: 200,
    },
  )
})

t.test('a bad value is refused with a message naming the variable and the value', async (t) => {
  t.throws(() => loadConfig({ PORT: 'eighty' }), { name: 'ConfigError', message: /PORT="eighty"/ })
  t.throws(() => loadConfig({ PORT: '70000' }), {
    message: /PORT="70000": Expected integer to be less or equal to 65535/,
  })
  t.throws(() => loadConfig({ PORT: '80.5' }), ConfigError)
  t.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), { message: /LOG_LEVEL="loud"/ })
  t.throws(() => loadConfig({ UPLOAD_MAX_BYTES: '0' }), { message: /UPLOAD_MAX_BYTES="0"/ })
  t.throws(() => loadConfig({ UPLOAD_MAX_BYTES: '50MB' }), { message: /UPLOAD_MAX_BYTES="50MB"/ })
  t.throws(() => loadConfig({ PORT: 'x', LOG_LEVEL: 'loud' }), { message: /PORT="x".*; LOG_LEVEL="loud"/ })
  t.throws(() => loadConfig({ RATE_LIMIT_PER_MINUTE: '0' }), { message: /RATE_LIMIT_PER_MINUTE="0"/ })
  // A key too short to be safe is refused without being printed.
  const refusal = t.throws(() => loadConfig({ API_KEY: 'secret-but-short' })) as Error
  t.match(refusal.message, /API_KEY \(not shown\): Expected string length greater or equal to 32/)
  t.notMatch(refusal.message, /secret-but-short/)
})
