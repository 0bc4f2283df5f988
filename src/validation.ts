// Request validation: Ajv without its loose type coercion, plus the string forms clients send.
import { AjvCompiler } from '@fastify/ajv-compiler'

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

type JsonSchema = { type?: string | string[]; properties?: Record<string, JsonSchema> }

const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?$/
const BOOLEAN: Record<string, boolean> = { true: true, false: false }

/**
 * The properties of an object schema that take numbers or booleans: those a query string (and a
 * client that quotes everything) sends as strings such as `"5"` or `"true"`.
 */
function stringForms(schema: JsonSchema): Array<[string, 'number' | 'boolean']> {
  const forms: Array<[string, 'number' | 'boolean']> = []
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    const types = ([] as string[]).concat(property.type ?? [])
    if (types.includes('string')) continue
    if (types.includes('integer') || types.includes('number')) forms.push([name, 'number'])
    else if (types.includes('boolean')) forms.push([name, 'boolean'])
  }
  return forms
}

/** Reads `"5"` as 5 and `"true"` as true in place; anything else is left for the schema to refuse. */
function readStringForms(forms: Array<[string, 'number' | 'boolean']>, data: unknown) {
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
