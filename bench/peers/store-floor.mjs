/**
 * Peer 4, the data-path floors (issue 20): bare Fastify routes on the very
 * SQLite file the product used in the same run (BENCH_SQLITE), opened as the
 * embedded store opens it (better-sqlite3 from the main package, WAL,
 * synchronous=FULL, foreign keys on), answering with the product's own
 * response schemas (imported from its build, dist/src/schemas/api.js).
 *
 *   GET  /v1/public/articles  the first page: 21 rows newest first (20 and one
 *                             to tell whether there is a next page), as the
 *                             product's list asks for them; `next` a plain
 *                             base64url cursor (the product MACs its cursor)
 *   POST /v1/notes            one INSERT of the note in the body (validated by
 *                             the product's body schema), committed on its own
 *                             (autocommit: one WAL fsync per note), then 201
 *
 * No authentication, no hooks, no security headers: what the store and
 * Fastify cost for this answer, nothing else.
 */
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import Fastify from 'fastify'
import { HOST, PORT, TLS, listening, onSignals, tlsOptions } from './common.mjs'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
// The product's better-sqlite3 (same version, same SQLite build), not a copy of the bench's.
const Database = createRequire(join(ROOT, 'package.json'))('better-sqlite3')
const { ArticleSchema, NoteSchema, Page, TextCreate } = await import(pathToFileURL(join(ROOT, 'dist', 'src', 'schemas', 'api.js')).href)

const file = process.env.BENCH_SQLITE
if (file === undefined || file === '') throw new Error('BENCH_SQLITE must name the product\'s store.sqlite')
const db = new Database(file, { timeout: 10_000, fileMustExist: true })
db.pragma('journal_mode = WAL')
db.pragma('synchronous = FULL')
db.pragma('foreign_keys = ON')

const PAGE = 20
const firstPage = db.prepare('SELECT * FROM articles ORDER BY created_at DESC, id DESC LIMIT ?')
const insertNote = db.prepare('INSERT INTO notes (id, owner, title, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)')
const OWNER = process.env.BENCH_NOTE_OWNER ?? 'bench0'
const iso = (ms) => new Date(ms).toISOString()

const https = tlsOptions()
const app = Fastify({ logger: false, ...(https === undefined ? {} : { https }) })

app.get('/v1/public/articles', { schema: { response: { 200: Page(ArticleSchema) } } }, async () => {
  const rows = firstPage.all(PAGE + 1)
  const items = rows.slice(0, PAGE)
  const last = items.at(-1)
  return {
    items: items.map((r) => ({ id: r.id, title: r.title, body: r.body, author: r.author, createdAt: iso(r.created_at), updatedAt: iso(r.updated_at) })),
    next: rows.length > PAGE && last !== undefined ? Buffer.from(`${last.created_at}.${last.id}`, 'latin1').toString('base64url') : null
  }
})

app.post('/v1/notes', { schema: { body: TextCreate, response: { 201: NoteSchema } } }, async (request, reply) => {
  const id = randomBytes(12).toString('base64url')
  const now = Date.now()
  const { title, body } = request.body
  insertNote.run(id, OWNER, title, body, now, now)
  return reply.code(201).send({ id, owner: OWNER, title, body, grants: {}, createdAt: iso(now), updatedAt: iso(now) })
})

onSignals(async () => { await app.close(); db.close() })
await app.listen({ host: HOST, port: PORT })
listening(`${TLS ? 'https' : 'http'}://${HOST}:${app.server.address().port}`)
