import { IpNet } from '@chainsafe/netmask'
import type { Multiaddr } from '@multiformats/multiaddr'

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

/**
 * The peer's IP address as written in an `/ip4` or `/ip6` multiaddr, or
 * undefined when the address carries none (unix sockets).
 */
export function ipOf (addr: Multiaddr): string | undefined {
  return addr.getComponents().find(({ name }) => name === 'ip4' || name === 'ip6')?.value
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
