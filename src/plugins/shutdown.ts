// Graceful shutdown: requests already sent are answered (new ones with a 503 problem), then connections close.
import type { Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { HttpProblem } from '../problems.js'

/** How long a shutdown waits for requests already on their way before closing connections anyway. */
const DRAIN_MS = 2000
/** A connection that has brought nothing for this long is taken to have nothing more on its way. */
const QUIET_MS = 100

/** The 503 of a request that comes while the server closes. */
export const shuttingDown = () =>
  new HttpProblem(503, 'The server is shutting down; try again shortly.', undefined, { 'retry-after': '5' })

/**
 * Closing the server closes connections it has not started reading a request from, even when that
 * request has arrived and waits in the socket (the event loop was busy with another): the client
 * would see a reset for a request it sent. So, once closing starts, the server goes on reading:
 * every request that arrives is answered (a 503 problem, `Connection: close`), and when the
 * connections have gone quiet, those with no request in progress are closed (a client that opened
 * one and sent nothing would otherwise hold the shutdown for ever). Fastify's own 503 is off
 * (`return503OnClosing: false`), so the refusal is problem+json like every other.
 */
export default fp(
  async function shutdown(app: FastifyInstance) {
    let closing = false
    let lastArrival = 0
    /** Each open connection, with the number of its requests not yet answered (or given up). */
    const connections = new Map<Socket, number>()
    app.server.on('connection', (socket: Socket) => {
      connections.set(socket, 0)
      socket.once('close', () => connections.delete(socket))
    })
    // Counted on the server itself: a response that never finishes (the client went away) closes.
    app.server.on('request', (request, response) => {
      const { socket } = request
      lastArrival = Date.now()
      connections.set(socket, (connections.get(socket) ?? 0) + 1)
      response.once('close', () => connections.has(socket) && connections.set(socket, connections.get(socket)! - 1))
    })
    const inFlight = () => [...connections.values()].some((count) => count > 0)

    app.addHook('onRequest', async () => {
      if (closing) {
        throw shuttingDown()
      }
    })
    app.addHook('preClose', async () => {
      closing = true
      const until = Date.now() + DRAIN_MS
      while (connections.size > 0 && Date.now() < until && (inFlight() || Date.now() - lastArrival < QUIET_MS)) {
        await sleep(10)
      }
      for (const [socket, requests] of connections) if (requests === 0) socket.destroy()
    })
    app.addHook('onSend', async (_request, reply) => {
      if (closing) reply.header('connection', 'close')
    })
  },
  { name: 'shutdown' },
)
