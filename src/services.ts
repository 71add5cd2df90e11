/** What routes are given: built once in app.ts from config and deps. */
import type { Config } from './config.js'
import type { Keyring } from './auth/keys.js'
import type { PasswordHasher } from './auth/passwords.js'
import type { FailureLimiter } from './auth/login-limiter.js'
import type { AuthServices } from './auth/plugin.js'
import type { Store } from './store/port.js'
import type { CursorCodec } from './paging.js'
import type { Revocation } from './auth/revocation.js'

export interface AppServices {
  config: Config
  store: Store
  keyring: Keyring
  passwords: PasswordHasher
  loginLimiter: FailureLimiter
  auth: AuthServices
  cursors: CursorCodec
  /** A new opaque id for notes and articles. */
  newId: () => string
  /** Records a revocation in the store (the source of truth), applies it here at once, and nudges the other instances. */
  revoke: (revocation: Revocation) => Promise<void>
  /** The clock: Unix ms. Injected so tests never sleep. */
  now: () => number
}
