#!/usr/bin/env node
/**
 * Statements per notes list (issue 20): opens the embedded store as built
 * (dist/src/store/embedded.js) in a temp dir with a statement counter (its
 * `onStatement` option, better-sqlite3's `verbose`), shares 1 and then 20
 * notes of other owners with one reader, and counts the SQL statements one
 * listNotesFor of the first page (21 rows asked, as the route asks) runs.
 *
 *   node bench/notes-queries.mjs [--json]
 *
 * Constant means: the same count for 1 shared note as for 20.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
// BENCH_SERVER (another build's dist/src/server.js, as for the runner): that build's store.
const SRC = process.env.BENCH_SERVER ? dirname(resolve(process.env.BENCH_SERVER)) : join(ROOT, 'dist', 'src')
const { openEmbeddedStore } = await import(pathToFileURL(join(SRC, 'store', 'embedded.js')).href)

const dir = mkdtempSync(join(tmpdir(), 'signed-api-notes-queries-'))
const statements = []
let counting = false
const store = openEmbeddedStore(dir, { onStatement: (sql) => { if (counting) statements.push(sql) } })

async function countList (reader) {
  statements.length = 0
  counting = true
  const rows = await store.listNotesFor(reader, null, 21)
  counting = false
  return { notes: rows.length, grants: rows.reduce((n, r) => n + Object.keys(r.grants).length, 0), statements: statements.length }
}

let result
try {
  const now = Date.UTC(2026, 0, 1)
  const share = async (i) => {
    await store.createNote({ id: `n${i}`, owner: `owner${i}`, title: `note ${i}`, body: 'shared with the reader' }, now + i)
    await store.setGrant(`n${i}`, 'reader', 'read', now + i)
    await store.setGrant(`n${i}`, `other${i}`, 'write', now + i)
  }
  await share(0)
  const one = await countList('reader')
  for (let i = 1; i < 20; i++) await share(i)
  const twenty = await countList('reader')
  // 0 statements: this build's store has no statement counter (the option came with issue 20).
  result = one.statements === 0
    ? { error: 'this build of the embedded store counts no statements (no onStatement option)' }
    : { one, twenty, constant: one.statements === twenty.statements }
} finally {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
}

if (process.argv.includes('--json')) process.stdout.write(JSON.stringify(result) + '\n')
else if (result.error) process.stdout.write(`${result.error}\n`)
else process.stdout.write(`listNotesFor, first page: ${result.one.statements} statements for ${result.one.notes} shared note, ${result.twenty.statements} for ${result.twenty.notes} shared notes (${result.constant ? 'constant' : 'grows with the page'})\n`)
