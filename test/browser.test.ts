// The upload page in a real browser (headless Chromium): a customer CSV upload and its report page, and an unsupported file's problem page.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import t from 'tap'
import { openBrowser, WAIT } from './browser.js'
import { serve, tempFolder } from './helper.js'

t.setTimeout(50_000)

/** The report's <dl> as term → description (each <dt> has one <dd>). */
async function definitions(page: Page): Promise<Record<string, string>> {
  const terms = await page.locator('dl > dt').allTextContents()
  const descriptions = await page.locator('dl > dd').allTextContents()
  if (terms.length !== descriptions.length) {
    throw new Error(`${terms.length} terms but ${descriptions.length} descriptions`)
  }
  return Object.fromEntries(terms.map((term, i) => [term.trim(), descriptions[i]?.trim() ?? '']))
}

t.test('a customer CSV uploaded through the page gets a report page, and its valid rows are stored', async (t) => {
  const { app, base } = await serve(t)
  const { page } = await openBrowser(t)
  const folder = tempFolder(t, 'browser')

  const csv = [
    'Ada Lovelace,ada@example.com,"12 St James Square, London",,yes,no,no,active',
    'Grace Hopper,grace@example.com,1 Navy Way,+1 555 0100,no,yes,no,active',
    'Bad Mail,not-an-email,Nowhere 1,,no,no,no,active',
  ].join('\n')
  const file = join(folder, 'customers.csv')
  await writeFile(file, csv + '\n')

  const home = await page.goto(base + '/')
  t.equal(home?.status(), 200, 'the upload page loads')
  t.equal(await page.title(), 'Upload customers and products · CRM API', 'the page title')
  const input = page.getByLabel('Customer file')
  t.equal(await input.count(), 1, 'one input is labelled "Customer file"')
  t.equal(await input.getAttribute('type'), 'file', 'it is a file input')
  t.equal(await page.getByLabel('Product file').count(), 1, 'the product file input is reachable by its label')
  t.equal(await page.locator('#mode').inputValue(), 'insert', 'the mode is "skip the row" by default')

  // A browser without the login is challenged with Basic (its login prompt), and nothing is stored.
  const { page: stranger } = await openBrowser(t, { login: false })
  await stranger.goto(base + '/')
  await stranger.getByLabel('Customer file').setInputFiles(file)
  // (Headless Chromium has no prompt to show: with no login to give, it fails the navigation.)
  const [challenged] = await Promise.all([
    stranger.waitForNavigation({ timeout: WAIT }).then(
      () => 'navigated',
      (error: Error) => error.message,
    ),
    stranger.getByRole('button', { name: 'Upload customers' }).click(),
  ])
  t.match(challenged, /ERR_INVALID_AUTH_CREDENTIALS/, 'without a login, the browser is asked for one')
  t.same(await app.db.selectFrom('customers').selectAll().execute(), [], 'nothing stored')

  // This browser answers the challenge with the key as the password, as a person types it.
  await input.setInputFiles(file)
  const [response] = await Promise.all([
    page.waitForNavigation({ timeout: WAIT }),
    page.getByRole('button', { name: 'Upload customers' }).click(),
  ])
  t.equal(response?.status(), 201, 'the upload answers 201')
  t.equal(response?.headers()['content-type'], 'text/html; charset=utf-8', 'as an HTML page')
  t.equal(new URL(page.url()).pathname, '/upload/customers', 'the browser is on the upload URL')

  t.equal(
    await page.getByRole('heading', { level: 1 }).textContent(),
    'Upload of customers.csv',
    'the heading names the file',
  )
  t.equal(await page.title(), 'Upload report 1 · CRM API', 'the report title has its number')
  t.same(
    await definitions(page),
    { Kind: 'Customers', 'Rows read': '3', 'Stored as new': '2', Updated: '0', Skipped: '1' },
    'the counts',
  )

  const skipped = page.locator('table tbody tr')
  t.equal(await skipped.count(), 1, 'one skipped row is listed')
  const headers = await page.locator('table thead th').allTextContents()
  t.same(headers, ['Row', 'Reason'], 'the table columns')
  const cells = await skipped.first().locator('td').allTextContents()
  t.equal(cells[0], '3', 'the skipped row is row 3')
  t.equal(cells[1], 'Email must be an e-mail address', 'its reason is about the e-mail address')

  await page.screenshot({ path: '/tmp/browser-report.png', fullPage: true })

  await Promise.all([
    page.waitForURL(base + '/', { timeout: WAIT }),
    page.getByRole('link', { name: 'Upload another file' }).click(),
  ])
  t.equal(new URL(page.url()).pathname, '/', '"Upload another file" leads back to the upload page')
  t.equal(await page.title(), 'Upload customers and products · CRM API', 'the upload page again')

  const stored = await app.db.selectFrom('customers').select(['name', 'email']).orderBy('id').execute()
  t.same(
    stored,
    [
      { name: 'Ada Lovelace', email: 'ada@example.com' },
      { name: 'Grace Hopper', email: 'grace@example.com' },
    ],
    'the two valid rows are stored',
  )
  const [ada] = await app.db
    .selectFrom('customers')
    .select(['address', 'optemail', 'optphone', 'optchat', 'status'])
    .where('email', '=', 'ada@example.com')
    .execute()
  t.same(
    ada,
    { address: '12 St James Square, London', optemail: 1, optphone: 0, optchat: 0, status: 'active' },
    'the first row as stored: the quoted address keeps its comma, the yes/no cells are flags',
  )
})

t.test('a file of an unsupported kind gets the problem page in the browser, and nothing is stored', async (t) => {
  const { app, base } = await serve(t)
  const { page } = await openBrowser(t)
  const folder = tempFolder(t, 'browser')

  const file = join(folder, 'notes.pdf')
  await writeFile(file, Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << >> endobj\n%%EOF\n', 'latin1'))

  await page.goto(base + '/')
  // The input's accept list would hide a .pdf in a file chooser, but a file set directly still posts.
  await page.getByLabel('Product file').setInputFiles(file)
  const [response] = await Promise.all([
    page.waitForNavigation({ timeout: WAIT }),
    page.getByRole('button', { name: 'Upload products' }).click(),
  ])
  t.equal(response?.status(), 415, 'the upload answers 415')
  t.equal(response?.headers()['content-type'], 'text/html; charset=utf-8', 'as an HTML page')

  t.equal(
    await page.getByRole('heading', { level: 1 }).textContent(),
    'Unsupported Media Type',
    'the heading is the status title',
  )
  t.equal(await page.title(), 'Unsupported Media Type · CRM API', 'the page title')
  const detail = '"notes.pdf" is not a file this upload reads: send .csv, .txt, .xlsx, .xls.'
  const text = (await page.locator('main').innerText()).replace(/\s+/g, ' ')
  t.equal(
    text,
    `Unsupported Media Type ${detail} Nothing was stored. Back to the upload page`,
    'the detail names the file',
  )
  t.same(
    await page.locator('main p').allTextContents(),
    [detail, 'Nothing was stored. Back to the upload page'],
    'the page says nothing was stored',
  )
  t.equal(
    await page.getByRole('link', { name: 'Back to the upload page' }).getAttribute('href'),
    '/',
    'a link leads back to the upload page',
  )

  const products = await app.db.selectFrom('products').select(['id']).execute()
  t.same(products, [], 'no product is stored')
  const reports = await app.db.selectFrom('upload_reports').select(['id']).execute()
  t.same(reports, [], 'no upload report is stored')
})

t.test(
  'Swagger UI and the page load everything they use under the security policy, and nothing breaks it',
  async (t) => {
    const { base } = await serve(t)
    const { page } = await openBrowser(t)
    const violations: string[] = []
    const failed: string[] = []
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text())
    })
    page.on('requestfailed', (request) => failed.push(request.url()))
    const elsewhere: string[] = []
    page.on('request', (request) => {
      if (!request.url().startsWith(base) && !request.url().startsWith('data:')) elsewhere.push(request.url())
    })

    const docs = await page.goto(base + '/docs/')
    t.equal(docs?.status(), 200, 'Swagger UI loads')
    await page.locator('.opblock').first().waitFor({ timeout: WAIT })
    t.ok((await page.locator('.opblock').count()) >= 26, 'every operation is shown')
    await page.locator('.opblock-summary').first().click()
    await page.getByRole('button', { name: 'Try it out' }).first().waitFor({ timeout: WAIT })
    const home = await page.goto(base + '/')
    t.equal(home?.status(), 200, 'the upload page loads')
    await page.getByLabel('Customer file').waitFor({ timeout: WAIT })

    t.same(violations, [], 'no script, style, font or image is refused by the policy')
    t.same(failed, [], 'no request failed')
    t.same(elsewhere, [], 'nothing is asked of another site')
  },
)
