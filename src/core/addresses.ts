import { IpNet } from '@chainsafe/netmask'
import { multiaddr } from '@multiformats/multiaddr'
import { integer } from './check.ts'
import type { Rules } from './check.ts'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { AddressInfo } from 'node:net'

/** Default subnet sizes, as go-libp2p's resource manager groups peers. */
/** The default prefix length grouping IPv4 peers: one address. */
export const DEFAULT_IPV4_PREFIX = 32
/** The default prefix length grouping IPv6 peers: a /56, a typical customer allocation. */
export const DEFAULT_IPV6_PREFIX = 56

/** How peers are grouped into subnets by the per-subnet operators. */
export interface SubnetOptions {
  /** prefix length grouping IPv4 peers (default 32: one address) */
  ipv4Prefix?: number
  /** prefix length grouping IPv6 peers (default 56: one typical customer site) */
  ipv6Prefix?: number
}

/** `::ffff:1.2.3.4` and `::ffff:102:304`: an IPv4 address in an IPv6 one, as a dual-stack socket shows an IPv4 peer */
const IPV4_MAPPED_DOTTED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i
const IPV4_MAPPED_HEX = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i

/**
 * The peer's IP address as written in an `/ip4` or `/ip6` multiaddr, or
 * undefined when the address carries none (unix sockets). An IPv4-mapped
 * IPv6 address is given as the IPv4 address it carries, so that rules and
 * limits count an IPv4 client as itself, however the socket saw it (the
 * hole of express-rate-limit's CVE-2026-30827, where every IPv4 client of a
 * dual-stack server fell in one IPv6 /56).
 */
export function ipOf (addr: Multiaddr): string | undefined {
  const ip = addr.getComponents().find(({ name }) => name === 'ip4' || name === 'ip6')?.value
  return ip === undefined || !ip.includes(':') ? ip : unmapped(ip)
}

/** an IPv4-mapped IPv6 address as its IPv4 address, any other address as it is */
export function unmapped (ip: string): string {
  const dotted = IPV4_MAPPED_DOTTED.exec(ip)
  if (dotted != null) {
    return dotted[1]
  }
  const hex = IPV4_MAPPED_HEX.exec(ip)
  if (hex != null) {
    const high = parseInt(hex[1], 16)
    const low = parseInt(hex[2], 16)
    return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`
  }
  return ip
}

/**
 * The multiaddr of an address a server is bound to, as `server.address()`
 * gives it: `/ip4|ip6/…/tcp/…` (a zone as `/ip6zone/…`), or `/unix/…` for a
 * path.
 */
export function boundMultiaddr (bound: AddressInfo | string): Multiaddr {
  if (typeof bound === 'string') {
    return multiaddr(`/unix/${encodeURIComponent(bound)}`)
  }
  const [ip, zone] = bound.address.split('%')
  return multiaddr(`${zone === undefined ? '' : `/ip6zone/${zone}`}/${bound.family === 'IPv6' ? 'ip6' : 'ip4'}/${ip}/tcp/${bound.port}`)
}

/**
 * `host:port` (or the unix path) of an address: the key `@libp2p/tcp` uses
 * for its per-listener metrics.
 */
export function metricAddress (addr: Multiaddr): string {
  const [host, port] = addr.getComponents()
  if (host?.name === 'unix') {
    return host.value ?? 'unknown'
  }
  return host?.value != null && port?.value != null ? `${host.value}:${port.value}` : 'unknown'
}

/**
 * Maps an address to the subnet it is counted under, e.g. `10.1.2.0/24`;
 * undefined for addresses without an IP.
 */
export function subnetKeyer (options: SubnetOptions = {}): (addr: Multiaddr) => string | undefined {
  const v4 = options.ipv4Prefix ?? DEFAULT_IPV4_PREFIX
  const v6 = options.ipv6Prefix ?? DEFAULT_IPV6_PREFIX
  return (addr) => {
    const ip = ipOf(addr)
    if (ip === undefined) {
      return undefined
    }
    return new IpNet(ip, ip.includes(':') ? v6 : v4).toString()
  }
}

/** The rules of the subnet options, for the factories that take them */
export const SUBNET_RULES: Rules<SubnetOptions> = {
  ipv4Prefix: integer({ min: 0, max: 32 }),
  ipv6Prefix: integer({ min: 0, max: 128 })
}
