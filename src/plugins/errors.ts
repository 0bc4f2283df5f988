// One error handler for the whole API: every failure leaves as an RFC 9457 problem+json (src/problems.ts).
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { ProblemDetail } from '../../schemas/common.js'
import { prefersHtml, problemPage } from '../html.js'
import { HttpProblem, problem, toProblem } from '../problems.js'

/** The problem's `instance`: the request id, which the logs and the `X-Request-Id` header carry too. */
const instanceOf = (request: FastifyRequest) => `urn:request:${encodeURIComponent(request.id)}`

function sendProblem(reply: FastifyReply, body: ProblemDetail) {
  const instance = instanceOf(reply.request)
  return reply
    .code(body.status)
    .type('application/problem+json')
    .send({ ...body, instance })
}

export default fp(
  async function errors(app: FastifyInstance) {
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const body = toProblem(error, request)
      if (error instanceof HttpProblem && error.headers) reply.headers(error.headers)
      if (body.status >= 500) request.log.error({ err: error }, 'request failed')
      // A person who posted the upload form in a browser reads the problem as a page.
      if (request.routeOptions.config.html && prefersHtml(request)) {
        return reply.code(body.status).type('text/html; charset=utf-8').send(problemPage(body))
      }
      return sendProblem(reply, body)
    })
    app.setNotFoundHandler((request, reply) =>
      sendProblem(reply, problem(404, `No route matches ${request.method} ${request.url.split('?')[0]}.`)),
    )
  },
  { name: 'errors' },
)

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route is posted by browser forms: its errors are pages for clients that prefer HTML. */
    html?: boolean
  }
}
