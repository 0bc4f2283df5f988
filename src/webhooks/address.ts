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

/** The IPv4 address an IPv6 one carries (`::ffff:10.0.0.1`, `::ffff:a00:1`), if it is one of those. */
function embeddedIpv4(address: string): string | undefined {
  const mapped = /^::ffff:(?:0:)?(.+)$/i.exec(address)?.[1]
  if (mapped === undefined) return undefined
  if (isIP(mapped) === 4) return mapped
  const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(mapped)
  if (!hex) return undefined
  const value = (parseInt(hex[1]!, 16) << 16) | parseInt(hex[2]!, 16)
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join('.')
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
