import { IpNet } from '@chainsafe/netmask'
import { unmapped } from './addresses.ts'
import { integer } from './check.ts'
import type { Rules } from './check.ts'
import type { Multiaddr } from '@multiformats/multiaddr'

/** Default subnet sizes, as go-libp2p's resource manager groups peers. */
/** The default prefix length grouping IPv4 peers: one address. */
const DEFAULT_IPV4_PREFIX = 32
/** The default prefix length grouping IPv6 peers: a /56, a typical customer allocation. */
const DEFAULT_IPV6_PREFIX = 56

/** How peers are grouped into subnets by the per-subnet operators. */
export interface SubnetOptions {
  /** prefix length grouping IPv4 peers (default 32: one address) */
  ipv4Prefix?: number
  /** prefix length grouping IPv6 peers (default 56: one typical customer site) */
  ipv6Prefix?: number
}

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
  return ip === undefined ? ip : unmapped(ip)
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
    return ip === undefined ? undefined : new IpNet(ip, ip.includes(':') ? v6 : v4).toString()
  }
}

/** The rules of the subnet options, for the factories that take them */
export const SUBNET_RULES: Rules<SubnetOptions> = {
  ipv4Prefix: integer({ min: 0, max: 32 }),
  ipv6Prefix: integer({ min: 0, max: 128 })
}
