/**
 * TypeScript SDK for the signed API (protocol-v1.md). No dependency beyond
 * Node itself.
 *
 *   import { SignedApiClient } from 'signed-api/sdk'
 *   const api = new SignedApiClient({ baseUrl: 'https://127.0.0.1:8443', ca: readFileSync('var/dev-cert.pem') })
 *   await api.login('alice', password)
 *   const { data } = await api.request('GET', '/auth/whoami')
 *
 * With a client key: new SignedApiClient({ baseUrl, credentials: { username: principal, keyId, signingKey: secret } }).
 */
export { SignedApiClient, type ClientOptions, type ApiResponse, type RequestBody, type SignInfo } from './client.js'
export { ApiError, AuthError, SignedApiError, TransportError, UsageError, isApiError, type CanonicalDebug, type ErrorCode } from './errors.js'
export {
  SIGNATURE_TAG, SIGNATURE_RE, canonicalBytes, canonicalSummary, fieldProblem, signCanonical, signRequest, signatureMatches, targetProblem,
  type AuthHeaders, type Body, type Credentials, type SignedFields, type SignedRequest
} from './signer.js'
export { nodeTransport, type HttpRequest, type HttpResponse, type NodeTransportOptions, type Transport } from './transport.js'
