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

// A string form takes the digits a person writes: no exponent, no leading zeros, no plus sign. A
// whole number has no decimal point at all, so that `"0.99999999999999999"` cannot become id 1.
const INTEGER = /^-?(0|[1-9]\d*)$/
const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?$/
const BOOLEAN: Record<string, boolean> = { true: true, false: false }

type Form = 'integer' | 'number' | 'boolean'

/** A JSON number's text as significant digits and a power of ten (`1.50e1` is `15e0`); zero is `0`. */
function decimalOf(text: string): string {
  const [, sign = '', whole = '', fraction = '', exponent = '0'] =
    /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text) ?? []
  const digits = (whole + fraction).replace(/^0+/, '')
  if (digits === '') return '0'
  const significant = digits.replace(/0+$/, '')
  const power = Number(exponent) - fraction.length + (digits.length - significant.length)
  return `${sign}${significant}e${power}`
}

/**
 * What is wrong with reading the JSON number `text` as a double, or undefined when the double holds
 * it as written. Up to 15 significant digits always fit; more fit only when they come back the same
 * (0.99999999999999999 would become 1). Whole numbers are left to the fields' maxima, which keep
 * them within 2^53, where every whole number fits: "must be <= 1000" says more than "too many digits".
 */
export function numberTextTrouble(text: string, value = Number(text)): string | undefined {
  if (!Number.isFinite(value)) return 'is too large a number to be read'
  if (INTEGER.test(text) || decimalOf(String(value)) === decimalOf(text)) return undefined
  if (value === 0) return 'is too close to zero to be read: it would become 0'
  return `has more digits than can be read exactly: it would become ${value}`
}

/**
 * The properties of an object schema that take numbers or booleans: those a query string (and a
 * client that quotes everything) sends as strings such as `"5"` or `"true"`.
 */
function stringForms(schema: JsonSchema): [string, Form][] {
  const forms: [string, Form][] = []
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    const types = ([] as string[]).concat(property.type ?? [])
    if (types.includes('string')) continue
    if (types.includes('number')) forms.push([name, 'number'])
    else if (types.includes('integer')) forms.push([name, 'integer'])
    else if (types.includes('boolean')) forms.push([name, 'boolean'])
  }
  return forms
}

/**
 * Reads `"5"` as 5 and `"true"` as true in place; anything else is left for the schema to refuse.
 * Returns an error for each string of digits that a double cannot hold as written.
 */
function readStringForms(forms: [string, Form][], data: unknown): FastifySchemaValidationError[] {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return []
  const record = data as Record<string, unknown>
  const errors: FastifySchemaValidationError[] = []
  for (const [name, form] of forms) {
    const value = record[name]
    if (typeof value !== 'string') continue
    if (form === 'boolean') {
      if (value in BOOLEAN) record[name] = BOOLEAN[value]
    } else if ((form === 'integer' ? INTEGER : NUMBER).test(value)) {
      const message = numberTextTrouble(value)
      if (message === undefined) record[name] = Number(value)
      else errors.push({ keyword: 'numberText', instancePath: `/${name}`, schemaPath: '#', params: {}, message })
    }
  }
  return errors
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
      const unread = readStringForms(forms, data)
      const valid = validate(data)
      // A string left unread fails its type too; the reason it was not read says more.
      const others = (validate.errors ?? []).filter(
        (error) => !unread.some((each) => each.instancePath === error.instancePath),
      )
      withStringForms.errors = valid && unread.length === 0 ? validate.errors : [...unread, ...others]
      return valid && unread.length === 0
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
