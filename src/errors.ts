// The failures the application raises on purpose; the error handler turns each into problem+json.
import type { Static } from '@sinclair/typebox'
import type { FieldErrorSchema } from '../schemas/common.js'

export type FieldError = Static<typeof FieldErrorSchema>

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

/**
 * The one parameter of `names` that a request gave, for endpoints that look records up by one of
 * several keys (`id` or `name`); none or several is a 400.
 */
export function oneOf<K extends string>(parameters: Partial<Record<K, unknown>>, names: readonly [K, ...K[]]): K {
  const given = names.filter((name) => parameters[name] !== undefined)
  if (given.length === 0) throw invalid(names[0], `or ${names.slice(1).join(' or ')} is required`)
  if (given.length > 1) throw invalid(given[0]!, `and ${given[1]} cannot be given together`)
  return given[0]!
}
