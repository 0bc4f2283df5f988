// Where a request's parameters come from: GET and DELETE from the query string or a JSON body, POST from the body.
import { errorCodes, type FastifyInstance, type FastifyRequest, type RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { invalid, WHOLE_BODY } from '../problems.js'

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

export default fp(
  async function parameters(app: FastifyInstance) {
    // An empty body on GET or DELETE means "no body parameters", whatever Content-Type the client
    // still sends (Postman sends one); on POST an empty JSON body stays an error.
    const parseJson = app.getDefaultJsonParser('error', 'error')
    app.removeContentTypeParser('application/json')
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      if (body === '' && BODY_PARAMETER_METHODS.has(request.method)) return done(null, undefined)
      // The default parser answers through `done`, synchronously.
      void parseJson(request, body as string, done)
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
