/**
 * GET /docs, the API reference page (src/plugins/api-docs.ts): unsigned, its
 * own Content-Security-Policy, every file from this server; then Debian's
 * chromium (playwright-core, as in browser.test.ts) opens it over real HTTPS
 * with every request to another origin refused, waits for the operations to
 * render, and fails on any console error, CSP violation or page error.
 */
import t from 'tap'
import { openChromium } from './chromium.js'
import { API_DOCS_CSP } from '../../src/plugins/api-docs.js'
import { buildTestApp, tempDir } from '../helper.js'
import { startServer } from '../server-process.js'

t.test('/docs is served unsigned, from node_modules, under its own CSP', async t => {
  const { app } = await buildTestApp(t)
  const page = await app.inject({ method: 'GET', url: '/docs' })
  t.equal(page.statusCode, 200, 'no signature needed')
  t.match(page.headers['content-type'], /^text\/html/)
  t.equal(page.headers['content-security-policy'], API_DOCS_CSP, 'the page\'s own CSP replaces the API\'s')
  t.match(API_DOCS_CSP, /default-src 'none'/)
  t.notMatch(API_DOCS_CSP, /unsafe-inline|unsafe-eval|unsafe-hashes|https:|\*/, 'nothing inline but one style named by its hash, nothing from elsewhere')
  t.notMatch(page.body, /<script>|<style>|style=/, 'no inline script or style in the page')
  for (const m of page.body.matchAll(/(?:src|href)="([^"]+)"/g)) t.notMatch(m[1], /^(https?:)?\/\//, `${m[1]} is served here`)
  t.equal(page.headers['x-content-type-options'], 'nosniff', 'the other security headers stay')

  const script = await app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' })
  t.equal(script.statusCode, 200)
  t.match(script.headers['content-type'], /javascript/)
  const spec = await app.inject({ method: 'GET', url: '/docs/json' })
  t.same(spec.json(), (await app.inject({ method: 'GET', url: '/openapi.json' })).json(), 'the page shows the document of /openapi.json')

  const missing = await app.inject({ method: 'GET', url: '/docs/static/no-such-file.js' })
  t.equal(missing.statusCode, 404, 'a file the UI lacks is 404, not 405')
  t.equal(missing.json().code, 'NOT_FOUND')
  const post = await app.inject({ method: 'POST', url: '/docs/static/swagger-ui.css' })
  t.equal(post.statusCode, 405, 'another method is still 405')
  t.equal(post.json().code, 'METHOD_NOT_ALLOWED')
  const escape = await app.inject({ method: 'GET', url: '/docs/static/%2e%2e/%2e%2e/package.json' })
  t.not(escape.statusCode, 200, 'nothing outside the UI\'s files')
  t.notMatch(escape.body, /"devDependencies"/)
})

t.test('behind a proxy that strips PUBLIC_PATH_PREFIX, the page links its files under the prefix', async t => {
  const { app } = await buildTestApp(t, { env: { PUBLIC_PATH_PREFIX: '/api' } })
  const page = await app.inject({ method: 'GET', url: '/docs' })
  t.equal(page.statusCode, 200)
  const links = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map(m => m[1] ?? '')
  t.ok(links.length >= 4, 'the page links its scripts and styles')
  for (const link of links) t.match(link, /^\/api\/docs\/static\//, `${link} carries the prefix`)
  // Fastify itself serves the files without the prefix (the proxy took it off).
  t.equal((await app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' })).statusCode, 200)
})

t.test('/docs in chromium, offline: the operations render, with no CSP violation', async t => {
  const server = await startServer(t, { DATA_DIR: tempDir(t, 'signed-api-docs-'), TLS: 'on' })
  await server.waitFor(/"msg":"listening"/)
  const { context, page } = await openChromium(t, { width: 1280, height: 1600 })
  const elsewhere: string[] = []
  await context.route('**/*', async route => {
    const url = route.request().url()
    if (url.startsWith(server.url) || url.startsWith('data:')) return await route.continue()
    elsewhere.push(url)
    await route.abort()
  })
  const problems: string[] = []
  page.on('console', msg => { if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`console ${msg.type()}: ${msg.text()} @ ${JSON.stringify(msg.location())}`) })
  page.on('pageerror', err => problems.push(`page error: ${err.message}`))

  const answer = await page.goto(`${server.url}/docs`)
  t.equal(answer?.status(), 200)
  t.equal(answer?.headers()['content-security-policy'], API_DOCS_CSP)
  await page.locator('.swagger-ui .info .title').getByText('signed-api').waitFor({ timeout: 30_000 })
  const login = page.locator('#operations-auth-login .opblock-summary')
  await login.waitFor()
  t.match(await login.innerText(), /Log in/, 'an operation with its summary')
  t.ok(await page.locator('.opblock').count() >= 30, 'every operation is listed')
  t.match(await page.locator('.swagger-ui .info').innerText(), /HMAC-SHA256-V1/, 'the description explains the signature')

  // Opening an operation shows its example answer.
  await login.click()
  await page.locator('.opblock.is-open .responses-wrapper').getByText('signingKey').first().waitFor()
  t.equal(await page.locator('.opblock.is-open .try-out__btn').count(), 0, '"Try it out" is off: the page holds no key')

  t.same(elsewhere, [], 'nothing was fetched from another origin')
  t.same(problems, [], 'no console errors, CSP violations or page errors')
})
