/** What routes are given: built once in app.ts from config and deps. */
import type { Config } from './config.js'
import type { Keyring } from './auth/keys.js'
import type { PasswordHasher } from './auth/passwords.js'
import type { FailureLimiter } from './auth/login-limiter.js'
import type { ReplayCache } from './auth/replay.js'
import type { Store } from './store/port.js'
import type { CursorCodec } from './paging.js'
import type { Revocation, RevocationView } from './auth/revocation.js'

export interface AppServices {
  config: Config
  store: Store
  keyring: Keyring
  passwords: PasswordHasher
  loginLimiter: FailureLimiter
  /** This instance's view of the store's revocations (check 6). */
  revocations: RevocationView
  /** Check 7's cache. */
  replay: ReplayCache
  cursors: CursorCodec
  /** A new opaque id for notes and articles. */
  newId: () => string
  /** Records a revocation in the store (the source of truth), applies it here at once, and nudges the other instances. */
  revoke: (revocation: Revocation) => Promise<void>
  /** The clock: Unix ms. Injected so tests never sleep. */
  now: () => number
}
