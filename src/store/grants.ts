/**
 * A note's grants, keyed by username. Usernames are chosen by users, and a
 * name such as `constructor` is valid, so grants are never a plain object
 * (where `grants.constructor` is Object.prototype's): both adapters build a
 * null-prototype object, and every lookup is an own-property lookup.
 */
import type { Access } from './port.js'

/** A null-prototype grants object holding exactly `entries` (even `__proto__` is an ordinary key in it). */
export function grantsFrom (entries: Iterable<{ username: string, access: Access }> = []): Record<string, Access> {
  const grants = Object.create(null) as Record<string, Access>
  for (const { username, access } of entries) grants[username] = access
  return grants
}

/** The access granted to `username`, or null: only an own entry counts, whatever object is given. */
export function grantOf (grants: Readonly<Record<string, Access>>, username: string): Access | null {
  return Object.hasOwn(grants, username) ? (grants[username] as Access) : null
}
