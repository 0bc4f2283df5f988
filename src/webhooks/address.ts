// Where a webhook may be delivered: never, unless allowed, to this machine or a private network.
import { lookup } from 'node:dns/promises'
import { BlockList, isIP } from 'node:net'

/**
 * The addresses no webhook is sent to unless WEBHOOK_ALLOW_PRIVATE is set: this host (loopback,
 * unspecified), private networks (RFC 1918, carrier-grade NAT, IPv6 unique local), link-local
 * (where cloud metadata services live), and multicast and broadcast, which no receiver has.
 */
const PRIVATE = new BlockList()
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  PRIVATE.addSubnet(network, prefix, 'ipv4')
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b:1::', 48],
] as const) {
  PRIVATE.addSubnet(network, prefix, 'ipv6')
}

/** The 16 bytes of an IPv6 address (a valid one: `isIP` said so), its last 32 bits possibly written as IPv4. */
function bytesOf(address: string): number[] {
  let text = address
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1]
  if (dotted) {
    const [a, b, c, d] = dotted.split('.').map(Number) as [number, number, number, number]
    text = text.slice(0, -dotted.length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = '', tail] = text.split('::')
  const groups = (part: string) => (part ? part.split(':') : [])
  const missing = 8 - groups(head).length - groups(tail ?? '').length
  const all = [...groups(head), ...(tail === undefined ? [] : Array<string>(missing).fill('0')), ...groups(tail ?? '')]
  return all.flatMap((group) => {
    const value = parseInt(group, 16)
    return [value >> 8, value & 255]
  })
}

/**
 * The IPv4 address an IPv6 one carries, where it reaches that IPv4 host: IPv4-mapped (`::ffff:0:0/96`)
 * and -translated (`::ffff:0:0:0/96`),
 * IPv4-compatible (`::/96`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`, the address in bits 16 to 48).
 */
function embeddedIpv4(address: string): string | undefined {
  const bytes = bytesOf(address)
  const zeros = (from: number, to: number) => bytes.slice(from, to).every((byte) => byte === 0)
  const v4 = (at: number) => bytes.slice(at, at + 4).join('.')
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return v4(12)
  if (zeros(0, 8) && bytes[8] === 0xff && bytes[9] === 0xff && zeros(10, 12)) return v4(12)
  if (zeros(0, 12) && !zeros(12, 15)) return v4(12)
  if (bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b && zeros(4, 12)) return v4(12)
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return v4(2)
  return undefined
}

/** Whether an IP address (v4 or v6) is one no webhook goes to without WEBHOOK_ALLOW_PRIVATE. */
export function isPrivateAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '')
  const version = isIP(bare)
  if (version === 0) return true
  if (version === 4) return PRIVATE.check(bare, 'ipv4')
  const v4 = embeddedIpv4(bare)
  return v4 === undefined ? PRIVATE.check(bare, 'ipv6') : PRIVATE.check(v4, 'ipv4')
}

/** Why a webhook url cannot be used, or undefined when it can: its form, and where its host resolves. */
export async function urlTrouble(url: string, allowPrivate: boolean): Promise<string | undefined> {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return 'must be an absolute http or https URL'
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'must be an http or https URL'
  if (parsed.username || parsed.password) return 'must not hold a user name or password'
  if (parsed.hash) return 'must not hold a fragment (#…)'
  if (allowPrivate) return undefined
  const addresses = await addressesOf(parsed.hostname)
  if (addresses.length === 0) return `names a host that does not resolve (${parsed.hostname})`
  const refused = addresses.find(isPrivateAddress)
  return refused === undefined
    ? undefined
    : `resolves to ${refused}, a loopback, private, link-local or unspecified address (set WEBHOOK_ALLOW_PRIVATE=true to allow it)`
}

/** Every address a host name resolves to (the address itself for an IP literal); none when it does not resolve. */
export async function addressesOf(hostname: string): Promise<string[]> {
  const host = hostname.replace(/^\[|\]$/g, '')
  if (isIP(host) !== 0) return [host]
  try {
    return (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address)
  } catch {
    return []
  }
}
