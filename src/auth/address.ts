/**
 * The address a limit counts: an IPv4 address as it is, an IPv6 address by its
 * /64 network. One IPv6 subscriber is usually handed a whole /64, so counting
 * single IPv6 addresses would give one client 2^64 budgets. @fastify/rate-limit
 * groups its own limits the same way (its default `ipv6Subnet` is 64).
 */
import { isIPv4, isIPv6 } from 'node:net'

/** Eight 16-bit groups of an IPv6 address (a zone id such as %eth0 is dropped), or null if it is not one. */
function ipv6Groups (address: string): number[] | null {
  const text = address.split('%')[0] as string
  if (!isIPv6(text)) return null
  let head = text
  const tail: number[] = []
  // A dotted IPv4 ending (::ffff:192.0.2.1) stands for the last two groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number]
    tail.push((a << 8) | b, (c << 8) | d)
    head = text.slice(0, dotted.index).replace(/:$/, '')
    if (head.endsWith(':')) head += ':'
  }
  const [left, right] = head.includes('::') ? head.split('::') as [string, string] : [head, undefined]
  const parse = (part: string): number[] => part === '' ? [] : part.split(':').map(g => parseInt(g, 16))
  const l = parse(left)
  const r = right === undefined ? [] : parse(right)
  const missing = 8 - tail.length - l.length - r.length
  return [...l, ...new Array<number>(right === undefined ? 0 : missing).fill(0), ...r, ...tail]
}

/**
 * The key under which an address is limited: IPv4 unchanged; an IPv4-mapped
 * IPv6 address (::ffff:a.b.c.d) as its IPv4 address; any other IPv6 address
 * as its /64 prefix, written `xxxx:xxxx:xxxx:xxxx::/64`.
 */
export function limitAddress (address: string): string {
  if (isIPv4(address)) return address
  const groups = ipv6Groups(address)
  if (groups === null || groups.length !== 8) return address
  if (groups.slice(0, 5).every(g => g === 0) && groups[5] === 0xffff) {
    const [hi, lo] = [groups[6] as number, groups[7] as number]
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`
  }
  return `${groups.slice(0, 4).map(g => g.toString(16)).join(':')}::/64`
}
