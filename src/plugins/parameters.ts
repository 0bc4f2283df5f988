// Where a request's parameters come from: GET and DELETE from the query string or a JSON body, POST from the body.
import { errorCodes, type FastifyInstance, type FastifyRequest, type RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { type FieldError, HttpProblem, invalid, WHOLE_BODY } from '../problems.js'
import { numberTextTrouble } from '../validation.js'

const BODY_PARAMETER_METHODS = new Set(['GET', 'DELETE'])

/** Repeated query keys (`?id=1&id=2`) arrive as arrays: say so, rather than "must be integer". */
function refuseRepeats(query: Record<string, unknown>) {
  for (const [name, value] of Object.entries(query)) {
    if (Array.isArray(value)) throw invalid(name, 'is given more than once')
  }
}

/**
 * The seed's clients send GET parameters as a JSON body; browsers and generated clients use the
 * query string. Either reaches the route's `querystring` schema, so both are validated alike.
 * A name given in both places is refused rather than one silently winning.
 */
async function mergeBodyIntoQuery(request: FastifyRequest) {
  const query = request.query as Record<string, unknown>
  refuseRepeats(query)
  const body = request.body
  if (body === undefined) return
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid(WHOLE_BODY, 'must be a JSON object')
  }
  for (const name of Object.keys(body)) {
    if (Object.hasOwn(query, name)) throw invalid(name, 'is given both in the query string and in the body')
  }
  request.query = { ...query, ...body }
}

/** A POST takes its parameters from the body only; a query parameter would otherwise be ignored unseen. */
async function refuseQuery(request: FastifyRequest) {
  const [name] = Object.keys(request.query as object)
  if (name !== undefined) throw invalid(name, 'must be sent in the JSON body, not in the query string')
}

const REFUSED_KEY = 'is a key that is refused (prototype pollution)'

/** An object or array the scan is inside: the key of the object's current member, the index in the array. */
type Frame = { key?: string } | { index: number }

/** The field a path names, as validation errors write it (`items.3.price`), or `(body)` for the whole. */
const fieldOf = (frames: Frame[]) =>
  frames.map((frame) => ('index' in frame ? frame.index : frame.key)).join('.') || WHOLE_BODY

/** The index just past the string that opens at `start`. */
function stringEnd(text: string, start: number): number {
  for (let at = start + 1; ;) {
    const quote = text.indexOf('"', at)
    let backslashes = 0
    while (text[quote - 1 - backslashes] === '\\') backslashes++
    if (backslashes % 2 === 0) return quote + 1
    at = quote + 1
  }
}

const NUMBER_TOKEN = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y

const isRefusedKey = (key: string, frames: Frame[]) => {
  const parent = frames.at(-2)
  return (
    key === '__proto__' ||
    (key === 'prototype' && parent !== undefined && 'key' in parent && parent.key === 'constructor')
  )
}

/** After a comma: the next element of an array, or an object member whose key comes next. */
function nextMember(frame: Frame) {
  if ('index' in frame) frame.index++
  else delete frame.key
}

/**
 * What JSON.parse lets through in a text it has accepted, found in the text itself: a number that
 * a double cannot hold as written (it would be rounded unseen), and a `__proto__` key or a
 * `constructor.prototype`, which could reach an object's prototype.
 */
function troubleIn(text: string): FieldError[] {
  const errors: FieldError[] = []
  const frames: Frame[] = []
  for (let at = 0; at < text.length;) {
    const char = text[at]!
    const top = frames.at(-1)
    if (char === '"') {
      const end = stringEnd(text, at)
      if (top && !('index' in top) && top.key === undefined) {
        top.key = JSON.parse(text.slice(at, end)) as string
        if (isRefusedKey(top.key, frames)) errors.push({ field: fieldOf(frames), message: REFUSED_KEY })
      }
      at = end
    } else if (char === '-' || (char >= '0' && char <= '9')) {
      NUMBER_TOKEN.lastIndex = at
      const literal = NUMBER_TOKEN.exec(text)![0]
      const message = numberTextTrouble(literal)
      if (message !== undefined) errors.push({ field: fieldOf(frames), message })
      at += literal.length
    } else {
      if (char === '{') frames.push({})
      else if (char === '[') frames.push({ index: 0 })
      else if (char === '}' || char === ']') frames.pop()
      else if (char === ',' && top) nextMember(top)
      at++
    }
  }
  return errors
}

export default fp(
  async function parameters(app: FastifyInstance) {
    // An empty body on GET or DELETE means "no body parameters", whatever Content-Type the client
    // still sends (Postman sends one); on POST an empty JSON body stays an error.
    app.removeContentTypeParser('application/json')
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      const text = body as string
      if (text === '' && BODY_PARAMETER_METHODS.has(request.method)) return done(null, undefined)
      if (text === '') return done(new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY(), undefined)
      // A byte order mark is not JSON, but clients send one; the default parser passed over it too.
      const json = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
      let value: unknown
      try {
        value = JSON.parse(json)
      } catch {
        return done(new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY(), undefined)
      }
      const errors = troubleIn(json)
      if (errors.length > 0) return done(new HttpProblem(400, 'The request body has values that are refused.', errors))
      done(null, value)
    })
    // Any other body is not something this API reads: 415, rather than text the schemas would
    // reject with a confusing message.
    app.removeContentTypeParser('text/plain')
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
      if ((body as Buffer).length === 0 && BODY_PARAMETER_METHODS.has(request.method)) return done(null, undefined)
      done(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE(), undefined)
    })

    app.addHook('onRoute', (route: RouteOptions) => {
      const methods = ([] as string[]).concat(route.method)
      let hook
      if (route.schema?.querystring && methods.some((method) => BODY_PARAMETER_METHODS.has(method))) {
        hook = mergeBodyIntoQuery
      } else if (route.schema?.body && !route.schema.querystring) {
        hook = refuseQuery
      } else {
        return
      }
      const hooks = route.preValidation ?? []
      route.preValidation = [...(Array.isArray(hooks) ? hooks : [hooks]), hook]
    })
  },
  { name: 'parameters' },
)

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
