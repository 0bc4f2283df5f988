// The failures the application raises on purpose; the error handler turns each into problem+json.
import type { Static } from '@sinclair/typebox'
import type { FieldErrorSchema } from '../schemas/common.js'

export type FieldError = Static<typeof FieldErrorSchema>

export class HttpProblem extends Error {
  constructor(
    readonly statusCode: number,
    detail: string,
    readonly errors?: FieldError[],
  ) {
    super(detail)
    this.name = 'HttpProblem'
  }
}

/** 400 for a rule the schema cannot express, reported like any validation failure. */
export const invalid = (field: string, message: string) => new HttpProblem(400, `${field} ${message}`, [{ field, message }])

/** 404 for a record that does not exist; `what` names it as a person would ("Customer 5"). */
export const notFound = (what: string) => new HttpProblem(404, `${what} does not exist.`)

export const conflict = (detail: string) => new HttpProblem(409, detail)
