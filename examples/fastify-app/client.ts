// A client of the example server, with the SDK: it logs in, signs a request, logs out.
// Run: node client.js http://127.0.0.1:3000
import { SignedApiClient } from 'signed-api/sdk'

const api = new SignedApiClient({ baseUrl: process.argv[2] ?? 'http://127.0.0.1:3000' })
await api.login('alice', 'let me in')
const { status, data } = await api.request('GET', '/hello')
console.log(status, JSON.stringify(data)) // 200 {"hello":"alice"}
await api.logout()
