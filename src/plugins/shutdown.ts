// Graceful shutdown: once the app starts closing, responses close their connection.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/**
 * Fastify closes idle keep-alive connections when it starts closing, but a connection busy with a
 * request then would stay open after its response, holding the shutdown up until the client lets
 * go. Telling the client to close it lets the process stop as soon as the last response is sent.
 */
export default fp(
  async function shutdown(app: FastifyInstance) {
    let closing = false
    app.addHook('preClose', async () => {
      closing = true
    })
    app.addHook('onSend', async (_request, reply) => {
      if (closing) reply.header('connection', 'close')
    })
  },
  { name: 'shutdown' },
)
