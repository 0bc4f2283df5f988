// One error handler for the whole API: every failure leaves as an RFC 9457 problem+json.
import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { ProblemDetail } from '../../schemas/common.js'
import { type FieldError, HttpProblem, WHOLE_BODY, WHOLE_QUERY } from '../errors.js'
import { prefersHtml, problemPage } from '../html.js'
import { describeError, firstPerField } from '../validation.js'

/** The problem+json body for `status`; `title` is the status phrase, as `about:blank` requires. */
export function problem(status: number, detail: string, errors?: FieldError[]): ProblemDetail {
  return { type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail, ...(errors && { errors }) }
}

/** The problem's `instance`: the request id, which the logs and the `X-Request-Id` header carry too. */
export const instanceOf = (request: FastifyRequest) => `urn:request:${encodeURIComponent(request.id)}`

export function sendProblem(reply: FastifyReply, body: ProblemDetail) {
  const instance = instanceOf(reply.request)
  return reply
    .code(body.status)
    .type('application/problem+json')
    .send({ ...body, instance })
}

/** The problem for invalid input: each field once, with the first thing wrong with it. */
export function validationProblem(all: FieldError[]): ProblemDetail {
  const errors = firstPerField(all)
  const list = errors.map((error) => `${error.field} ${error.message}`).join('; ')
  const count = errors.length === 1 ? '1 invalid field' : `${errors.length} invalid fields`
  return problem(400, `The request has ${count}: ${list}.`, errors)
}

/** Clear words for the failures Fastify raises before a handler runs. */
const frameworkDetail: Record<string, (error: FastifyError, request: FastifyRequest) => string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: () => 'The request body is not valid JSON.',
  FST_ERR_CTP_EMPTY_JSON_BODY: () => 'The request body is empty, but its Content-Type says JSON.',
  FST_ERR_CTP_BODY_TOO_LARGE: (_error, request) =>
    `The request body is larger than the limit of ${request.routeOptions.bodyLimit} bytes.`,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (_error, request) =>
    `The request body's Content-Type (${request.headers['content-type'] ?? 'none'}) is not supported; send application/json.`,
}

function toProblem(error: FastifyError, request: FastifyRequest): ProblemDetail {
  if (error.validation) {
    const context = error.validationContext === 'querystring' ? WHOLE_QUERY : WHOLE_BODY
    return validationProblem(error.validation.map((each) => describeError(each, context)))
  }
  if (error instanceof HttpProblem) {
    return error.errors ? validationProblem(error.errors) : problem(error.statusCode, error.message)
  }
  const status = error.statusCode ?? 500
  if (status >= 400 && status < 500) {
    return problem(status, frameworkDetail[error.code]?.(error, request) ?? error.message)
  }
  return problem(500, `An unexpected error occurred. It has been logged with request id ${request.id}.`)
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
