/** URI helpers for the MongoDB tests (pure; tested in mongo-uri.test.ts). */

const URI = /^(mongodb(?:\+srv)?:\/\/)([^/?]*)(?:\/([^?]*))?(?:\?(.*))?$/

/**
 * The same deployment and credentials with another database. When a
 * mongodb:// URI has credentials and no authSource, the driver authenticates
 * against the URI's database (or `admin`), so that is pinned before the
 * database changes. A mongodb+srv:// URI is left alone there: its DNS TXT
 * record usually carries authSource (Atlas does), and pinning the path's
 * database would override it.
 */
export function withDatabase (uri: string, database: string): string {
  const m = URI.exec(uri)
  if (m === null) throw new Error('not a mongodb:// or mongodb+srv:// URI')
  const [, scheme, authority = '', path = '', query = ''] = m
  const params = query === '' ? [] : query.split('&')
  const hasAuthSource = params.some(p => p.toLowerCase().startsWith('authsource='))
  if (scheme === 'mongodb://' && authority.includes('@') && !hasAuthSource) params.push(`authSource=${path === '' ? 'admin' : path}`)
  return `${scheme}${authority}/${database}${params.length === 0 ? '' : `?${params.join('&')}`}`
}

/** The database a URI names, or the driver's default `test`. */
export function databaseOf (uri: string): string {
  const m = URI.exec(uri)
  if (m === null) throw new Error('not a mongodb:// or mongodb+srv:// URI')
  return m[3] === undefined || m[3] === '' ? 'test' : decodeURIComponent(m[3])
}
