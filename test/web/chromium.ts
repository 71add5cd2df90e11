/**
 * Debian's chromium, driven by playwright-core, for the browser tests: a
 * headless persistent context in a temp profile, trusting the server's
 * development certificate, closed and removed at teardown. Nothing is
 * downloaded: `make test` installs the Debian package.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext } from 'playwright-core'

interface Teardown { teardown (fn: () => unknown): void }

export function chromiumPath (): string {
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim()
  } catch {
    throw new Error('chromium is not installed: `apt-get install chromium` (make test installs it)')
  }
}

export async function launchChromium (t: Teardown, viewport?: { width: number, height: number }): Promise<BrowserContext> {
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
  return context
}
