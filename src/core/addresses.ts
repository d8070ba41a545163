import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { AddressInfo } from 'node:net'

/** `::ffff:1.2.3.4` or `::ffff:102:304`: an IPv4 address in an IPv6 one, as a dual-stack socket shows an IPv4 peer */
const IPV4_MAPPED = /^::ffff:(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i

/** An IPv4-mapped IPv6 address as its IPv4 address, any other address as it is */
export function unmapped (ip: string): string {
  const [, dotted, high, low] = IPV4_MAPPED.exec(ip) ?? []
  if (high === undefined) return dotted ?? ip
  // each of the two hex groups is two bytes of the IPv4 address
  return [high, low].map((group) => parseInt(group, 16)).flatMap((n) => [n >> 8, n & 0xff]).join('.')
}

/**
 * `/ip4|ip6/…/tcp/…` of an IP address as a socket or a balancer writes it,
 * in any of its spellings (`2001:db8:0:0:1:0:0:2` becomes
 * `/ip6/2001:db8::1:0:0:2`); an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`)
 * is given as `/ip4`, a zone (`fe80::1%eth0`) as `/ip6zone`.
 */
export function tcpMultiaddr (ip: string, port: number): Multiaddr {
  const [address, zone] = unmapped(ip).split('%')
  // parsed from a string so that the address is written in its canonical form
  return multiaddr(`${zone === undefined ? '' : `/ip6zone/${zone}`}/${address.includes(':') ? 'ip6' : 'ip4'}/${address}/tcp/${port}`)
}

/**
 * The multiaddr of an address a server is bound to, as `server.address()`
 * gives it: `/ip4|ip6/…/tcp/…` (a zone as `/ip6zone/…`), or `/unix/…` for a
 * path.
 */
export function boundMultiaddr (bound: AddressInfo | string): Multiaddr {
  return typeof bound === 'string' ? multiaddr(`/unix/${encodeURIComponent(bound)}`) : tcpMultiaddr(bound.address, bound.port)
}

/**
 * `host:port` (or the unix path) of an address, `unknown` without one: the
 * key `@libp2p/tcp` uses for its per-listener metrics, and so the label of
 * every metric series of a listener, its operators' and its PROXY events'.
 */
export function metricAddress (addr: Multiaddr | undefined): string {
  const [host, port] = addr?.getComponents() ?? []
  if (host?.name === 'unix') return host.value ?? 'unknown'
  return host?.value != null && port?.value != null ? `${host.value}:${port.value}` : 'unknown'
}
