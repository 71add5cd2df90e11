/**
 * Client scopes (api-v1.md). A client's scopes never change after
 * registration, so they travel inside its key id (the session-id field is
 * "<generation>-<scope letters>") and check 8 needs no store lookup. The
 * derivation authenticates the key id, so the letters cannot be forged.
 */
export const SCOPES = { 'public:read': 'r', 'articles:write': 'w' } as const
export type Scope = keyof typeof SCOPES
export const SCOPE_NAMES = Object.keys(SCOPES) as Scope[]
export const DEFAULT_SCOPES: Scope[] = ['public:read']

/** A scope ending in ":write" is a write scope: an app (its key ships inside the app) never holds one. */
export const isWriteScope = (scope: string): boolean => scope.endsWith(':write')

export function clientSid (generation: number, scopes: readonly Scope[]): string {
  const letters = SCOPE_NAMES.filter(s => scopes.includes(s)).map(s => SCOPES[s]).join('')
  return `${generation}-${letters}`
}

/** The generation and scopes in a client key's session-id field; null when it is not one. */
export function parseClientSid (sid: string): { generation: number, scopes: Scope[] } | null {
  const m = /^([1-9][0-9]{0,9})-([a-z]*)$/.exec(sid)
  if (m === null) return null
  const letters = m[2] as string
  const scopes = SCOPE_NAMES.filter(s => letters.includes(SCOPES[s]))
  if (scopes.length !== letters.length) return null
  return { generation: Number(m[1]), scopes }
}
