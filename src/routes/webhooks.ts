// Webhook management for admins: add (secret shown once), list, change, delete, rotate the secret,
// read the delivery log, and send an event again.
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import { ChangeHeaders, DeletedSchema, jsonResponse, problemResponses } from '../../schemas/common.js'
import * as examples from '../../schemas/examples.js'
import {
  AttemptSchema,
  CreatedWebhookSchema,
  CreateWebhookSchema,
  DeliveriesQuerySchema,
  RedeliverSchema,
  RedeliverySchema,
  UpdateWebhookSchema,
  WebhookIdSchema,
  WebhookSchema,
} from '../../schemas/webhook.js'
import type { Config } from '../config.js'
import {
  createWebhook,
  deleteWebhook,
  listAttempts,
  listWebhooks,
  redeliver,
  rotateSecret,
  updateWebhook,
} from '../services/webhooks.js'

export const tag = {
  name: 'webhooks',
  description:
    'Webhooks: the change feed pushed to your URL, each event signed as Standard Webhooks says, retried until ' +
    'delivered, with a log of every attempt.',
}
const tags = [tag.name]
const Webhook = Type.Ref(WebhookSchema)
const URL_REFUSED = 'Invalid input, or a url that is not http(s) or whose host is a private address.'

const webhooks: FastifyPluginAsyncTypebox<{ config: Config }> = async (app, { config }) => {
  app.addSchema(WebhookSchema)
  app.addSchema(AttemptSchema)
  const allowPrivate = config.WEBHOOK_ALLOW_PRIVATE === 'true'
  const admin = { role: 'admin' } as const

  app.post(
    '/api/add/webhook',
    {
      config: admin,
      schema: {
        operationId: 'addWebhook',
        tags,
        summary: 'Add a webhook',
        description:
          'Events of the `types` it takes (every type when not given) that happen from now on are POSTed to `url`. ' +
          'The answer holds the signing secret, this once.',
        body: CreateWebhookSchema,
        headers: ChangeHeaders,
        response: {
          201: jsonResponse(CreatedWebhookSchema, 'The new webhook, with its secret.', examples.createdWebhook),
          ...problemResponses({ 400: URL_REFUSED }, { change: true }),
        },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await createWebhook(app.db, request.body, allowPrivate, request.writer)),
  )

  app.get(
    '/api/get/webhooks',
    {
      config: admin,
      schema: {
        operationId: 'listWebhooks',
        tags,
        summary: 'List the webhooks',
        description: 'Every webhook, oldest first, disabled ones too; never their secrets.',
        response: {
          200: jsonResponse(Type.Array(Webhook), 'The webhooks.', [examples.changedWebhook]),
          ...problemResponses(),
        },
      },
    },
    async () => listWebhooks(app.db),
  )

  app.post(
    '/api/update/webhook',
    {
      config: admin,
      schema: {
        operationId: 'updateWebhook',
        tags,
        summary: 'Change a webhook',
        description:
          'Sets what is given of `url`, `types`, `description` and `enabled`. `enabled: true` starts a webhook the ' +
          'server disabled again.',
        body: UpdateWebhookSchema,
        headers: ChangeHeaders,
        response: {
          200: jsonResponse(Webhook, 'The webhook as it is now.', examples.changedWebhook),
          ...problemResponses({ 400: URL_REFUSED, 404: 'No webhook has this `id`.' }, { change: true }),
        },
      },
    },
    async (request) => updateWebhook(app.db, request.body, allowPrivate, request.writer),
  )

  app.post(
    '/api/delete/webhook',
    {
      config: admin,
      schema: {
        operationId: 'deleteWebhook',
        tags,
        summary: 'Delete a webhook',
        description: 'Deletes the webhook, its deliveries still to come and its log.',
        body: WebhookIdSchema,
        headers: ChangeHeaders,
        response: {
          200: jsonResponse(Type.Ref(DeletedSchema), 'The id of the deleted webhook.', examples.deleted),
          ...problemResponses({ 404: 'No webhook has this `id`.' }, { change: true }),
        },
      },
    },
    async (request) => deleteWebhook(app.db, request.body.id, request.writer),
  )

  app.post(
    '/api/rotate/webhook/secret',
    {
      config: admin,
      schema: {
        operationId: 'rotateWebhookSecret',
        tags,
        summary: "Rotate a webhook's secret",
        description:
          'Makes a new secret, shown this once. For 24 hours deliveries are signed with both, the old one and the ' +
          'new, so that the receiver can change over; then with the new one only.',
        body: WebhookIdSchema,
        headers: ChangeHeaders,
        response: {
          200: jsonResponse(CreatedWebhookSchema, 'The webhook, with its new secret.', examples.rotatedWebhook),
          ...problemResponses({ 404: 'No webhook has this `id`.' }, { change: true }),
        },
      },
    },
    async (request) => rotateSecret(app.db, request.body.id, request.writer),
  )

  app.get(
    '/api/get/webhook/deliveries',
    {
      config: admin,
      schema: {
        operationId: 'getWebhookDeliveries',
        tags,
        summary: "Read a webhook's delivery log",
        description: 'Every attempt at delivering to the webhook, newest first, at most `limit`.',
        querystring: DeliveriesQuerySchema,
        response: {
          200: jsonResponse(Type.Array(Type.Ref(AttemptSchema)), 'The attempts, newest first.', examples.attempts),
          ...problemResponses({ 404: 'No webhook has this `id`.' }),
        },
      },
    },
    async (request) => listAttempts(app.db, request.query.id, request.query.limit),
  )

  app.post(
    '/api/redeliver/webhook',
    {
      config: admin,
      schema: {
        operationId: 'redeliverWebhook',
        tags,
        summary: 'Send an event to a webhook again',
        description:
          'Sends the event to the webhook again, now, with the same `webhook-id`: delivered or not before, and ' +
          'retried as any delivery is when it fails.',
        body: RedeliverSchema,
        headers: ChangeHeaders,
        response: {
          202: jsonResponse(RedeliverySchema, 'Queued: it is sent at once.', examples.redelivery),
          ...problemResponses({ 404: 'No webhook has this `id`, or no event this `eventid`.' }, { change: true }),
        },
      },
    },
    async (request, reply) =>
      reply.code(202).send(await redeliver(app.db, request.body.id, request.body.eventid, request.writer)),
  )
}

export default webhooks
