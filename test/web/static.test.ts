/** The web app's files: GET /, /web/static/<name>, content types, CSP, no traversal, accessible labels, OpenAPI. */
import t from 'tap'
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { defaultStaticDirs, findStatic, PAGE_CSP } from '../../src/web/static.js'
import { ERRORS } from '../../src/errors.js'
import { describeFailure } from '../../src/web/client/messages.js'
import { buildTestApp, tempDir } from '../helper.js'

const root = new URL('../../', import.meta.url)
const html = readFileSync(new URL('src/web/public/index.html', root), 'utf8')

t.test('GET / is the app with a strict Content-Security-Policy', async t => {
  const { app } = await buildTestApp(t)
  const res = await app.inject({ method: 'GET', url: '/' })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'text/html; charset=utf-8')
  t.equal(res.body, html)
  const csp = String(res.headers['content-security-policy'])
  t.equal(csp, PAGE_CSP)
  t.match(csp, /script-src 'self'(;|$)/)
  t.match(csp, /style-src 'self'(;|$)/)
  t.match(csp, /default-src 'none'/)
  t.match(csp, /frame-ancestors 'none'/)
  t.notMatch(csp, /unsafe-inline|unsafe-eval|\*/, 'nothing inline, no eval, no wildcard')
  t.equal(res.headers['x-content-type-options'], 'nosniff')
  t.equal(res.headers['set-cookie'], undefined)
  const head = await app.inject({ method: 'HEAD', url: '/' })
  t.equal(head.statusCode, 200)
  t.equal(head.body, '')
})

t.test('the page needs no inline script or style, and every control has a label', async t => {
  t.notMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'every script is a file')
  t.notMatch(html, /<style/i, 'no style element')
  t.notMatch(html, /\sstyle=/i, 'no style attribute')
  t.notMatch(html, /\son[a-z]+=/i, 'no inline event handler')
  t.notMatch(html, /javascript:/i)
  t.match(html, /<html lang="en">/)
  const ids = [...html.matchAll(/<(input|textarea|select)\b[^>]*\bid="([^"]+)"/g)].map(m => m[2] as string)
  t.ok(ids.length >= 6, `${ids.length} controls`)
  for (const id of ids) t.match(html, new RegExp(`<label for="${id}">[^<]+</label>`), `#${id} has a label`)
  for (const m of html.matchAll(/<button\b[^>]*>([^<]*)<\/button>/g)) t.ok((m[1] as string).trim().length > 0, 'buttons have text')
  for (const role of ['role="status"', 'role="alert"']) t.ok(html.includes(role), `${role} announces messages`)
})

t.test('the client is plain TypeScript with no HTML sinks and no dependencies', async t => {
  for (const file of ['app.ts', 'api.ts', 'dom.ts', 'messages.ts']) {
    const src = readFileSync(new URL(`src/web/client/${file}`, root), 'utf8')
    t.notMatch(src, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/, `${file}: no HTML from strings`)
    t.notMatch(src, /from '(?!\.\/)/, `${file}: imports only its own files`)
    t.notMatch(src, /localStorage|sessionStorage|document\.cookie/, `${file}: keeps nothing in the browser`)
  }
  const config = JSON.parse(readFileSync(new URL('src/web/client/tsconfig.json', root), 'utf8')) as { compilerOptions: { lib: string[], outDir: string } }
  t.ok(config.compilerOptions.lib.includes('DOM'))
  t.equal(config.compilerOptions.outDir, '../../../dist/web')
})

t.test('static files: content types, JSON 404s, no traversal', async t => {
  const { app } = await buildTestApp(t)
  const css = await app.inject({ method: 'GET', url: '/web/static/app.css' })
  t.equal(css.statusCode, 200)
  t.equal(css.headers['content-type'], 'text/css; charset=utf-8')
  t.equal(css.body, readFileSync(new URL('src/web/public/app.css', root), 'utf8'))
  const icon = await app.inject({ method: 'GET', url: '/web/static/favicon.svg' })
  t.equal(icon.headers['content-type'], 'image/svg+xml')
  const page = await app.inject({ method: 'GET', url: '/web/static/index.html' })
  t.equal(page.headers['content-security-policy'], PAGE_CSP, 'HTML gets the CSP on any path')
  for (const url of [
    '/web/static/nothing.css', '/web/static/..%2F..%2Fpackage.json', '/web/static/%2e%2e%2f%2e%2e%2fpackage.json', '/web/static/..%5c..%5cpackage.json',
    '/web/static/.gitignore', '/web/static/routes.ts', '/web/static/app', '/web/static/app.css%00.js', '/web/static/%2Fetc%2Fpasswd', '/web/static/..', '/web/static/a/b.css'
  ]) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 404, url)
    t.equal(res.json().code, 'NOT_FOUND')
  }
  t.equal((await app.inject({ method: 'POST', url: '/web/static/app.css' })).json().code, 'METHOD_NOT_ALLOWED')
})

t.test('findStatic: only plain names of known types, inside the two directories', async t => {
  const dir = tempDir(t)
  const pages = join(dir, 'pages')
  const scripts = join(dir, 'scripts')
  mkdirSync(pages)
  mkdirSync(scripts)
  writeFileSync(join(pages, 'a.css'), 'a')
  writeFileSync(join(scripts, 'b.js'), 'b')
  writeFileSync(join(dir, 'secret.js'), 'no')
  mkdirSync(join(pages, 'sub.css'))
  const dirs = { pages, scripts }
  t.same(await findStatic(dirs, 'a.css'), { path: join(pages, 'a.css'), type: 'text/css; charset=utf-8' })
  t.same(await findStatic(dirs, 'b.js'), { path: join(scripts, 'b.js'), type: 'text/javascript; charset=utf-8' })
  for (const name of ['../secret.js', '..', '.hidden.js', 'sub.css', 'a.CSS.exe', 'a.txt', '/etc/passwd', 'a/b.js', 'a\\b.js', 'secret.js', '']) {
    t.equal(await findStatic(dirs, name), null, JSON.stringify(name))
  }
  symlinkSync(join(dir, 'secret.js'), join(scripts, 'link.js'))
  t.same(await findStatic(dirs, 'link.js'), { path: join(scripts, 'link.js'), type: 'text/javascript; charset=utf-8' }, 'a link placed in the directory by its owner is served (nothing from a request can make one)')
  const real = defaultStaticDirs()
  t.ok(real.pages.endsWith(join('src', 'web', 'public')))
  t.ok(real.scripts.endsWith(join('dist', 'web')))
})

t.test('OpenAPI documents the web routes and hides the static files', async t => {
  const { app } = await buildTestApp(t)
  const doc = app.swagger() as unknown as { paths: Record<string, Record<string, { summary?: string, responses: Record<string, { content?: { 'application/json': { schema: { allOf: [unknown, { properties: { code: { enum: string[] } } }] } } } }> }>> }
  t.ok(doc.paths['/web/signup']?.post)
  t.ok(doc.paths['/web/login']?.post)
  t.ok(doc.paths['/web/logout']?.post)
  for (const m of ['get', 'head', 'post', 'put', 'patch', 'delete']) t.ok(doc.paths['/web/api/{*}']?.[m], `${m} /web/api/{*}`)
  t.same(doc.paths['/web/login']?.post?.responses['403']?.content?.['application/json'].schema.allOf[1].properties.code.enum.sort(), ['CSRF_REJECTED', 'HTTPS_REQUIRED'])
  t.equal(doc.paths['/'], undefined)
  t.equal(doc.paths['/web/static/{name}'], undefined)
})

t.test('the page has its own sentence for every error code the API can answer', async t => {
  for (const code of Object.keys(ERRORS)) {
    const text = describeFailure({ code, message: 'raw server text', retryAfter: '7', status: 400 }, 'Saving')
    t.not(text, 'Saving failed. raw server text.', `${code} is explained, not just echoed`)
    t.match(text, /^Saving failed\. /)
  }
  t.equal(describeFailure({ code: 'RATE_LIMITED', message: '', retryAfter: '7' }, 'Logging in'), 'Logging in failed. Too many attempts. Please wait 7 seconds and try again.')
  t.equal(describeFailure({ code: 'NETWORK', message: '' }, 'Loading'), 'Loading failed. The server cannot be reached. Check your connection and try again.')
  t.equal(describeFailure({ code: 'SOMETHING_NEW', message: 'Details from the server' }, 'Loading'), 'Loading failed. Details from the server.', 'an unknown code shows the server\'s message')
})
