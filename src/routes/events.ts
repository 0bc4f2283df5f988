// The change feed: a page of events after an id, or every event as it comes, as Server-Sent Events.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { jsonResponse, problemResponses } from '../../schemas/common.js'
import { EventPageSchema, EventSchema, type EventsQuery, EventsQuerySchema } from '../../schemas/event.js'
import * as examples from '../../schemas/examples.js'
import type { Config } from '../config.js'
import { shuttingDown } from '../plugins/shutdown.js'
import { listEvents } from '../services/events.js'

export const tag = {
  name: 'events',
  description:
    'The change feed: one event for every change to a customer, product, feedback or ticket, in the order the ' +
    'changes were committed; read page by page, or followed as Server-Sent Events.',
}
const tags = [tag.name]

/** The events a stream reads at a time, and sends before it reads more. */
const STREAM_PAGE = 1000

const filters =
  "`type` (comma-separated types; `product.*` takes a group), and `entity` with `entityid` (one record's history), " +
  'narrow it.'

/** A stream's query: the feed's, without `limit`. */
const StreamQuerySchema = Type.Omit(EventsQuerySchema, ['limit'], { additionalProperties: false })

const StreamHeaders = Type.Object({
  'last-event-id': Type.Optional(
    Type.String({
      pattern: '^\\d{1,16}$',
      description:
        'The id of the last event received: the stream resumes after it (an EventSource sends it when it reconnects). ' +
        'It wins over `after`.',
    }),
  ),
})

/** One event as a Server-Sent Events message. */
const message = (event: { id: number; type: string }) =>
  `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`

const events: FastifyPluginAsyncTypebox<{ config: Config }> = async (app, { config }) => {
  app.addSchema(EventSchema)
  app.addSchema(EventPageSchema)

  app.get(
    '/api/get/events',
    {
      config: { role: 'reader' },
      schema: {
        operationId: 'getEvents',
        tags,
        summary: 'Read the change feed',
        description:
          'The events after `after`, in id order, at most `limit`. Follow `next` to read on: every event is seen ' +
          'exactly once, also while several instances write (an event never becomes visible with an id below one ' +
          `already returned). ${filters} Events older than EVENT_RETENTION_DAYS are removed.`,
        querystring: EventsQuerySchema,
        response: {
          200: jsonResponse(
            Type.Ref(EventPageSchema),
            'A page of events, and where the next page starts.',
            examples.eventPage,
          ),
          ...problemResponses(),
        },
      },
    },
    async (request) => listEvents(app.db, request.query),
  )

  app.get(
    '/api/stream/events',
    {
      config: { role: 'reader' },
      schema: {
        operationId: 'streamEvents',
        tags,
        summary: 'Follow the change feed (Server-Sent Events)',
        description:
          'The feed as `text/event-stream`: first the events after `Last-Event-ID` (or `after`), then each new ' +
          'event within a second of its commit, whichever instance made it. Each is sent as `id: <id>`, ' +
          '`event: <type>`, `data: <the event as JSON>`; a comment line comes at least every 15 seconds when ' +
          `there is nothing to send. ${filters} Send the key in a header (an EventSource that cannot set headers ` +
          'needs a client such as the `eventsource` package).',
        querystring: StreamQuerySchema,
        headers: StreamHeaders,
        response: {
          200: {
            description: 'The stream of events; it stays open until the client (or the server, shutting down) ends it.',
            content: {
              'text/event-stream': {
                schema: Type.String({ description: 'Server-Sent Events, each holding one `Event` as its data.' }),
                example: message(examples.event),
              },
            },
          },
          ...problemResponses(),
        },
      },
    },
    async (request, reply) => {
      const lastEventId = request.headers['last-event-id']
      const query: EventsQuery = { ...request.query, limit: STREAM_PAGE }
      let after = lastEventId === undefined ? (query.after ?? 0) : Number(lastEventId)
      // Checked here, where a problem can still be answered: the stream's reads use the same filters.
      await listEvents(app.db, { ...query, after, limit: 1 })
      if (app.feed.closed) {
        throw shuttingDown()
      }

      reply.hijack()
      const raw = reply.raw
      raw.writeHead(200, {
        ...(reply.getHeaders() as Record<string, string>),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        // nginx would otherwise hold the events back in its buffer.
        'x-accel-buffering': 'no',
      })
      raw.write(': the change feed\n\n')

      let open = true
      let again = false
      let sending: Promise<void> | undefined
      /** Sends every event after `after`, page by page, waiting while the client's buffer is full. */
      const send = async () => {
        do {
          again = false
          for (;;) {
            const page = await listEvents(app.db, { ...query, after })
            if (!open) return
            let flowing = true
            for (const event of page.events) flowing = raw.write(message(event))
            after = page.next
            if (!flowing) await new Promise((resolve) => raw.once('drain', resolve).once('close', resolve))
            if (page.events.length < STREAM_PAGE || !open) break
          }
        } while (again && open)
      }
      const wake = () => {
        if (!open) return
        if (sending) {
          again = true
          return
        }
        sending = send()
          .catch((error: unknown) => {
            request.log.warn({ err: error }, 'the event stream failed; it is closed')
            raw.destroy()
          })
          .finally(() => {
            sending = undefined
            if (again) wake()
          })
      }
      const heartbeat = setInterval(() => raw.write(': still here\n\n'), config.STREAM_HEARTBEAT_MS)
      const stop = app.feed.listen({ wake, end: () => raw.end() })
      raw.once('close', () => {
        open = false
        clearInterval(heartbeat)
        stop()
      })
      wake()
    },
  )
}

export default events
