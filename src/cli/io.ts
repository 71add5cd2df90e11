/**
 * The CLI's contact with the process, behind an interface so tests run
 * commands in-process. Passwords come from SIGNED_API_PASSWORD, from stdin
 * (--password-stdin) or from a prompt that does not echo; never from argv,
 * which other users can read in the process list.
 */
import { ArgError } from './args.js'

export interface Io {
  stdout (chunk: string | Uint8Array): void
  stderr (chunk: string | Uint8Array): void
  readStdin (): Promise<Buffer>
  /** Reads one line without echo, when stdin is a terminal; null otherwise. */
  prompt (question: string): Promise<string | null>
  env: Record<string, string | undefined>
}

export async function readPassword (io: Io, fromStdin: boolean): Promise<string> {
  if (fromStdin) {
    const text = (await io.readStdin()).toString('utf8').replace(/\r?\n$/, '')
    if (text === '') throw new ArgError('--password-stdin: stdin was empty')
    return text
  }
  const env = io.env.SIGNED_API_PASSWORD
  if (env !== undefined && env !== '') return env
  const typed = await io.prompt('Password: ')
  if (typed === null) throw new ArgError('no password: set SIGNED_API_PASSWORD, pass --password-stdin, or run in a terminal')
  if (typed === '') throw new ArgError('empty password')
  return typed
}

export function nodeIo (): Io {
  return {
    stdout: chunk => { process.stdout.write(chunk) },
    stderr: chunk => { process.stderr.write(chunk) },
    env: process.env,
    readStdin: async () => {
      const chunks: Buffer[] = []
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
      return Buffer.concat(chunks)
    },
    prompt: async (question) => {
      const stdin = process.stdin
      if (!stdin.isTTY) return null
      process.stderr.write(question)
      stdin.setRawMode(true)
      stdin.resume()
      try {
        return await new Promise<string>((resolve, reject) => {
          let typed = ''
          const onData = (chunk: Buffer): void => {
            for (const ch of chunk.toString('utf8')) {
              if (ch === '\r' || ch === '\n') { stdin.off('data', onData); resolve(typed); return }
              if (ch === '\u0003') { stdin.off('data', onData); reject(new ArgError('interrupted')); return }
              if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1)
              else typed += ch
            }
          }
          stdin.on('data', onData)
        })
      } finally {
        stdin.setRawMode(false)
        stdin.pause()
        process.stderr.write('\n')
      }
    }
  }
}
