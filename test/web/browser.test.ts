/**
 * The website in a real browser: Debian's chromium driven by playwright-core
 * against the real server over HTTPS on 127.0.0.1 (port 0, its development
 * certificate). Sign up, log in, create and edit a note, share it, the other
 * user sees it apart from their own notes, log out; a visitor reads the
 * public articles; on a 390 px wide screen the header fits, deleting asks
 * first, and shared notes have their own list. Nothing is
 * installed here: chromium comes from the system (`make test` installs the
 * Debian package), playwright-core from devDependencies.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BrowserContext, Page } from 'playwright-core'
import { launchChromium } from './chromium.js'
import { parseKeyring } from '../../src/auth/keys.js'
import { cookieSealer, type WebSession } from '../../src/web/session-cookie.js'
import { sign, tempDir } from '../helper.js'
import { call, startServer, type ServerProcess } from '../server-process.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PASSWORD = 'correct horse battery'

/** The browser script, compiled by its own tsconfig into dist/web (what `make build` does). */
function compileClient (): void {
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'src/web/client/tsconfig.json')], { cwd: ROOT, stdio: 'pipe' })
}

async function signedCall (server: ServerProcess, cred: { username: string, keyId: string, signingKey: string }, method: string, target: string, body?: string): Promise<{ status: number, json (): any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return call(server, method, target, { headers: sign(cred, method, target, body ?? ''), ...(body === undefined ? {} : { body }) })
}

t.test('the web app in chromium: accounts, notes, sharing, public articles; the key never reaches the browser', async t => {
  compileClient()
  t.ok(existsSync(join(ROOT, 'dist/web/app.js')), 'the client compiled')
  const dataDir = tempDir(t, 'signed-api-web-')
  const server = await startServer(t, { DATA_DIR: dataDir, TLS: 'on', ADMIN_USERNAME: 'admin', ADMIN_PASSWORD: PASSWORD, KEY_TTL_SECONDS: '21600' })
  t.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/)
  await server.waitFor(/"msg":"listening"/)

  // An article for visitors, written by the admin through the signed API.
  const adminLogin = await call(server, 'POST', '/auth/login', { body: JSON.stringify({ username: 'admin', password: PASSWORD }) })
  t.equal(adminLogin.status, 200)
  const article = await signedCall(server, adminLogin.json(), 'POST', '/v1/public/articles', JSON.stringify({ title: 'Welcome to Signed Notes', body: 'Notes you can share, signed on every request.' }))
  t.equal(article.status, 201)

  // Raw targets app.inject could not send: refused before anything is performed.
  const braces = await call(server, 'GET', '/web/api/v1/notes/a{b}', { headers: { 'sec-fetch-site': 'same-origin' } })
  t.equal(braces.status, 400)
  t.equal(braces.json().code, 'BAD_REQUEST_TARGET')
  const dots = await call(server, 'POST', '/web/api/v1/%2e%2e/auth/login', { headers: { 'sec-fetch-site': 'same-origin' }, body: JSON.stringify({ username: 'admin', password: PASSWORD }) })
  t.equal(dots.status, 400, 'no way around the path allowlist with dot segments')
  t.equal(dots.json().code, 'BAD_REQUEST_TARGET')
  t.notMatch(dots.body, /signingKey/)
  const traversal = await call(server, 'GET', '/web/static/../../package.json')
  t.equal(traversal.status, 404)
  t.equal(traversal.json().code, 'NOT_FOUND')
  const script = await call(server, 'GET', '/web/static/app.js')
  t.equal(script.status, 200)
  t.equal(script.headers['content-type'], 'text/javascript; charset=utf-8')

  const context: BrowserContext = await launchChromium(t, { width: 1100, height: 1400 })

  const page: Page = context.pages()[0] ?? await context.newPage()
  const problems: string[] = []
  // Chrome logs every 4xx a fetch gets ("Failed to load resource"); the page expects those (a visitor's whoami, a wrong password). Anything else counts.
  page.on('console', msg => {
    if ((msg.type() === 'error' || msg.type() === 'warning') && !/^Failed to load resource: the server responded with a status of 4\d\d /.test(msg.text())) problems.push(`console ${msg.type()}: ${msg.text()}`)
  })
  page.on('pageerror', err => problems.push(`page error: ${err.message}`))
  const seen: Array<{ url: string, headers: Record<string, string>, body: string }> = []
  const reading: Array<Promise<void>> = []
  page.on('response', res => {
    reading.push((async () => {
      const headers = await res.allHeaders()
      const body = await res.text().catch(() => '')
      seen.push({ url: res.url(), headers, body })
    })())
  })

  const ready = async (): Promise<void> => { await page.locator('body[data-ready="true"]').waitFor() }
  const status = page.locator('#status')
  const error = page.locator('#error')
  const logInForm = page.locator('#login-form')
  const signUpForm = page.locator('#signup-form')
  const signUp = async (username: string): Promise<void> => {
    await signUpForm.getByLabel('Username').fill(username)
    await signUpForm.getByLabel('Password').fill(PASSWORD)
    await signUpForm.getByRole('button', { name: 'Create account' }).click()
    await status.filter({ hasText: `Account created. Welcome, ${username}.` }).waitFor()
  }
  const logIn = async (username: string, password = PASSWORD): Promise<void> => {
    await logInForm.getByLabel('Username').fill(username)
    await logInForm.getByLabel('Password').fill(password)
    await logInForm.getByRole('button', { name: 'Log in' }).click()
  }
  const logOut = async (): Promise<void> => {
    await page.getByRole('button', { name: 'Log out' }).click()
    await status.filter({ hasText: 'You are logged out.' }).waitFor()
    await page.locator('#account').waitFor({ state: 'visible' })
  }

  // A visitor sees the public articles and the account forms.
  await page.goto(server.url)
  await ready()
  await page.locator('#article-list').getByText('Welcome to Signed Notes').waitFor()
  t.equal(await page.locator('#account').isVisible(), true)
  t.equal(await page.locator('#notes').isVisible(), false)
  t.equal(await error.isVisible(), false, 'a visitor sees no error')

  // bob signs up (which logs him in) and logs out.
  await signUp('bob')
  t.equal(await page.locator('#whoami').textContent(), 'bob')
  await logOut()

  // alice signs up, logs out, then logs in through the form (a wrong password first).
  await signUp('alice')
  await logOut()
  await logIn('alice', 'not the password')
  await error.filter({ hasText: 'Wrong username or password.' }).waitFor()
  await logIn('alice')
  await status.filter({ hasText: 'Welcome, alice.' }).waitFor()
  t.equal(await page.locator('#whoami').textContent(), 'alice')
  t.equal(await page.evaluate(() => document.cookie), '', 'the session cookie is invisible to scripts')
  const cookies = await context.cookies()
  const session = cookies.find(c => c.name === '__Host-session')
  t.ok(session, 'the session cookie is set')
  t.same({ httpOnly: session?.httpOnly, secure: session?.secure, sameSite: session?.sameSite, path: session?.path }, { httpOnly: true, secure: true, sameSite: 'Strict', path: '/' })

  // Create a note, then edit it.
  const noteForm = page.locator('#note-form')
  await noteForm.getByLabel('Title').fill('Shopping list')
  await noteForm.getByLabel('Text').fill('milk\neggs')
  await noteForm.getByRole('button', { name: 'Add note' }).click()
  await status.filter({ hasText: 'Added “Shopping list”.' }).waitFor()
  const card = page.locator('#note-list > li').filter({ hasText: 'Shopping list' })
  await card.getByRole('button', { name: 'Edit' }).click()
  const editForm = card.locator('form.edit')
  await editForm.getByLabel('Title').fill('Shopping list for Sunday')
  await editForm.getByLabel('Text').fill('milk\neggs\nbread')
  await editForm.getByRole('button', { name: 'Save' }).click()
  await status.filter({ hasText: 'Saved “Shopping list for Sunday”.' }).waitFor()
  const edited = page.locator('#note-list > li').filter({ hasText: 'Shopping list for Sunday' })
  t.match(await edited.locator('.text').textContent(), 'milk\neggs\nbread')

  // Sharing with a name that does not exist says so; sharing with bob works.
  const share = edited.locator('form.share')
  await share.getByLabel('Share with (username)').fill('nobody-here')
  await share.getByRole('button', { name: 'Share' }).click()
  await error.filter({ hasText: 'There is no user with that name.' }).waitFor()
  await share.getByLabel('Share with (username)').fill('bob')
  await share.getByLabel('Access').selectOption('write')
  await share.getByRole('button', { name: 'Share' }).click()
  await status.filter({ hasText: '“Shopping list for Sunday” is shared with bob.' }).waitFor()
  await page.locator('#note-list > li').filter({ hasText: 'Shared with bob (can edit)' }).waitFor()
  t.equal(await error.isVisible(), false, 'the error went away with the next success')

  // A second note, so the list has some life in the screenshot.
  await noteForm.getByLabel('Title').fill('Ideas')
  await noteForm.getByLabel('Text').fill('A web app whose browser never holds a key.')
  await noteForm.getByRole('button', { name: 'Add note' }).click()
  await status.filter({ hasText: 'Added “Ideas”.' }).waitFor()

  const screenshot = process.env.WEB_SCREENSHOT ?? join(dataDir, 'web-app.png')
  const png = await page.screenshot({ path: screenshot, fullPage: true })
  t.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), `screenshot at ${screenshot}`)

  // The key alice's browser held a sealed copy of: it never appeared in anything the browser received.
  const keyring = parseKeyring(readFileSync(join(dataDir, 'keyring'), 'utf8'))
  const opened: WebSession | null = cookieSealer(keyring, 'dev').open(session?.value ?? '')
  t.equal(opened?.username, 'alice')
  await logOut()
  t.equal((await context.cookies()).find(c => c.name === '__Host-session'), undefined, 'logout removed the cookie')
  const revoked = await signedCall(server, opened as WebSession, 'GET', '/v1/notes')
  t.equal(revoked.status, 401)
  t.equal(revoked.json().code, 'AUTH_KEY_REVOKED', 'logout revoked the session\'s key on the server')

  // bob logs in and sees the note shared with him, and may edit it.
  await logIn('bob')
  const shared = page.locator('#shared-list > li').filter({ hasText: 'Shopping list for Sunday' })
  await shared.waitFor()
  t.equal(await page.locator('#shared').getByRole('heading', { name: 'Shared with you' }).isVisible(), true, 'under its own heading')
  t.equal(await page.locator('#note-list > li').filter({ hasText: 'Shopping list for Sunday' }).count(), 0, 'not among bob\'s own notes')
  t.match(await shared.textContent(), /By alice/)
  t.equal(await shared.getByRole('button', { name: 'Delete' }).count(), 0, 'only the owner may delete')
  await shared.getByRole('button', { name: 'Edit' }).click()
  await shared.locator('form.edit').getByLabel('Text').fill('milk\neggs\nbread\ncoffee')
  await shared.locator('form.edit').getByRole('button', { name: 'Save' }).click()
  await status.filter({ hasText: 'Saved “Shopping list for Sunday”.' }).waitFor()
  await logOut()

  // After logout: a visitor again, with the public articles.
  await page.reload()
  await ready()
  await page.locator('#article-list').getByText('Welcome to Signed Notes').waitFor()
  t.equal(await page.locator('#session').isVisible(), false)

  await Promise.all(reading)
  const key = (opened as WebSession).signingKey
  t.ok(seen.length > 10, `${seen.length} responses seen by the browser`)
  const leaks = seen.filter(r => r.body.includes(key) || JSON.stringify(r.headers).includes(key) || r.body.includes('signingKey'))
  t.same(leaks.map(r => r.url), [], 'no response the browser received carried the key')
  t.same(await page.evaluate(() => [localStorage.length, sessionStorage.length]), [0, 0], 'nothing kept in browser storage')
  t.same(problems, [], 'no console errors, CSP violations or page errors')
})

t.test('with SIGNUP=client the page says why it cannot create an account and stops offering the form', async t => {
  compileClient()
  const dataDir = tempDir(t, 'signed-api-web-')
  const server = await startServer(t, { DATA_DIR: dataDir, TLS: 'on', SIGNUP: 'client' })
  await server.waitFor(/"msg":"listening"/)
  const context: BrowserContext = await launchChromium(t)
  const page: Page = context.pages()[0] ?? await context.newPage()
  await page.goto(server.url)
  await page.locator('body[data-ready="true"]').waitFor()
  const signUpForm = page.locator('#signup-form')
  await signUpForm.getByLabel('Username').fill('carol')
  await signUpForm.getByLabel('Password').fill(PASSWORD)
  await signUpForm.getByRole('button', { name: 'Create account' }).click()
  await page.locator('#error').filter({ hasText: 'Creating the account failed. New accounts cannot be created on this website. If you already have an account, log in.' }).waitFor()
  await signUpForm.waitFor({ state: 'hidden' })
  t.equal(await page.locator('#account-title').textContent(), 'Log in')
  t.equal(await page.locator('#login-form').isVisible(), true, 'the login form stays')
})

/**
 * What overflows the 390 px screen: anything wider than the page, any header
 * element past either edge, and any header text broken over two lines (the
 * title, the Log out button) where it should have made room instead.
 */
async function narrowProblems (page: Page): Promise<string[]> {
  return await page.evaluate(() => {
    const problems: string[] = []
    const width = document.documentElement.clientWidth
    if (document.documentElement.scrollWidth > width) problems.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} > ${width}`)
    const header = document.querySelector('header.top') as HTMLElement
    for (const el of [header, ...Array.from(header.querySelectorAll<HTMLElement>('*'))]) {
      const r = el.getBoundingClientRect()
      if (r.width === 0) continue
      const name = `${el.tagName.toLowerCase()}${el.id === '' ? '' : `#${el.id}`}`
      if (r.left < 0 || r.right > width + 0.5) problems.push(`${name} runs past the screen (${Math.round(r.left)}..${Math.round(r.right)} of ${width})`)
      if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0) problems.push(`${name} clips its content`)
    }
    for (const el of Array.from(header.querySelectorAll<HTMLElement>('h1, button'))) {
      if (el.getBoundingClientRect().width === 0) continue
      const range = document.createRange()
      range.selectNodeContents(el)
      const lines = new Set(Array.from(range.getClientRects()).map(rect => Math.round(rect.top))).size
      if (lines > 1) problems.push(`"${el.textContent ?? ''}" breaks over ${lines} lines`)
    }
    return problems
  })
}

t.test('on a 390 px screen: the header fits, deleting asks first, shared notes have their own list', async t => {
  compileClient()
  const dataDir = tempDir(t, 'signed-api-web-')
  const server = await startServer(t, { DATA_DIR: dataDir, TLS: 'on' })
  await server.waitFor(/"msg":"listening"/)
  const context: BrowserContext = await launchChromium(t, { width: 390, height: 844 })
  const page: Page = context.pages()[0] ?? await context.newPage()
  const deletes: string[] = []
  page.on('request', req => { if (req.method() === 'DELETE') deletes.push(req.url()) })
  const status = page.locator('#status')
  const signUp = async (username: string): Promise<void> => {
    const form = page.locator('#signup-form')
    await form.getByLabel('Username').fill(username)
    await form.getByLabel('Password').fill(PASSWORD)
    await form.getByRole('button', { name: 'Create account' }).click()
    await status.filter({ hasText: `Account created. Welcome, ${username}.` }).waitFor()
  }
  const logOut = async (): Promise<void> => {
    await page.getByRole('button', { name: 'Log out' }).click()
    await page.locator('#account').waitFor({ state: 'visible' })
  }
  const addNote = async (title: string): Promise<void> => {
    const form = page.locator('#note-form')
    await form.getByLabel('Title').fill(title)
    await form.getByLabel('Text').fill(`${title}: some text`)
    await form.getByRole('button', { name: 'Add note' }).click()
    await status.filter({ hasText: `Added “${title}”.` }).waitFor()
  }

  await page.goto(server.url)
  await page.locator('body[data-ready="true"]').waitFor()
  t.same(await narrowProblems(page), [], 'a visitor: nothing overflows')
  await signUp('friend')
  await logOut()
  // The longest name the API allows (32 characters).
  const owner = 'a-rather-long-username-for-390px'
  t.equal(owner.length, 32)
  await signUp(owner)
  t.equal(await page.locator('#whoami').textContent(), owner)
  t.same(await narrowProblems(page), [], 'signed in with a 32-character name: the header fits')
  t.equal(await page.getByRole('button', { name: 'Log out' }).isVisible(), true)

  await addNote('Keep me')
  await addNote('Throw me away')
  const kept = page.locator('#note-list > li').filter({ hasText: 'Keep me' })
  await kept.getByLabel('Share with (username)').fill('friend')
  await kept.getByRole('button', { name: 'Share' }).click()
  await status.filter({ hasText: '“Keep me” is shared with friend.' }).waitFor()
  t.same(await narrowProblems(page), [], 'with notes and their forms: nothing overflows')

  // Delete asks first; "Keep it" keeps the note and sends nothing.
  const doomed = page.locator('#note-list > li').filter({ hasText: 'Throw me away' })
  await doomed.getByRole('button', { name: 'Delete', exact: true }).click()
  const ask = doomed.getByRole('group', { name: 'Delete “Throw me away”?' })
  await ask.waitFor()
  t.match(await ask.textContent(), /Delete this note\? It cannot be undone\./)
  t.equal(await doomed.getByRole('button', { name: 'Delete', exact: true }).isVisible(), false, 'the question replaces the button')
  await ask.getByRole('button', { name: 'Keep it' }).click()
  await ask.waitFor({ state: 'hidden' })
  t.same(deletes, [], 'nothing was deleted')
  t.equal(await doomed.count(), 1, 'the note stays')
  await doomed.getByRole('button', { name: 'Delete', exact: true }).click()
  await ask.getByRole('button', { name: 'Delete for good' }).click()
  await status.filter({ hasText: 'Deleted “Throw me away”.' }).waitFor()
  t.equal(deletes.length, 1, 'one DELETE, after the confirmation')
  t.equal(await doomed.count(), 0)
  // A shared note says who else loses it.
  const sharedOwn = page.locator('#note-list > li').filter({ hasText: 'Keep me' })
  await sharedOwn.getByRole('button', { name: 'Delete', exact: true }).click()
  t.match(await sharedOwn.getByRole('group').textContent(), /the people it is shared with lose it too/)
  await sharedOwn.getByRole('button', { name: 'Keep it' }).click()
  await page.reload()
  await page.locator('body[data-ready="true"]').waitFor()
  t.same(await page.locator('#note-list > li h3').allTextContents(), ['Keep me'], 'after a reload: only the kept note')
  t.equal(await page.locator('#shared').isVisible(), false, 'nothing is shared with the owner: no shared section')
  await logOut()

  // friend: no notes of their own yet, the shared one under its own heading.
  await page.locator('#login-form').getByLabel('Username').fill('friend')
  await page.locator('#login-form').getByLabel('Password').fill(PASSWORD)
  await page.locator('#login-form').getByRole('button', { name: 'Log in' }).click()
  await page.locator('#shared-list > li').filter({ hasText: 'Keep me' }).waitFor()
  t.equal(await page.locator('#notes-empty').isVisible(), true, '"No notes yet." for their own')
  t.equal(await page.locator('#note-list > li').count(), 0)
  t.equal(await page.getByRole('heading', { name: 'Shared with you' }).isVisible(), true)
  t.match(await page.locator('#shared-list > li').first().textContent(), `By ${owner}`)
  t.equal(await page.locator('#shared-list').getByRole('button', { name: 'Delete', exact: true }).count(), 0, 'nothing to delete there')
  await addNote('Mine')
  t.same(await page.locator('#note-list > li h3').allTextContents(), ['Mine'], 'a new note goes to their own list')
  t.same(await page.locator('#shared-list > li h3').allTextContents(), ['Keep me'], 'the shared list stays apart')
  t.same(await narrowProblems(page), [], 'with both lists: nothing overflows')
})
