// buildApp: the whole application, with every Fastify option, as production and the tests run it.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyServerOptions } from 'fastify'
import { sharedSchemas } from '../schemas/common.js'
import type { Config } from './config.js'
import db from './plugins/db.js'
import errors from './plugins/errors.js'
import parameters from './plugins/parameters.js'
import shutdown from './plugins/shutdown.js'
import openapi from './plugins/swagger.js'
import customers from './routes/customers.js'
import { ajvOptions, buildValidator } from './validation.js'

/** The largest JSON body accepted; a record is a few hundred bytes. */
export const JSON_BODY_LIMIT = 64 * 1024

export type AppOptions = {
  config: Pick<Config, 'DATABASE_URL' | 'LOG_LEVEL'>
  /** Where log lines go (standard output when not given); tests pass a stream to read them. */
  logStream?: NodeJS.WritableStream
}

function logger({ config, logStream }: AppOptions): FastifyServerOptions['logger'] {
  const options = { level: config.LOG_LEVEL, redact: ['req.headers.authorization', 'req.headers["x-api-key"]'] }
  if (logStream) return { ...options, stream: logStream }
  if (process.stdout.isTTY) return { ...options, transport: { target: 'pino-pretty' } }
  return options
}

export async function buildApp(options: AppOptions) {
  const app = Fastify({
    logger: logger(options),
    bodyLimit: JSON_BODY_LIMIT,
    // GET routes read a JSON body (below); Fastify's automatic HEAD routes cannot coexist with that.
    exposeHeadRoutes: false,
    ajv: { customOptions: ajvOptions },
    schemaController: { compilersFactory: { buildValidator } },
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.addHttpMethod('GET', { hasBody: true, overrideExisting: true })

  for (const schema of sharedSchemas) app.addSchema(schema)
  await app.register(shutdown)
  await app.register(db, { url: options.config.DATABASE_URL })
  await app.register(openapi)
  await app.register(errors)
  await app.register(parameters)

  // Every endpoint group lives in this one context: the place where a request is admitted.
  await app.register(async function api(api) {
    await api.register(customers)
  })
  return app
}

export type App = Awaited<ReturnType<typeof buildApp>>
