// Content negotiation for the pages: which clients get HTML.
import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { escapeHtml, prefersHtml } from '../src/html.js'

const accepting = (accept?: string) => ({ headers: accept === undefined ? {} : { accept } }) as FastifyRequest

t.test('browsers get HTML; API clients, curl and anything unsure get JSON', async (t) => {
  const cases: [string | undefined, boolean][] = [
    ['text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', true],
    ['text/html', true],
    ['application/json', false],
    ['*/*', false],
    [undefined, false],
    ['', false],
    ['application/json, text/html;q=0.5', false],
    ['text/html ;q=0.9, application/json;q=0.8', true],
    ['application/json;q=0, */*;q=0.5', true],
    ['text/*, application/json;q=0.9', true],
    ['TEXT/HTML', true],
  ]
  for (const [accept, html] of cases) t.equal(prefersHtml(accepting(accept)), html, String(accept))
})

t.test('escape', async (t) => {
  t.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;')
})
