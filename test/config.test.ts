// Configuration from the environment: defaults, conversions, and a clear refusal of bad values.
import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'

t.test('defaults when nothing is set (or a variable is empty)', async (t) => {
  t.same(loadConfig({}), { PORT: 3000, HOST: '127.0.0.1', DATABASE_URL: 'data/crm.sqlite', LOG_LEVEL: 'info' })
  t.same(loadConfig({ PORT: '', LOG_LEVEL: '' }), loadConfig({}))
})

t.test('values from the environment, converted to their types; other variables ignored', async (t) => {
  t.same(loadConfig({ PORT: '8080', HOST: '0.0.0.0', DATABASE_URL: ':memory:', LOG_LEVEL: 'debug', HOME: '/root' }), {
    PORT: 8080,
    HOST: '0.0.0.0',
    DATABASE_URL: ':memory:',
    LOG_LEVEL: 'debug',
  })
})

t.test('a bad value is refused with a message naming the variable and the value', async (t) => {
  t.throws(() => loadConfig({ PORT: 'eighty' }), { name: 'ConfigError', message: /PORT="eighty"/ })
  t.throws(() => loadConfig({ PORT: '70000' }), { message: /PORT="70000": Expected integer to be less or equal to 65535/ })
  t.throws(() => loadConfig({ PORT: '80.5' }), ConfigError)
  t.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), { message: /LOG_LEVEL="loud"/ })
  t.throws(() => loadConfig({ PORT: 'x', LOG_LEVEL: 'loud' }), { message: /PORT="x".*; LOG_LEVEL="loud"/ })
})
