// Swagger UI at /docs in a real browser (headless Chromium): every operation listed under its tag, the
// Authorize button, and "Try it out" on getCustomer fetching a stored customer through the query string,
// all within the content security policy.
import t from 'tap'
import document from '../openapi.json' with { type: 'json' }
import { openBrowser } from './browser.js'
import { assertDocumented } from './documented.js'
import { AS_ADMIN, newCustomer, serve, TEST_KEY } from './helper.js'

t.setTimeout(50_000)

t.test('/docs lists every operation by tag, and "Try it out" runs getCustomer on a stored customer', async (t) => {
  const { app, base } = await serve(t)
  const created = await app.inject({
    method: 'POST',
    url: '/api/add/customer',
    payload: newCustomer(),
    headers: AS_ADMIN,
  })
  t.equal(created.statusCode, 201, 'a customer to look up')
  const id = created.json<{ id: number }>().id
  const { page } = await openBrowser(t)
  // Chromium reports each thing the content security policy blocks on the console.
  const violations: string[] = []
  page.on('console', (message) => {
    if (message.text().includes('Content Security Policy')) violations.push(message.text())
  })

  const home = await page.goto(base + '/docs')
  t.equal(home?.status(), 200, 'Swagger UI loads')
  await page.locator('.opblock-tag-section').first().waitFor()

  // Each tag is a section holding exactly the operations that carry it.
  const sections = await page
    .locator('.opblock-tag-section h3')
    .evaluateAll((h3s) => h3s.map((h3) => h3.getAttribute('data-tag')))
  t.same(
    sections,
    document.tags.map((tag) => tag.name),
    'one section per tag, in the order of the document',
  )
  for (const tag of document.tags) {
    const expected = Object.values(document.paths)
      .flatMap((methods) => Object.values(methods as Record<string, { operationId: string; tags: string[] }>))
      .filter((operation) => operation.tags.includes(tag.name))
      .map((operation) => `operations-${tag.name}-${operation.operationId}`)
    const listed = await page
      .locator(`.opblock-tag-section:has(h3[data-tag="${tag.name}"]) .opblock`)
      .evaluateAll((blocks) => blocks.map((block) => block.id))
    t.same(listed.sort(), expected.sort(), `${tag.name}: its operations`)
  }

  // Authorize with a key (the bearer scheme), as a user pastes the key the server printed.
  await page.locator('.auth-wrapper .authorize').click()
  const bearerForm = page.locator('.modal-ux .auth-container').filter({ hasText: 'bearer' }).first()
  await bearerForm.locator('input').fill(TEST_KEY)
  await bearerForm.getByRole('button', { name: 'Apply credentials' }).click()
  await page.locator('.modal-ux button.btn-done').first().click()

  // Open getCustomer, try it out with the id, execute.
  const operation = page.locator('#operations-customers-getCustomer')
  await operation.locator('.opblock-summary-control').click()
  await operation.getByRole('button', { name: 'Try it out' }).click()
  await operation.locator('tr[data-param-name="id"] input').fill(String(id))
  const [response] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/api/get/customer'),
    operation.getByRole('button', { name: 'Execute' }).click(),
  ])
  t.equal(new URL(response.url()).searchParams.get('id'), String(id), 'the id goes in the query string')
  t.notOk(new URL(response.url()).searchParams.has('name'), 'and no name beside it')
  t.equal(response.request().headers().authorization, `Bearer ${TEST_KEY}`, 'with the key')
  const body = await response.text()
  assertDocumented('GET', response.url(), {
    status: response.status(),
    contentType: response.headers()['content-type'],
    body,
  })
  t.equal(response.status(), 200)
  t.same(JSON.parse(body), created.json(), 'the stored customer')

  // The page shows the answer: the status and the record.
  const live = operation.locator('.live-responses-table')
  const row = live.locator('tr.response')
  await row.waitFor()
  t.equal((await row.locator('.response-col_status').textContent())?.trim(), '200', 'the page shows 200')
  const shown = await row.locator('.response-col_description .microlight').first().textContent()
  t.same(JSON.parse(shown ?? '{}'), created.json(), 'and the record')
  // Swagger UI fills in the documented defaults of the paging parameters too.
  t.equal(
    await operation.locator('.request-url').textContent(),
    `Request URL${base}/api/get/customer?id=${id}&limit=100&offset=0`,
    'and the URL it called',
  )

  // By name instead: the form's own pattern check (without the `u` flag) lets a real name through.
  await operation.locator('tr[data-param-name="id"] input').fill('')
  await operation.locator('tr[data-param-name="name"] input').fill('ada lovelace')
  const [byName] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/api/get/customer'),
    operation.getByRole('button', { name: 'Execute' }).click(),
  ])
  t.equal(new URL(byName.url()).searchParams.get('name'), 'ada lovelace', 'the name goes in the query string')
  t.equal(byName.status(), 200)
  t.same(await byName.json(), [created.json()], 'the list of customers with that name')
  t.same(violations, [], 'and the content security policy blocked nothing Swagger UI needed')
})
