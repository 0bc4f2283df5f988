// The problems the API answers with (RFC 9457): what the code throws, and the problem+json body made from any failure.
import { STATUS_CODES } from 'node:http'
import type { Static } from '@sinclair/typebox'
import type { FastifyError, FastifyRequest } from 'fastify'
import type { FieldErrorSchema, ProblemDetail } from '../schemas/common.js'
import { describeError } from './validation.js'

export type FieldError = Static<typeof FieldErrorSchema>

/** A failure the application raises on purpose, with the status and words the client gets. */
export class HttpProblem extends Error {
  constructor(
    readonly statusCode: number,
    detail: string,
    readonly errors?: FieldError[],
    /** Headers the answer carries (a 401's challenge, a 429's `Retry-After`). */
    readonly headers?: Record<string, string>,
  ) {
    super(detail)
    this.name = 'HttpProblem'
  }
}

/**
 * The `field` of an error about the request body or query string as a whole, in parentheses so
 * that it cannot be taken for a field of that name (feedback has a field called `body`).
 */
export const WHOLE_BODY = '(body)'
export const WHOLE_QUERY = '(query)'

/** 400 for a rule the schema cannot express, reported like any validation failure. */
export const invalid = (field: string, message: string) =>
  new HttpProblem(400, `${field} ${message}`, [{ field, message }])

/** 404 for a record that does not exist; `what` names it as a person would ("Customer 5"). */
export const notFound = (what: string) => new HttpProblem(404, `${what} does not exist.`)

export const conflict = (detail: string) => new HttpProblem(409, detail)

/** The problem+json body for `status`; `title` is the status phrase, as `about:blank` requires. */
export function problem(status: number, detail: string, errors?: FieldError[]): ProblemDetail {
  return { type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail, ...(errors && { errors }) }
}

/** Each field once, with the first thing wrong with it. */
export const firstPerField = (errors: FieldError[]) =>
  errors.filter((error, i) => errors.findIndex((other) => other.field === error.field) === i)

/** The problem for invalid input: each field once, with the first thing wrong with it. */
export function validationProblem(all: FieldError[]): ProblemDetail {
  const errors = firstPerField(all)
  const list = errors.map((error) => `${error.field} ${error.message}`).join('; ')
  const count = errors.length === 1 ? '1 invalid field' : `${errors.length} invalid fields`
  return problem(400, `The request has ${count}: ${list}.`, errors)
}

/** Clear words for the failures Fastify raises before a handler runs. */
const frameworkDetail: Record<string, (request: FastifyRequest) => string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: () => 'The request body is not valid JSON.',
  FST_ERR_CTP_EMPTY_JSON_BODY: () => 'The request body is empty, but its Content-Type says JSON.',
  FST_ERR_CTP_BODY_TOO_LARGE: (request) =>
    `The request body is larger than the limit of ${request.routeOptions.bodyLimit} bytes.`,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (request) =>
    `The request body's Content-Type (${request.headers['content-type'] ?? 'none'}) is not supported; send application/json.`,
}

/** The problem any failure answers with; a 5xx says only that something failed, under which request id. */
export function toProblem(error: FastifyError, request: FastifyRequest): ProblemDetail {
  if (error.validation) {
    const context = error.validationContext === 'querystring' ? WHOLE_QUERY : WHOLE_BODY
    return validationProblem(error.validation.map((each) => describeError(each, context)))
  }
  if (error instanceof HttpProblem) {
    return error.errors ? validationProblem(error.errors) : problem(error.statusCode, error.message)
  }
  const status = error.statusCode ?? 500
  if (status >= 400 && status < 500) {
    return problem(status, frameworkDetail[error.code]?.(request) ?? error.message)
  }
  return problem(500, `An unexpected error occurred. It has been logged with request id ${request.id}.`)
}
