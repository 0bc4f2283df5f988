// Every response the tests receive must be one the OpenAPI document promises: a documented status for
// its operation, a documented media type, and (for JSON) a body that passes the documented schema.
// Fastify's response schemas only serialise; this is the check that they and the document tell the truth.
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import document from '../openapi.json' with { type: 'json' }
import { ajvOptions } from '../src/validation.js'

interface DocumentedResponse {
  content?: Record<string, { schema: unknown }>
}
interface Operation {
  operationId: string
  responses: Record<string, DocumentedResponse>
}
const paths = document.paths as unknown as Record<string, Record<string, Operation>>

const ajv = new Ajv2020({ strict: false, allErrors: true, multipleOfPrecision: ajvOptions.multipleOfPrecision })
addFormats.default(ajv)
ajv.addSchema(document, 'openapi.json')

const validators = new Map<string, ValidateFunction>()
const pointer = (...segments: string[]) => segments.map((s) => s.replaceAll('~', '~0').replaceAll('/', '~1')).join('/')

/** The documented operation for a method and URL, if the document has one. */
function operationOf(method: string, url: string): Operation | undefined {
  const path = new URL(url, 'http://localhost').pathname
  return paths[path]?.[method.toLowerCase()]
}

/**
 * Why this response breaks the document, or `undefined` when it keeps to it. Requests to anything that
 * is not a documented operation (the page, /docs, unknown URLs) are not judged.
 */
export function undocumented(
  method: string,
  url: string,
  response: { status: number; contentType?: string | undefined; body: string },
): string | undefined {
  const operation = operationOf(method, url)
  if (!operation) return undefined
  const name = `${operation.operationId} (${method.toUpperCase()} ${url}) answered ${response.status}`
  const documented = operation.responses[String(response.status)]
  if (!documented) return `${name}, a status its document does not list`
  const type = (response.contentType ?? '').split(';')[0]!.trim()
  if (!documented.content) return response.body === '' ? undefined : `${name} with a body its document does not have`
  if (!(type in documented.content)) {
    return `${name} as ${type || 'no media type'}, not ${Object.keys(documented.content).join(' or ')}`
  }
  if (!type.endsWith('json')) return undefined
  const path = new URL(url, 'http://localhost').pathname
  const key = `${method} ${path} ${response.status} ${type}`
  let validate = validators.get(key)
  if (!validate) {
    const ref = pointer(
      'paths',
      path,
      method.toLowerCase(),
      'responses',
      String(response.status),
      'content',
      type,
      'schema',
    )
    validate = ajv.compile({ $ref: `openapi.json#/${ref}` })
    validators.set(key, validate)
  }
  let body: unknown
  try {
    body = JSON.parse(response.body)
  } catch {
    return `${name} with a body that is not JSON: ${response.body.slice(0, 200)}`
  }
  if (validate(body)) return undefined
  return `${name} with a body that does not match its schema: ${ajv.errorsText(validate.errors)}\n${response.body.slice(0, 500)}`
}

/** Throws when a response breaks the document (see `undocumented`). */
export function assertDocumented(...args: Parameters<typeof undocumented>) {
  const problem = undocumented(...args)
  if (problem) throw new Error(`Response not as documented: ${problem}`)
}

/** `fetch` for tests that talk to a listening server: the answer, read as text, must keep to the document. */
export async function documentedFetch(url: string, init: RequestInit = {}) {
  const response = await fetch(url, init)
  const text = await response.text()
  const contentType = response.headers.get('content-type') ?? undefined
  assertDocumented(init.method ?? 'GET', url, { status: response.status, contentType, body: text })
  return { status: response.status, headers: response.headers, text }
}
