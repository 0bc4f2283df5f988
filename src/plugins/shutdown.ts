// Graceful shutdown: requests already sent are answered (new ones with a 503 problem), then connections close.
import type { Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { HttpProblem } from '../errors.js'

/** How long a shutdown waits for requests already on their way before closing connections anyway. */
const DRAIN_MS = 2000
/** A connection that has brought nothing for this long is taken to have nothing more on its way. */
const QUIET_MS = 100

/**
 * Closing the server closes connections it has not started reading a request from, even when that
 * request has arrived and waits in the socket (the event loop was busy with another): the client
 * would see a reset for a request it sent. So, once closing starts, the server goes on reading:
 * every request that arrives is answered (a 503 problem, `Connection: close`), and the connections
 * are closed only when they have all closed or gone quiet. Fastify's own 503 is off
 * (`return503OnClosing: false`), so the refusal is problem+json like every other.
 */
export default fp(
  async function shutdown(app: FastifyInstance) {
    let closing = false
    let inFlight = 0
    let lastArrival = 0
    const sockets = new Set<Socket>()
    app.server.on('connection', (socket: Socket) => {
      sockets.add(socket)
      socket.once('close', () => sockets.delete(socket))
    })
    app.addHook('onRequest', async () => {
      inFlight++
      lastArrival = Date.now()
      if (closing) throw new HttpProblem(503, 'The server is shutting down; try again shortly.', undefined, { 'retry-after': '5' })
    })
    app.addHook('onResponse', async () => {
      inFlight--
    })
    app.addHook('preClose', async () => {
      closing = true
      const until = Date.now() + DRAIN_MS
      while (sockets.size > 0 && Date.now() < until && (inFlight > 0 || Date.now() - lastArrival < QUIET_MS)) {
        await sleep(10)
      }
    })
    app.addHook('onSend', async (_request, reply) => {
      if (closing) reply.header('connection', 'close')
    })
  },
  { name: 'shutdown' },
)
