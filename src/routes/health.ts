// Probes for load balancers and orchestrators, open to anyone: `/health` (the process lives) and
// `/ready` (the database answers). Neither needs a key; neither says more than it must.
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
    return { status: 'ready' }
  })
}

export default health
