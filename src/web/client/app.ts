/// <reference lib="dom" />
/**
 * The web app: public articles for visitors; sign up, log in and out; the
 * user's notes (paged list, create, edit, delete after a confirmation),
 * sharing them, and apart from them the notes shared with the user. Plain DOM, no dependencies; every error the API can
 * answer is shown as a sentence (messages.ts).
 */
import { api, ApiFailure, SESSION_OVER, web, type Article, type Note, type Page } from './api.js'
import { describeFailure } from './messages.js'
import { busy, byId, formatDate, h } from './dom.js'

const PAGE_SIZE = 10

const ui = {
  session: byId<HTMLDivElement>('session'),
  whoami: byId<HTMLElement>('whoami'),
  logout: byId<HTMLButtonElement>('logout'),
  status: byId<HTMLParagraphElement>('status'),
  error: byId<HTMLParagraphElement>('error'),
  account: byId<HTMLElement>('account'),
  accountTitle: byId<HTMLHeadingElement>('account-title'),
  loginForm: byId<HTMLFormElement>('login-form'),
  signupForm: byId<HTMLFormElement>('signup-form'),
  notes: byId<HTMLElement>('notes'),
  noteForm: byId<HTMLFormElement>('note-form'),
  noteList: byId<HTMLUListElement>('note-list'),
  shared: byId<HTMLElement>('shared'),
  sharedList: byId<HTMLUListElement>('shared-list'),
  notesEmpty: byId<HTMLParagraphElement>('notes-empty'),
  notesMore: byId<HTMLButtonElement>('notes-more'),
  articleList: byId<HTMLUListElement>('article-list'),
  articlesEmpty: byId<HTMLParagraphElement>('articles-empty'),
  articlesMore: byId<HTMLButtonElement>('articles-more')
}

let user: string | null = null

function say (text: string): void {
  ui.error.hidden = true
  ui.error.textContent = ''
  ui.status.textContent = text
}

function fail (err: unknown, what: string): void {
  ui.status.textContent = ''
  ui.error.textContent = describeFailure(err, what)
  ui.error.hidden = false
  // The session ended under us (expired, revoked, logged out elsewhere): back to the login forms.
  if (user !== null && err instanceof ApiFailure && SESSION_OVER.has(err.code)) showLoggedOut()
}

/**
 * One paged list of the page: `load(true)` shows its first page, its "more"
 * button the next ones. `clear` empties what it shows, `add` places one item,
 * `shown` updates what depends on the lists (empty notes, hidden sections).
 */
function pagedList<T> (path: string, more: HTMLButtonElement, view: { clear: () => void, add: (item: T) => void, shown: () => void }, what: string): { load: (fresh: boolean) => Promise<void>, reset: () => void } {
  let next: string | null = null
  const load = async (fresh: boolean): Promise<void> => {
    if (fresh) next = null
    const query = `limit=${PAGE_SIZE}${next === null ? '' : `&after=${encodeURIComponent(next)}`}`
    const page = await api('GET', `${path}?${query}`) as Page<T>
    if (fresh) view.clear()
    for (const item of page.items) view.add(item)
    next = page.next
    more.hidden = next === null
    view.shown()
  }
  more.addEventListener('click', () => {
    void busy(more, async () => {
      try { await load(false) } catch (err) { fail(err, `Loading more ${what}`) }
    })
  })
  return { load, reset: () => { next = null } }
}

function field (form: HTMLFormElement, name: string): HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement {
  const el = form.elements.namedItem(name)
  if (el === null || el instanceof RadioNodeList) throw new Error(`field ${name} is missing`)
  return el as HTMLInputElement
}

// ---- session ------------------------------------------------------------------

function showLoggedIn (username: string): void {
  user = username
  ui.whoami.textContent = username
  ui.session.hidden = false
  ui.account.hidden = true
  ui.notes.hidden = false
}

function showLoggedOut (): void {
  user = null
  ui.session.hidden = true
  ui.account.hidden = false
  ui.notes.hidden = true
  ui.noteList.replaceChildren()
  ui.sharedList.replaceChildren()
  ui.shared.hidden = true
  notes.reset()
}

async function logIn (username: string, password: string): Promise<void> {
  const answer = await web('POST', 'login', { username, password }) as { username: string }
  showLoggedIn(answer.username)
  await notes.load(true)
}

ui.loginForm.addEventListener('submit', (event) => {
  event.preventDefault()
  const username = field(ui.loginForm, 'username').value.trim()
  const password = field(ui.loginForm, 'password')
  void busy(ui.loginForm, async () => {
    try {
      await logIn(username, password.value)
      password.value = ''
      say(`Welcome, ${username}.`)
    } catch (err) {
      fail(err, 'Logging in')
    }
  })
})

function hideSignup (): void {
  ui.signupForm.hidden = true
  ui.accountTitle.textContent = 'Log in'
}

ui.signupForm.addEventListener('submit', (event) => {
  event.preventDefault()
  const username = field(ui.signupForm, 'username').value.trim()
  const password = field(ui.signupForm, 'password')
  void busy(ui.signupForm, async () => {
    try {
      await web('POST', 'signup', { username, password: password.value })
    } catch (err) {
      fail(err, 'Creating the account')
      // This server makes no accounts through the website (SIGNUP=client or closed): stop offering the form.
      if (err instanceof ApiFailure && err.code === 'SIGNUP_CLOSED') hideSignup()
      return
    }
    try {
      await logIn(username, password.value)
      password.value = ''
      say(`Account created. Welcome, ${username}.`)
    } catch (err) {
      fail(err, 'The account was created, but logging in')
    }
  })
})

ui.logout.addEventListener('click', () => {
  void busy(ui.logout, async () => {
    try {
      await web('POST', 'logout')
      showLoggedOut()
      say('You are logged out.')
    } catch (err) {
      // A session that was already over is logged out all the same.
      if (err instanceof ApiFailure && err.status === 401) {
        showLoggedOut()
        say('You are logged out.')
      } else fail(err, 'Logging out')
    }
  })
})

// ---- notes --------------------------------------------------------------------

function noteCard (note: Note): HTMLLIElement {
  const mine = note.owner === user
  const li = h('li', { class: 'card note', 'data-id': note.id })
  const title = h('h3', {}, note.title)
  const meta = h('p', { class: 'meta' }, mine ? `Updated ${formatDate(note.updatedAt)}` : `By ${note.owner} · updated ${formatDate(note.updatedAt)}`)
  const text = h('p', { class: 'text' }, note.body)

  const edit = h('button', { type: 'button', class: 'secondary' }, 'Edit')
  const actions = h('div', { class: 'actions' }, edit)

  const editTitle = h('input', { name: 'title', required: true, maxlength: '200' })
  editTitle.value = note.title
  const editBody = h('textarea', { name: 'body', rows: '3', maxlength: '100000' })
  editBody.value = note.body
  const editForm = h('form', { class: 'stack edit', hidden: true, 'aria-label': `Edit “${note.title}”` },
    h('label', {}, 'Title', editTitle),
    h('label', {}, 'Text', editBody),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Save'), h('button', { type: 'button', class: 'secondary', 'data-cancel': true }, 'Cancel')))

  edit.addEventListener('click', () => { editForm.hidden = false; edit.hidden = true; editTitle.focus() })
  editForm.querySelector('[data-cancel]')?.addEventListener('click', () => { editForm.hidden = true; edit.hidden = false })
  editForm.addEventListener('submit', (event) => {
    event.preventDefault()
    void busy(editForm, async () => {
      try {
        const updated = await api('PATCH', `v1/notes/${encodeURIComponent(note.id)}`, { title: editTitle.value, body: editBody.value }) as Note
        li.replaceWith(noteCard(updated))
        say(`Saved “${updated.title}”.`)
      } catch (err) {
        fail(err, 'Saving the note')
      }
    })
  })

  li.append(title, meta, text, actions, editForm)
  if (!mine) return li

  // Deleting cannot be undone: the button only asks, and the note goes when that is confirmed.
  const del = h('button', { type: 'button', class: 'danger' }, 'Delete')
  const yes = h('button', { type: 'button', class: 'danger solid' }, 'Delete for good')
  const keep = h('button', { type: 'button', class: 'secondary' }, 'Keep it')
  const confirm = h('div', { class: 'confirm', role: 'group', 'aria-label': `Delete “${note.title}”?`, hidden: true },
    h('p', {}, Object.keys(note.grants).length > 0 ? 'Delete this note? It cannot be undone, and the people it is shared with lose it too.' : 'Delete this note? It cannot be undone.'),
    yes, keep)
  actions.append(del)
  actions.after(confirm)
  del.addEventListener('click', () => { confirm.hidden = false; del.hidden = true; keep.focus() })
  keep.addEventListener('click', () => { confirm.hidden = true; del.hidden = false; del.focus() })
  yes.addEventListener('click', () => {
    void busy(yes, async () => {
      try {
        await api('DELETE', `v1/notes/${encodeURIComponent(note.id)}`)
        li.remove()
        notesShown()
        say(`Deleted “${note.title}”.`)
      } catch (err) {
        fail(err, 'Deleting the note')
      }
    })
  })

  const grants = Object.entries(note.grants)
  if (grants.length > 0) {
    const list = h('ul', { class: 'grants', 'aria-label': 'Shared with' })
    for (const [name, access] of grants) {
      const stop = h('button', { type: 'button', class: 'secondary', 'aria-label': `Stop sharing with ${name}` }, 'Stop sharing')
      stop.addEventListener('click', () => {
        void busy(stop, async () => {
          try {
            const updated = await api('DELETE', `v1/notes/${encodeURIComponent(note.id)}/grants/${encodeURIComponent(name)}`) as Note
            li.replaceWith(noteCard(updated))
            say(`“${note.title}” is no longer shared with ${name}.`)
          } catch (err) {
            fail(err, 'Stopping the sharing')
          }
        })
      })
      list.append(h('li', {}, `Shared with ${name} (${access === 'write' ? 'can edit' : 'can read'})`, stop))
    }
    li.append(list)
  }

  const who = h('input', { name: 'username', required: true, minlength: '3', maxlength: '32', autocapitalize: 'none', spellcheck: 'false' })
  const access = h('select', { name: 'access' }, h('option', { value: 'read' }, 'can read'), h('option', { value: 'write' }, 'can edit'))
  const share = h('form', { class: 'inline share', 'aria-label': `Share “${note.title}”` },
    h('label', {}, 'Share with (username)', who),
    h('label', {}, 'Access', access),
    h('button', { type: 'submit', class: 'secondary' }, 'Share'))
  share.addEventListener('submit', (event) => {
    event.preventDefault()
    const name = who.value.trim()
    void busy(share, async () => {
      try {
        const updated = await api('PUT', `v1/notes/${encodeURIComponent(note.id)}/grants/${encodeURIComponent(name)}`, { access: access.value }) as Note
        li.replaceWith(noteCard(updated))
        say(`“${note.title}” is shared with ${name}.`)
      } catch (err) {
        fail(err, 'Sharing the note')
      }
    })
  })
  li.append(share)
  return li
}

/** Own notes in one list, the notes others shared in another, under its own heading. */
function notesShown (): void {
  ui.notesEmpty.hidden = ui.noteList.children.length > 0
  ui.shared.hidden = ui.sharedList.children.length === 0
}

const notes = pagedList<Note>('v1/notes', ui.notesMore, {
  clear: () => { ui.noteList.replaceChildren(); ui.sharedList.replaceChildren() },
  add: note => { (note.owner === user ? ui.noteList : ui.sharedList).append(noteCard(note)) },
  shown: notesShown
}, 'notes')

ui.noteForm.addEventListener('submit', (event) => {
  event.preventDefault()
  const title = field(ui.noteForm, 'title')
  const body = field(ui.noteForm, 'body')
  void busy(ui.noteForm, async () => {
    try {
      const note = await api('POST', 'v1/notes', { title: title.value, body: body.value }) as Note
      ui.noteList.prepend(noteCard(note))
      ui.notesEmpty.hidden = true
      title.value = ''
      body.value = ''
      say(`Added “${note.title}”.`)
    } catch (err) {
      fail(err, 'Adding the note')
    }
  })
})

// ---- articles -----------------------------------------------------------------

function articleCard (a: Article): HTMLLIElement {
  return h('li', { class: 'card article' },
    h('h3', {}, a.title),
    h('p', { class: 'meta' }, `By ${a.author} · ${formatDate(a.createdAt)}`),
    h('p', { class: 'text' }, a.body))
}

const articles = pagedList<Article>('v1/public/articles', ui.articlesMore, {
  clear: () => { ui.articleList.replaceChildren() },
  add: article => { ui.articleList.append(articleCard(article)) },
  shown: () => { ui.articlesEmpty.hidden = ui.articleList.children.length > 0 }
}, 'articles')

// ---- start --------------------------------------------------------------------

async function start (): Promise<void> {
  try {
    const me = await api('GET', 'auth/whoami') as { username: string, kind: string }
    if (me.kind === 'user') showLoggedIn(me.username)
    else showLoggedOut()
  } catch (err) {
    showLoggedOut()
    // No session is the usual case for a visitor; anything else is worth saying.
    if (!(err instanceof ApiFailure && err.code === 'AUTH_MISSING')) fail(err, 'Checking your session')
  }
  const work: Array<Promise<void>> = [articles.load(true).catch((err: unknown) => { fail(err, 'Loading the articles') })]
  if (user !== null) work.push(notes.load(true).catch((err: unknown) => { fail(err, 'Loading your notes') }))
  await Promise.all(work)
  document.body.dataset.ready = 'true'
}

void start()
