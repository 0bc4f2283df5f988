// Key management for admins: make a key (shown once), list the keys, revoke one. `npm run keys` does the same.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ChangeHeaders, jsonResponse, pageOf, problemResponses } from '../../schemas/common.js'
import * as examples from '../../schemas/examples.js'
import { ApiKeySchema, CreatedApiKeySchema, CreateKeySchema, KeyIdSchema, KeysQuerySchema } from '../../schemas/key.js'
import { createKey, listKeys, revokeKey } from '../services/keys.js'

export const tag = {
  name: 'keys',
  description: 'API keys: each has a role (reader, editor, admin), is shown once when made, and can be revoked.',
}
const tags = [tag.name]
const ApiKey = Type.Ref(ApiKeySchema)

const keys: FastifyPluginAsyncTypebox = async (app) => {
  app.addSchema(ApiKeySchema)
  const config = { role: 'admin' } as const

  app.post(
    '/api/add/key',
    {
      config,
      schema: {
        operationId: 'addKey',
        tags,
        summary: 'Make an API key',
        description:
          '`name` (who or what the key is for) and `role` are required. The answer holds the key itself, ' +
          'this once: only its SHA-256 is stored, and lists show only its prefix.',
        body: CreateKeySchema,
        headers: ChangeHeaders,
        response: {
          201: jsonResponse(CreatedApiKeySchema, 'The new key, with the key itself.', examples.createdKey),
          ...problemResponses({}, { change: true }),
        },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await createKey(app.db, request.body.name, request.body.role, request.writer)),
  )

  app.get(
    '/api/get/keys',
    {
      config,
      schema: {
        operationId: 'listKeys',
        tags,
        summary: 'List the API keys',
        description:
          'Every key, oldest first, revoked ones too, paged by `limit` and `offset`; never the keys themselves.',
        querystring: KeysQuerySchema,
        response: {
          200: { ...Type.Array(ApiKey), description: 'The keys, oldest first.', examples: [examples.keyList] },
          ...problemResponses(),
        },
      },
    },
    async (request) => listKeys(app.db, pageOf(request.query)),
  )

  app.post(
    '/api/revoke/key',
    {
      config,
      schema: {
        operationId: 'revokeKey',
        tags,
        summary: 'Revoke an API key',
        description:
          'The key with `id` stops working at once. Revoking a revoked key changes nothing and answers it as it is. ' +
          'The last active admin key cannot be revoked here (409), so that an admin key is always left to manage ' +
          'keys with; `API_KEY` does not count. Make another admin key first, or use `npm run keys -- revoke`.',
        body: KeyIdSchema,
        headers: ChangeHeaders,
        response: {
          200: jsonResponse(ApiKey, 'The revoked key.', examples.revokedKey),
          ...problemResponses(
            {
              404: 'No key has this `id`.',
              409: 'The key is the last active admin key.',
            },
            { change: true },
          ),
        },
      },
    },
    async (request) => revokeKey(app.db, request.body.id, { keepAnAdmin: true }, request.writer),
  )
}

export default keys
