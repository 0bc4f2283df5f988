// Webhook delivery on this instance: the dispatcher runs from the moment the server is ready, looks
// at once when a change commits here, and stops (cutting off its attempts) when the server closes.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import { Dispatcher } from '../webhooks/dispatcher.js'

/** How often the dispatcher looks for events and retries due (another instance's changes, and retries). */
const POLL_MS = 250
/** A webhook failing, and nothing else, for this long is disabled. */
const DISABLE_AFTER_MS = 5 * 24 * 3_600_000

/** The waits before each retry, from WEBHOOK_RETRY_DELAYS_MS. */
export const retryDelaysOf = (setting: string) => setting.split(',').map(Number)

export default fp(
  async function webhooks(app: FastifyInstance, { config }: { config: Config }) {
    if (config.WEBHOOK_DELIVERY !== 'true') return
    const dispatcher = new Dispatcher(
      app.db,
      {
        timeoutMs: config.WEBHOOK_TIMEOUT_MS,
        retryDelaysMs: retryDelaysOf(config.WEBHOOK_RETRY_DELAYS_MS),
        allowPrivate: config.WEBHOOK_ALLOW_PRIVATE === 'true',
        disableAfterMs: DISABLE_AFTER_MS,
        pollMs: POLL_MS,
      },
      app.log.child({ part: 'webhooks' }),
    )
    const unwatch = app.feed.watch(() => dispatcher.wake())
    app.addHook('onReady', async () => dispatcher.start())
    app.addHook('preClose', async () => {
      unwatch()
      dispatcher.stop()
    })
  },
  { name: 'webhooks', dependencies: ['db', 'feed'] },
)
