// The upload page: plain HTML forms for the two uploads, working without JavaScript.
import type { FastifyPluginAsync } from 'fastify'
import { uploadPage } from '../html.js'

const page: FastifyPluginAsync = async (app) => {
  const html = uploadPage()
  app.get('/', { schema: { hide: true }, config: { public: true } }, (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(html),
  )
}

export default page
