// The OpenAPI document, built from the routes' schemas, at /openapi.json, and Swagger UI at /docs.
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import pkg from '../../package.json' with { type: 'json' }

export default fp(
  async function openapi(app: FastifyInstance, { tags }: { tags: Array<{ name: string; description: string }> }) {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'CRM API',
          version: pkg.version,
          description: pkg.description,
          contact: { name: 'CRM API maintainers' },
        },
        servers: [{ url: 'http://127.0.0.1:3000', description: 'Local server (npm start)' }],
        tags,
        // No operation asks for credentials yet: an empty list says so.
        security: [],
      },
      // An upload's form is read by @fastify/multipart as it streams, not validated as a body; the
      // route states it as `x-form`, and the document shows it as the multipart request body.
      transform: ({ schema, url }) => {
        if (!schema || !('x-form' in schema)) return { schema, url }
        const { 'x-form': form, ...rest } = schema as typeof schema & { 'x-form': unknown }
        return { schema: { ...rest, body: form } as typeof schema, url }
      },
      // Shared schemas become components named by their `$id` (`Customer`, `Problem`, ...).
      refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
    })
    await app.register(swaggerUi, {
      routePrefix: '/docs',
      // "Try it out" calls the server that served the page, wherever it runs and on whatever port.
      transformSpecification: (document, request) => ({
        ...document,
        servers: [{ url: `${request.protocol}://${request.host}`, description: 'This server' }],
      }),
    })
    app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger())
  },
  { name: 'openapi' },
)
