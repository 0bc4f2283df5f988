// GET (and DELETE) routes take their parameters from the query string or from a JSON body.
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { invalid } from '../errors.js'

const BODY_PARAMETER_METHODS = new Set(['GET', 'DELETE'])

/**
 * The seed's clients send GET parameters as a JSON body; browsers and generated clients use the
 * query string. Either reaches the route's `querystring` schema, so both are validated alike.
 * A name given in both places is refused rather than one silently winning.
 */
async function mergeBodyIntoQuery(request: FastifyRequest) {
  const body = request.body
  if (body === undefined || body === null) return
  if (typeof body !== 'object' || Array.isArray(body)) throw invalid('body', 'must be a JSON object')
  const query = request.query as Record<string, unknown>
  for (const name of Object.keys(body)) {
    if (Object.hasOwn(query, name)) throw invalid(name, 'is given both in the query string and in the body')
  }
  request.query = { ...query, ...body }
}

export default fp(
  async function getBody(app: FastifyInstance) {
    // An empty body on GET or DELETE means "no body parameters", even when the client still sends
    // `Content-Type: application/json` (Postman does); on POST it stays an error.
    const parseJson = app.getDefaultJsonParser('error', 'error')
    app.removeContentTypeParser('application/json')
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      if (body === '' && BODY_PARAMETER_METHODS.has(request.method)) return done(null, undefined)
      parseJson(request, body as string, done)
    })

    app.addHook('onRoute', (route: RouteOptions) => {
      const methods = ([] as string[]).concat(route.method)
      if (!route.schema?.querystring || !methods.some((method) => BODY_PARAMETER_METHODS.has(method))) return
      const hooks = route.preValidation ?? []
      route.preValidation = [...(Array.isArray(hooks) ? hooks : [hooks]), mergeBodyIntoQuery]
    })
  },
  { name: 'get-body' },
)
