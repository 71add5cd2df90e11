/**
 * Copies an embedded store (DATA_DIR/store.sqlite) into MongoDB:
 *
 *   node dist/src/store/copy-to-mongo.js --data-dir DIR --mongodb-uri URI [--dry-run]
 *
 * Records are read through the embedded adapter itself (so its row mapping is
 * the only one), turned into the MongoDB adapter's documents by the same pure
 * functions that adapter uses, and written as upserts by `_id`: a second run
 * overwrites instead of duplicating. Stop the servers (or at least their
 * writes) first: the copy is not one snapshot of a store that is changing.
 *
 * --dry-run prints one JSON line per document instead of connecting, with
 * password hashes redacted (the output tends to be pasted into tickets).
 */
import Database from 'better-sqlite3'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type { AnyBulkWriteOperation, Collection, Document } from 'mongodb'
import { openEmbeddedStore } from './embedded.js'
import type { Cursor } from './port.js'
import {
  REVOCATION_COUNTER, articleToDoc, clientToDoc, collections, connectStore, noteToDoc, revocationToDoc, userToDoc,
  type ArticleDoc, type ClientDoc, type CounterDoc, type NoteDoc, type RevocationDoc, type UserDoc
} from './mongodb.js'

export const USAGE = 'usage: copy-to-mongo --data-dir DIR (--mongodb-uri URI | --dry-run)\n' +
  '  --data-dir DIR       the DATA_DIR holding store.sqlite\n' +
  '  --mongodb-uri URI    mongodb:// or mongodb+srv:// URI of a replica set; the database is the one it names\n' +
  '  --dry-run            print the documents as JSON lines (password hashes redacted) instead of writing'

/** A bad command line: the message says what to fix. */
export class UsageError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

export interface CopyArgs {
  dataDir: string
  mongodbUri: string | null
  dryRun: boolean
}

/** Parses and checks the command line (without argv[0..1]); `null` means --help. */
export function parseCopyArgs (argv: string[]): CopyArgs | null {
  let values
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'data-dir': { type: 'string' },
        'mongodb-uri': { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        help: { type: 'boolean', default: false }
      },
      strict: true,
      allowPositionals: false
    }))
  } catch (err) {
    // node's messages name the offending option; they never contain a value.
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
  if (values.help === true) return null
  const dataDir = values['data-dir']
  if (dataDir === undefined || dataDir === '') throw new UsageError('--data-dir is required')
  const uri = values['mongodb-uri'] ?? null
  const dryRun = values['dry-run'] === true
  if (uri === null && !dryRun) throw new UsageError('--mongodb-uri is required (or --dry-run to print the documents)')
  // Only the scheme is echoed: the URI may hold a password.
  if (uri !== null && !/^mongodb(\+srv)?:\/\/[^/?]/.test(uri)) throw new UsageError('--mongodb-uri must start with mongodb:// or mongodb+srv:// followed by a host')
  return { dataDir: resolve(dataDir), mongodbUri: uri, dryRun }
}

export type CopyItem =
  | { collection: 'users', document: UserDoc }
  | { collection: 'clients', document: ClientDoc }
  | { collection: 'articles', document: ArticleDoc }
  | { collection: 'notes', document: NoteDoc }
  | { collection: 'revocations', document: RevocationDoc }
  | { collection: 'counters', document: CounterDoc }

const PAGE = 500

/**
 * Every document of the embedded store in DATA_DIR, in copy order (users,
 * clients, articles, notes, revocations, then the revocation counter). The
 * counter is the highest sequence number SQLite ever issued, pruned records
 * included, so MongoDB never hands out a number a poller has already passed.
 */
export async function * embeddedDocuments (dataDir: string): AsyncGenerator<CopyItem> {
  const file = join(dataDir, 'store.sqlite')
  if (!existsSync(file)) throw new UsageError(`no embedded store at ${file}`)
  // Opened first: it brings an older file's schema up to date before the reads below.
  const store = openEmbeddedStore(dataDir)
  try {
    // The port has no "all users" or "all notes" listing, so only those keys
    // come from SQL; every record itself is read through the adapter.
    const raw = new Database(file, { readonly: true, fileMustExist: true })
    let usernames: string[]
    let noteIds: string[]
    let issuedSeq: number
    try {
      usernames = raw.prepare<[], { username: string }>('SELECT username FROM users ORDER BY username').all().map(r => r.username)
      noteIds = raw.prepare<[], { id: string }>('SELECT id FROM notes ORDER BY created_at, id').all().map(r => r.id)
      issuedSeq = raw.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'revocations'").get()?.seq ?? 0
    } finally {
      raw.close()
    }

    for (const username of usernames) {
      const user = await store.findUser(username)
      if (user !== null) yield { collection: 'users', document: userToDoc(user) }
    }
    for (const client of await store.listClients()) yield { collection: 'clients', document: clientToDoc(client) }
    for (let after: Cursor | null = null; ;) {
      const page = await store.listArticles(after, PAGE)
      for (const article of page) yield { collection: 'articles', document: articleToDoc(article) }
      const last = page[page.length - 1]
      if (page.length < PAGE || last === undefined) break
      after = { createdAt: last.createdAt, id: last.id }
    }
    for (const id of noteIds) {
      const note = await store.getNote(id)
      if (note !== null) yield { collection: 'notes', document: noteToDoc(note) }
    }
    let maxSeq = issuedSeq
    for (let after = 0; ;) {
      const page = await store.revocationsSince(after, PAGE)
      for (const r of page) yield { collection: 'revocations', document: revocationToDoc(r) }
      const last = page[page.length - 1]
      if (last !== undefined && last.seq > maxSeq) maxSeq = last.seq
      if (page.length < PAGE || last === undefined) break
      after = last.seq
    }
    yield { collection: 'counters', document: { _id: REVOCATION_COUNTER, seq: maxSeq } }
  } finally {
    await store.close()
  }
}

/** One dry-run line: the document as JSON, with a user's password hash redacted. */
export function dryRunLine (item: CopyItem): string {
  const document = item.collection === 'users' ? { ...item.document, passwordHash: '[redacted]' } : item.document
  return JSON.stringify({ collection: item.collection, document })
}

/** Runs the copy (or the dry run); returns how many documents went to each collection. */
export async function copyToMongo (args: CopyArgs, out: (line: string) => void): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  if (args.dryRun) {
    for await (const item of embeddedDocuments(args.dataDir)) {
      out(dryRunLine(item))
      counts[item.collection] = (counts[item.collection] ?? 0) + 1
    }
    return counts
  }
  if (args.mongodbUri === null) throw new UsageError('--mongodb-uri is required')
  const client = await connectStore(args.mongodbUri)
  try {
    const c = collections(client.db())
    // Upserts by _id: a rerun replaces what an earlier run wrote.
    const batches = {
      users: new Batch(c.users, d => ({ replaceOne: { filter: { _id: d._id }, replacement: d, upsert: true } })),
      clients: new Batch(c.clients, d => ({ replaceOne: { filter: { _id: d._id }, replacement: d, upsert: true } })),
      articles: new Batch(c.articles, d => ({ replaceOne: { filter: { _id: d._id }, replacement: d, upsert: true } })),
      notes: new Batch(c.notes, d => ({ replaceOne: { filter: { _id: d._id }, replacement: d, upsert: true } })),
      revocations: new Batch(c.revocations, d => ({ replaceOne: { filter: { _id: d._id }, replacement: d, upsert: true } }))
    }
    for await (const item of embeddedDocuments(args.dataDir)) {
      counts[item.collection] = (counts[item.collection] ?? 0) + 1
      switch (item.collection) {
        case 'users': await batches.users.add(item.document); break
        case 'clients': await batches.clients.add(item.document); break
        case 'articles': await batches.articles.add(item.document); break
        case 'notes': await batches.notes.add(item.document); break
        case 'revocations': await batches.revocations.add(item.document); break
        case 'counters':
          for (const b of Object.values(batches)) await b.flush()
          // $max: never move a counter back that the target already advanced.
          await c.counters.updateOne({ _id: item.document._id }, { $max: { seq: item.document.seq } }, { upsert: true })
          break
      }
    }
    for (const b of Object.values(batches)) await b.flush()
  } finally {
    await client.close()
  }
  return counts
}

/** Bulk writes of `PAGE` operations at a time. */
class Batch<T extends Document> {
  readonly #collection: Collection<T>
  readonly #op: (doc: T) => AnyBulkWriteOperation<T>
  #ops: Array<AnyBulkWriteOperation<T>> = []
  constructor (collection: Collection<T>, op: (doc: T) => AnyBulkWriteOperation<T>) {
    this.#collection = collection
    this.#op = op
  }

  async add (doc: T): Promise<void> {
    this.#ops.push(this.#op(doc))
    if (this.#ops.length >= PAGE) await this.flush()
  }

  async flush (): Promise<void> {
    if (this.#ops.length === 0) return
    const ops = this.#ops
    this.#ops = []
    await this.#collection.bulkWrite(ops, { ordered: true })
  }
}

async function main (argv: string[]): Promise<number> {
  let args: CopyArgs | null
  try {
    args = parseCopyArgs(argv)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`copy-to-mongo: ${err.message}\n${USAGE}\n`)
    return 2
  }
  if (args === null) {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  try {
    const counts = await copyToMongo(args, line => process.stdout.write(`${line}\n`))
    const summary = Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')
    process.stderr.write(`copy-to-mongo: ${args.dryRun ? 'would copy' : 'copied'} ${summary === '' ? 'nothing' : summary}\n`)
    return 0
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`copy-to-mongo: ${err.message}\n`)
      return 2
    }
    // Driver errors name hosts, never the URI's password.
    process.stderr.write(`copy-to-mongo: ${err instanceof Error ? err.message : String(err)}\n`)
    return 1
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2))
}
