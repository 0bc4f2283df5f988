// Probes for load balancers and orchestrators, open to anyone: `/health` (the process lives) and
// `/ready` (the database answers; with REDIS_URL, it also names the rate limit store's state).
// Neither needs a key; neither says more than it must.
import { sql } from 'kysely'
import type { FastifyPluginAsync } from 'fastify'
import { HttpProblem } from '../problems.js'

const health: FastifyPluginAsync = async (app) => {
  const hidden = { schema: { hide: true }, config: { public: true } }
  // A busy process is still alive: the liveness probe is not refused under pressure.
  app.get('/health', { ...hidden, config: { ...hidden.config, pressureHandler: () => undefined } }, async () => ({
    status: 'ok',
  }))
  app.get('/ready', hidden, async () => {
    try {
      await sql`select 1`.execute(app.db)
    } catch (error) {
      app.log.error({ err: error }, 'readiness check: the database does not answer')
      throw new HttpProblem(503, 'The database does not answer.', undefined, { 'retry-after': '5' })
    }
    // A Redis that does not answer leaves the instance ready: its requests are served, only not
    // counted (the limiter fails open). Answering 503 would take every instance out of a load
    // balancer at once. The store's own log lines tell of the outage, once; the answer names it.
    const store = app.rateLimitStore
    if (!store) return { status: 'ready' }
    return { status: 'ready', rateLimitStore: store.status === 'ready' ? 'ok' : 'unavailable' }
  })
}

export default health
