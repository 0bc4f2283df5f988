// Request validation: Ajv without its loose type coercion, plus the string forms clients send.
import { AjvCompiler } from '@fastify/ajv-compiler'
import type { TSchema } from '@sinclair/typebox'
import type { FastifySchemaValidationError } from 'fastify/types/schema.js'
import { formatMessages, patternMessages } from '../schemas/common.js'
import type { FieldError } from './problems.js'

/**
 * Ajv's own coercion would also turn `null` into 0 or "" and `true` into 1; unknown fields would
 * be dropped silently. Types are strict here, unknown fields are errors, and every bad field is
 * reported (request bodies are small: the body limit bounds the work).
 */
export const ajvOptions = {
  coerceTypes: false,
  removeAdditional: false,
  useDefaults: true,
  allErrors: true,
  multipleOfPrecision: 6,
} as const

interface JsonSchema {
  type?: string | string[]
  properties?: Record<string, JsonSchema>
}

const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?$/
const BOOLEAN: Record<string, boolean> = { true: true, false: false }

/**
 * The properties of an object schema that take numbers or booleans: those a query string (and a
 * client that quotes everything) sends as strings such as `"5"` or `"true"`.
 */
function stringForms(schema: JsonSchema): [string, 'number' | 'boolean'][] {
  const forms: [string, 'number' | 'boolean'][] = []
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    const types = ([] as string[]).concat(property.type ?? [])
    if (types.includes('string')) continue
    if (types.includes('integer') || types.includes('number')) forms.push([name, 'number'])
    else if (types.includes('boolean')) forms.push([name, 'boolean'])
  }
  return forms
}

/** Reads `"5"` as 5 and `"true"` as true in place; anything else is left for the schema to refuse. */
function readStringForms(forms: [string, 'number' | 'boolean'][], data: unknown) {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return
  const record = data as Record<string, unknown>
  for (const [name, kind] of forms) {
    const value = record[name]
    if (typeof value !== 'string') continue
    if (kind === 'number' && NUMBER.test(value)) record[name] = Number(value)
    else if (kind === 'boolean' && value in BOOLEAN) record[name] = BOOLEAN[value]
  }
}

const ajvFactory = AjvCompiler()

/** Fastify's validator factory: Ajv's, with the string forms read first. */
export function buildValidator(...args: Parameters<typeof ajvFactory>) {
  const compile = ajvFactory(...args)
  return (route: Parameters<ReturnType<typeof ajvFactory>>[0]) => {
    const validate = compile(route)
    const forms = stringForms(route.schema as JsonSchema)
    if (forms.length === 0) return validate
    const withStringForms = Object.assign((data: unknown) => {
      readStringForms(forms, data)
      const valid = validate(data)
      withStringForms.errors = validate.errors
      return valid
    }, validate)
    return withStringForms
  }
}

/**
 * A validator for `schema` outside any route (an uploaded row), built exactly as a route's body
 * validator is: the same Ajv options and the same string forms, so a row and a JSON request obey
 * the same rules.
 */
export function compileValidator(schema: TSchema) {
  const validate = buildValidator(
    {},
    { customOptions: ajvOptions },
  )({ schema, method: 'POST', url: '', httpPart: 'body' })
  return (data: Record<string, unknown>): FieldError[] =>
    validate(data) ? [] : (validate.errors ?? []).map((error) => describeError(error, '(row)'))
}

/** One Ajv error in words: the field as the client wrote it (`context` for the whole), and what is wrong. */
export function describeError(error: FastifySchemaValidationError, context: string): FieldError {
  const params = error.params
  if (error.keyword === 'required') return { field: String(params.missingProperty), message: 'is required' }
  if (error.keyword === 'additionalProperties') {
    return { field: String(params.additionalProperty), message: 'is not a known field' }
  }
  const field = error.instancePath.slice(1).replaceAll('/', '.') || context
  let message = error.message ?? 'is invalid'
  if (error.keyword === 'type') message = `must be ${String(params.type).split(',').join(' or ')}`
  if (error.keyword === 'multipleOf' && params.multipleOf === 0.01) message = 'must have at most two decimals'
  if (error.keyword === 'enum') message += `: ${(params.allowedValues as unknown[]).join(', ')}`
  if (error.keyword === 'pattern') message = patternMessages[String(params.pattern)] ?? message
  if (error.keyword === 'format') message = formatMessages[String(params.format)] ?? message
  return { field, message }
}
