/**
 * TLS material: TLS_CERT_FILE/TLS_KEY_FILE, or a self-signed development
 * certificate made once in DATA_DIR and reused on restart.
 */
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generate } from 'selfsigned'

export interface TlsMaterial {
  key: string
  cert: string
  /** Where the certificate came from, for the start-up log line. */
  source: 'files' | 'dev-created' | 'dev-reused'
  certPath: string
}

function tryRead (path: string): string | null {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}

export async function loadTls (opts: { certFile: string | undefined, keyFile: string | undefined, dataDir: string }): Promise<TlsMaterial> {
  if (opts.certFile !== undefined && opts.keyFile !== undefined) {
    return { cert: readFileSync(opts.certFile, 'utf8'), key: readFileSync(opts.keyFile, 'utf8'), source: 'files', certPath: opts.certFile }
  }
  // One file holds key and certificate, so creating it is a single atomic link
  // and several instances starting at once on one DATA_DIR agree on one pair.
  const pairPath = join(opts.dataDir, 'dev-tls.pem')
  const certPath = join(opts.dataDir, 'dev-cert.pem')
  let source: TlsMaterial['source'] = 'dev-reused'
  let pair = tryRead(pairPath)
  if (pair === null) {
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 })
    const pems = await generateDevCertificate()
    const temp = `${pairPath}.${process.pid}.tmp`
    writeFileSync(temp, pems.private + pems.cert, { mode: 0o600 })
    try {
      linkSync(temp, pairPath)
      source = 'dev-created'
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    } finally {
      unlinkSync(temp)
    }
    pair = readFileSync(pairPath, 'utf8')
  }
  const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n?/.exec(pair)?.[0]
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(pair)?.[0]
  if (key === undefined || cert === undefined) throw new Error(`${pairPath} does not hold a private key and a certificate; delete it to make a new one`)
  // The certificate alone, for clients to trust (curl --cacert, NODE_EXTRA_CA_CERTS).
  if (tryRead(certPath) !== cert) writeFileSync(certPath, cert, { mode: 0o644 })
  return { key, cert, source, certPath }
}

async function generateDevCertificate (): Promise<{ private: string, cert: string }> {
  const notBefore = new Date(Date.now() - 60_000)
  const notAfter = new Date(notBefore.getTime() + 365 * 86_400_000)
  return await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: notBefore,
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] }
    ]
  })
}
