// The OpenAPI document, built from the routes' schemas, at /openapi.json, and Swagger UI at /docs.
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import pkg from '../../package.json' with { type: 'json' }

/** How a key is sent: the security schemes of the document, which Swagger UI's Authorize button offers. */
const securitySchemes = {
  bearer: {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key as `Authorization: Bearer <key>`. `npm run keys -- create` makes one.',
  },
  apiKeyHeader: {
    type: 'apiKey',
    in: 'header',
    name: 'X-API-Key',
    description: 'An API key in the `X-API-Key` header.',
  },
  basic: {
    type: 'http',
    scheme: 'basic',
    description: 'For the upload forms in a browser: any user name, the API key as the password.',
  },
} as const

export default fp(
  async function openapi(app: FastifyInstance, { tags }: { tags: { name: string; description: string }[] }) {
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
        components: { securitySchemes },
        security: [{ bearer: [] }, { apiKeyHeader: [] }],
      },
      // An upload's form is read by @fastify/multipart as it streams, not validated as a body; the
      // route states it as `x-form`, and the document shows it as the multipart request body.
      // Each operation says which role it needs, and the form routes take HTTP Basic too.
      transform: ({ schema, url, route }) => {
        if (!schema || schema.hide) return { schema, url }
        const { role = 'admin', html } = (route.config ?? {}) as { role?: string; html?: boolean }
        const { 'x-form': form, ...rest } = schema as typeof schema & { 'x-form'?: unknown }
        const documented: Record<string, unknown> = {
          ...rest,
          description: `${rest.description ?? ''}\n\nNeeds an API key with the **${role}** role${role === 'admin' ? '' : ' or higher'}.`,
          ...(form !== undefined && { body: form }),
          ...(html && { security: [{ bearer: [] }, { apiKeyHeader: [] }, { basic: [] }] }),
        }
        return { schema: documented, url }
      },
      // Shared schemas become components named by their `$id` (`Customer`, `Problem`, ...).
      refResolver: {
        buildLocalReference: (json, _baseUri, _fragment, i) => (json.$id as string | undefined) ?? `def-${i}`,
      },
    })
    await app.register(swaggerUi, {
      routePrefix: '/docs',
      // "Try it out" calls the server that served the page, wherever it runs, on whatever port and
      // behind whatever proxy: the browser resolves a relative server against the page's own address,
      // which no request header (Host, X-Forwarded-Proto) can make point elsewhere.
      transformSpecification: (document) => ({
        ...document,
        servers: [{ url: '/', description: 'This server' }],
      }),
    })
    app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger())
  },
  { name: 'openapi' },
)
