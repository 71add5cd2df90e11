/**
 * Debian's chromium driven by playwright-core (never a downloaded browser):
 * headless, a fresh profile in a temp dir, the development certificate
 * accepted. Closed and removed at the test's end.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'

function chromiumPath (): string {
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim()
  } catch {
    throw new Error('chromium is not installed: `apt-get install chromium` (make test installs it)')
  }
}

export async function openChromium (t: { teardown (fn: () => unknown): void }, viewport?: { width: number, height: number }): Promise<{ context: BrowserContext, page: Page }> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'signed-api-chromium-'))
  t.teardown(() => rmSync(userDataDir, { recursive: true, force: true }))
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath(),
    headless: true,
    ignoreHTTPSErrors: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--ignore-certificate-errors'],
    ...(viewport === undefined ? {} : { viewport })
  })
  t.teardown(() => context.close())
  return { context, page: context.pages()[0] ?? await context.newPage() }
}
