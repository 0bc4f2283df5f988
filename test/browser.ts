// Headless Chromium (Debian's, driven by playwright-core) for the browser tests.
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import type { Test } from 'tap'
import { TEST_KEY } from './helper.js'

/** How long any single browser wait may take. */
export const WAIT = 15_000

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]

/**
 * Headless Chromium with a fresh context and page; all closed when `t` ends. A launch failure fails
 * the test. With `login`, the browser answers a Basic login prompt with the admin key, as a person
 * would type it; without, it has no login to give.
 */
export async function openBrowser(
  t: Test,
  { login = true } = {},
): Promise<{ browser: Browser; context: BrowserContext; page: Page }> {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, timeout: 15_000 })
  t.teardown(() => browser.close())
  const context = await browser.newContext(login ? { httpCredentials: { username: 'office', password: TEST_KEY } } : {})
  t.teardown(() => context.close())
  context.setDefaultTimeout(WAIT)
  context.setDefaultNavigationTimeout(WAIT)
  const page = await context.newPage()
  return { browser, context, page }
}
