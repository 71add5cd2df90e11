/// <reference lib="dom" />
/**
 * A clear sentence for every error code the API can answer (src/errors.ts),
 * for the person using the page rather than for a developer.
 */
import type { ApiFailure } from './api.js'

const RELOAD = 'The app sent a request the server could not accept. Please reload the page and try again.'
const BUSY = 'The server is busy for a moment. Please try again in a few seconds.'

const MESSAGES: Record<string, string> = {
  NETWORK: 'The server cannot be reached. Check your connection and try again.',
  BAD_REQUEST_TARGET: RELOAD,
  BAD_REQUEST: RELOAD,
  METHOD_NOT_ALLOWED: RELOAD,
  UNSUPPORTED_MEDIA_TYPE: RELOAD,
  BODY_NOT_ALLOWED: RELOAD,
  INVALID_JSON: RELOAD,
  AUTH_MALFORMED: RELOAD,
  CSRF_REJECTED: 'The request was refused because it did not come from this page. Please reload the page and try again.',
  HEADERS_TOO_LARGE: 'Your browser sent too much data. Please clear this site\'s cookies and log in again.',
  AUTH_MISSING: 'Please log in to do this.',
  AUTH_STALE: 'Your request arrived too late. Please try again.',
  REQUEST_TIMEOUT: 'The request took too long to reach the server. Check your connection and try again.',
  AUTH_KEY_EXPIRED: 'Your session has expired. Please log in again.',
  AUTH_BAD_SIGNATURE: 'Your session is not valid any more. Please log in again.',
  AUTH_KEY_REVOKED: 'Your session has ended (you logged out elsewhere, changed your password, or the account was disabled). Please log in again.',
  AUTH_REPLAY: 'This request was already sent once. Please check whether it took effect before trying again.',
  AUTH_INVALID_CREDENTIALS: 'Wrong username or password.',
  USERNAME_TAKEN: 'That username is taken. Please choose another one.',
  SIGNUP_CLOSED: 'New accounts cannot be created on this website. If you already have an account, log in.',
  HTTPS_REQUIRED: 'Logging in and signing up need a secure (https://) connection.',
  BODY_TOO_LARGE: 'That is too long to save. Please shorten it.',
  NOT_FOUND: 'This note does not exist any more, or it is no longer shared with you.',
  USER_NOT_FOUND: 'There is no user with that name.',
  CLIENT_NAME_TAKEN: 'A client with that name exists.',
  REVOCATIONS_STALE: BUSY,
  REPLAY_CACHE_UNAVAILABLE: BUSY,
  RATE_LIMIT_UNAVAILABLE: BUSY,
  NOT_READY: BUSY,
  INTERNAL_ERROR: 'Something went wrong on the server. Please try again.'
}

/** What to show for a failed request; `what` names the action ("Saving the note"). */
export function describeFailure (err: unknown, what: string): string {
  const failure = err as Partial<ApiFailure>
  const code = typeof failure.code === 'string' ? failure.code : 'UNKNOWN'
  const detail = typeof failure.message === 'string' ? failure.message : ''
  let text: string
  switch (code) {
    case 'VALIDATION_FAILED':
      text = `Please check what you entered: ${detail}.`
      break
    case 'FORBIDDEN':
      text = `You may not do this: ${detail}.`
      break
    case 'RATE_LIMITED':
      text = failure.retryAfter !== null && failure.retryAfter !== undefined
        ? `Too many attempts. Please wait ${failure.retryAfter} seconds and try again.`
        : 'Too many attempts. Please wait a little and try again.'
      break
    default:
      text = (Object.hasOwn(MESSAGES, code) ? MESSAGES[code] : undefined) ?? (detail !== '' ? `${detail}.` : 'Something went wrong. Please try again.')
  }
  return `${what} failed. ${text.replace(/\.\.$/, '.')}`
}
