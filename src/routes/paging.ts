/** Cursor paging shared by the list routes: limit + 1 rows tell whether a next page exists. */
import { ApiError } from '../errors.js'
import type { CursorCodec } from '../paging.js'
import type { Cursor } from '../store/port.js'

export const DEFAULT_LIMIT = 20

export async function pageOf<T extends { createdAt: number, id: string }, R> (
  codec: CursorCodec,
  scope: string,
  query: { limit?: number, after?: string },
  fetch: (after: Cursor | null, limit: number) => Promise<T[]>,
  view: (item: T) => R
): Promise<{ items: R[], next: string | null }> {
  const limit = query.limit ?? DEFAULT_LIMIT
  let after: Cursor | null = null
  if (query.after !== undefined) {
    after = codec.decode(query.after, scope)
    if (after === null) throw new ApiError('VALIDATION_FAILED', 'querystring.after is not a cursor this list gave out')
  }
  const rows = await fetch(after, limit + 1)
  const items = rows.slice(0, limit)
  const last = items.at(-1)
  return { items: items.map(view), next: rows.length > limit && last !== undefined ? codec.encode({ createdAt: last.createdAt, id: last.id }, scope) : null }
}
