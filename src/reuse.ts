import net from 'node:net'
import { networkInterfaces } from 'node:os'
import { isPrivateIp } from '@libp2p/utils'
import { listenOn } from './core/server-intake.ts'
import type { PortReuse, TCPDialOptions } from './index.ts'
import type { Connection, PeerId } from '@libp2p/interface'
import type { AddressInfo, ListenOptions, Server, Socket, SocketConstructorOpts } from 'node:net'

/** `net.BoundSocket` (Node 24.19+, 26.4+): a socket bound before it connects or listens; absent elsewhere */
const BoundSocket = (net as { BoundSocket?: new (options: { host: string, port: number, reusePort: boolean, ipv6Only?: boolean }) => { close(): void } }).BoundSocket

/** @libp2p/dcutr dials its hole punch at this priority (`DCUTR_DIAL_PRIORITY`); nothing else in libp2p dials at 100 or more */
export const HOLE_PUNCH_PRIORITY = 100

/** Whether this runtime can dial from a port it listens on: detected by the feature, never by name or version */
export const canDialFromListenPort = typeof BoundSocket === 'function'

/** an address's scope, by which a dial picks the listen address it leaves from (`any`: a wildcard) */
function scopeOf (ip: string): 'loopback' | 'private' | 'public' | 'any' {
  if (ip === '0.0.0.0' || ip === '::') return 'any'
  if (ip.startsWith('127.') || ip === '::1') return 'loopback'
  return isPrivateIp(ip) === true ? 'private' : 'public'
}

/**
 * Listens with `SO_REUSEPORT` when `options.reusePort` is set and dials can
 * leave from the port (`canDialFromListenPort`), and resolves
 * with the options that worked. A fixed port is first bound without it, for
 * a moment: a port another socket holds is then listened on without it, and
 * fails with the `EADDRINUSE` of `@libp2p/tcp` instead of being shared. A
 * platform without `SO_REUSEPORT` (`ENOTSUP`) listens without it.
 */
export async function listenReusing (server: Server, options: ListenOptions): Promise<ListenOptions> {
  const plain = { ...options, reusePort: false }
  // SO_REUSEPORT only where a dial can use it: elsewhere it would only let another socket share the port
  if (options.reusePort !== true || BoundSocket == null) return await listenOn(server, plain).then(() => plain)
  try {
    if (options.port !== 0) new BoundSocket!({ host: options.host ?? '::', port: options.port ?? 0, reusePort: false, ipv6Only: options.ipv6Only }).close()
    await listenOn(server, options)
    return options
  } catch (err: any) {
    if (err?.syscall !== 'bind' && err?.code !== 'ENOTSUP') throw err
    await listenOn(server, plain)
    return plain
  }
}

/**
 * Whether a dial leaves from a listen port. `'auto'`: every dial but one to a
 * peer reached only through relays, unless it is the hole punch itself (see
 * docs/port-reuse.md: an aborted dial from the listen port leaves a NAT
 * mapping that breaks the hole punch after it).
 */
export function wantsListenPort (policy: PortReuse, options: Pick<TCPDialOptions, 'portUse' | 'priority' | 'peerId'>, connections?: (peer: PeerId) => Connection[]): boolean {
  if (options.portUse != null) return options.portUse === 'reuse'
  if (policy !== 'auto') return policy === 'always'
  if ((options.priority ?? 0) >= HOLE_PUNCH_PRIORITY || options.peerId == null) return true
  const open = connections?.(options.peerId) ?? []
  return open.length === 0 || open.some(c => c.limits == null && c.direct !== false)
}

/**
 * The listen address a dial to `host` leaves from, as go-libp2p's reuseport
 * dialer picks it, of the same family: a listener bound to an address of the
 * dial's scope (loopback, private, public), else one bound to the wildcard,
 * else, for a dial off this host, one bound to another non-loopback address
 * (a host behind a NAT reaches public addresses from its private one);
 * undefined when there is none (the dial takes an ephemeral port). go asks
 * the routing table for the source address of the route; Node has no route
 * lookup, so this goes by scope.
 */
export function listenPortFor (host: string, port: number, family: 4 | 6, listening: AddressInfo[]): AddressInfo | undefined {
  const ours = listening.filter(a => a.family === `IPv${family}`)
  const scope = net.isIP(host) === 0 ? undefined : scopeOf(host)
  const source = ours.find(a => scope != null && scopeOf(a.address) === scope) ??
    ours.find(a => scopeOf(a.address) === 'any') ??
    ours.find(a => scope != null && scope !== 'loopback' && scopeOf(a.address) !== 'loopback')
  // a dial from a port to that same port on this host would connect the socket to itself
  return source?.port === port && (scope === 'loopback' || isLocal(host)) ? undefined : source
}

function isLocal (host: string): boolean {
  return Object.values(networkInterfaces()).some(addrs => addrs?.some(a => a.address === host) === true)
}

/**
 * A socket bound to `source` with `SO_REUSEPORT`, not yet connected: it owns
 * the bound handle from the bind on (destroying it releases the port).
 * Throws what the bind throws (`EADDRINUSE`, `EADDRNOTAVAIL`), or `ENOTSUP`
 * where the runtime has no `net.BoundSocket`, and nothing is left open then.
 */
export function boundSocket (source: AddressInfo, options: SocketConstructorOpts): Socket {
  if (BoundSocket == null) throw Object.assign(new Error('this runtime has no net.BoundSocket'), { code: 'ENOTSUP' })
  const handle = new BoundSocket({ host: source.address, port: source.port, reusePort: true, ipv6Only: source.family === 'IPv6' })
  try {
    return new net.Socket({ ...options, handle } as unknown as SocketConstructorOpts)
  } catch (err) {
    handle.close()
    throw err
  }
}

/**
 * Errors of a dial from a listen port that a dial from an ephemeral port does
 * not have: the runtime cannot bind before it connects (`ENOTSUP`), the bind
 * failed, or the 4-tuple is taken (docs/port-reuse.md, "Fallback")
 */
export function isListenPortError (err: NodeJS.ErrnoException): boolean {
  return err.syscall === 'bind' || err.code === 'ENOTSUP' || err.code === 'EADDRINUSE' || err.code === 'EADDRNOTAVAIL'
}
