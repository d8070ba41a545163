import { isIP } from 'node:net'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Socket } from 'node:net'

/** A socket's peer as Node describes it (`remoteAddress`, `remotePort`, `remoteFamily`). */
export interface PeerAddress {
  /** the IP address, as Node writes it (`203.0.113.7`, `2001:db8::1`, `::ffff:203.0.113.7`) */
  address: string
  /** the TCP port */
  port: number
  /** `'IPv4'` or `'IPv6'`, as `socket.remoteFamily` gives it */
  family: 'IPv4' | 'IPv6'
}

/** what a proxied socket carries: the client a balancer named, and the balancer itself */
interface Proxied {
  client: PeerAddress
  balancer?: PeerAddress
  remoteAddr: Multiaddr
  /** whether the socket reads the client as its own peer */
  expose: boolean
  /** whether its handle answers with the client too (so a TLSSocket over it does) */
  viaHandle: boolean
}

// a registered symbol, so that two copies of the package (or a bundle) agree on it
const PROXIED = Symbol.for('rx-tcp.proxied')

/** a socket, or the TLSSocket or HTTP/2 proxy over it, with what this module leaves on it */
interface Marked {
  [PROXIED]?: Proxied
  /** a TLSSocket's own socket (Node's `_parent`; absent elsewhere) */
  _parent?: unknown
  /** the libuv handle (Node's `_handle`) */
  _handle?: PeerHandle | null
}

/** the part of Node's TCP handle wrap used here: `getpeername(out)` fills `out` and returns 0 or an errno */
interface PeerHandle {
  getpeername?: (out: Record<string, unknown>) => number
  [PROXIED]?: Proxied
}

/**
 * The getters put on each proxied socket, shared by all of them: what they
 * read lives on the socket under `PROXIED`, so a socket pays for no closure.
 */
const CLIENT_GETTERS: PropertyDescriptorMap = {
  remoteAddress: { configurable: true, enumerable: true, get (this: Marked) { return this[PROXIED]?.client.address } },
  remotePort: { configurable: true, enumerable: true, get (this: Marked) { return this[PROXIED]?.client.port } },
  remoteFamily: { configurable: true, enumerable: true, get (this: Marked) { return this[PROXIED]?.client.family } }
}

/**
 * Answers a handle's `getpeername` with the client. Node's TLSWrap forwards
 * its own `getpeername` to the handle under it (`_parent`), so a TLSSocket
 * made over this socket later (by `tls.Server`, `https.Server`,
 * `http2.createSecureServer`, or by hand) reads the client too.
 */
function clientPeername (this: PeerHandle, out: Record<string, unknown>): number {
  const client = this[PROXIED]?.client
  if (client === undefined) {
    return 0
  }
  out.address = client.address
  out.port = client.port
  out.family = client.family
  return 0
}

/** `1.2.3.4` or `2001:db8::1` with its port as Node writes a peer */
export function peerAddress (address: string, port: number): PeerAddress {
  return { address, port, family: isIP(address.split('%')[0]) === 6 ? 'IPv6' : 'IPv4' }
}

/**
 * The client as Node would have written it had it connected directly: an
 * IPv6 address in canonical form (a header may spell it
 * `2001:db8:0:0:1:0:0:2`), taken from the multiaddr that parsed it; IPv4
 * and IPv4-mapped addresses as the header gave them.
 */
function clientPeer (ip: string, port: number, remoteAddr: Multiaddr): PeerAddress {
  const [address, zone] = ip.split('%')
  if (isIP(address) !== 6 || /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address)) {
    return peerAddress(ip, port)
  }
  const canonical = remoteAddr.getComponents().find(({ name }) => name === 'ip6')?.value ?? address
  return peerAddress(zone === undefined ? canonical : `${canonical}%${zone}`, port)
}

export interface MarkOptions {
  /** give the socket's `remoteAddress`, `remotePort` and `remoteFamily` the client's (default true) */
  expose?: boolean
  /** answer through the socket's handle too, for TLSSockets made over it (default true; false to test the fallback) */
  viaHandle?: boolean
}

/**
 * Marks `socket` as carrying `client` (a balancer's PROXY header named it),
 * keeping its own peer, the balancer, for `balancerOf`. With `expose`, the
 * socket's own `remoteAddress`, `remotePort` and `remoteFamily` give the
 * client from now on: as own getters of the instance (public JavaScript,
 * whatever the runtime), and through the handle's `getpeername` where the
 * handle has one (Node), which is how a TLSSocket over the socket learns its
 * peer. Where the handle has none, `exposeOnTlsSocket` is the fallback for
 * the TLS servers `guardServer` guards.
 */
export function markProxied (socket: Socket, ip: string, port: number, remoteAddr: Multiaddr, options: MarkOptions = {}): void {
  const { expose = true, viaHandle = true } = options
  const marked = socket as unknown as Marked
  // behind two balancers, the first one's address is the one the socket came from
  const balancer = marked[PROXIED]?.balancer ?? ownPeer(socket)
  const proxied: Proxied = { client: clientPeer(ip, port, remoteAddr), balancer, remoteAddr, expose, viaHandle: false }
  // not enumerable: a socket logged or inspected stays as it was
  Object.defineProperty(marked, PROXIED, { configurable: true, enumerable: false, writable: true, value: proxied })
  if (!expose || !defineGetters(socket)) {
    return
  }
  const handle = marked._handle
  if (viaHandle && handle != null && typeof handle.getpeername === 'function') {
    handle[PROXIED] = proxied
    handle.getpeername = clientPeername
    proxied.viaHandle = true
  }
}

/**
 * The TCP peer (`address:port`, the balancer) of a socket whose TLSSocket
 * will not read the client through the handle, or undefined when the
 * handle answers already (Node) or the socket shows its own peer.
 */
export function tlsFallbackKey (socket: Socket): string | undefined {
  const proxied = (socket as unknown as Marked)[PROXIED]
  if (proxied === undefined || !proxied.expose || proxied.viaHandle || proxied.balancer === undefined) {
    return undefined
  }
  return `${proxied.balancer.address}:${proxied.balancer.port}`
}

function ownPeer (socket: Socket): PeerAddress | undefined {
  const { remoteAddress, remotePort } = socket
  return remoteAddress === undefined || remotePort === undefined ? undefined : peerAddress(remoteAddress, remotePort)
}

/** what `markProxied` left on a socket, on the TLSSocket over it, or behind an HTTP/2 compat proxy of either */
function proxiedOf (socket: unknown): Proxied | undefined {
  if (socket == null || typeof socket !== 'object') {
    return undefined
  }
  const marked = socket as Marked
  return marked[PROXIED] ?? (marked._parent != null && marked._parent !== socket ? proxiedOf(marked._parent) : undefined)
}

/** the client address a proxied socket carries, as a multiaddr */
export function proxiedRemoteAddr (socket: Socket): Multiaddr | undefined {
  return (socket as unknown as Marked)[PROXIED]?.remoteAddr
}

/**
 * The balancer's own address for a socket whose PROXY header was read: the
 * raw `net.Socket`, a `TLSSocket` over it, or an HTTP/2 request's `socket`.
 * Undefined for a socket that no balancer proxied.
 */
export function balancerOf (socket: unknown): PeerAddress | undefined {
  return proxiedOf(socket)?.balancer
}

/** the client a balancer named for this socket (or the one under it) */
export function clientOf (socket: unknown): PeerAddress | undefined {
  return proxiedOf(socket)?.client
}

/**
 * The fallback for a TLSSocket whose peer does not come from its handle
 * (a runtime without Node's `getpeername` on the handle): gives it the
 * client's getters of its own once its server hands it over. The socket
 * under it is found by Node's `_parent` where there is one, else by
 * `underlying`, which `guardServer` answers from the TLSSocket's own peer
 * (public: the TCP peer both share). Does nothing when the TLSSocket
 * already reads the client, or carries none.
 */
export function exposeOnTlsSocket (tlsSocket: Socket, underlying?: (tlsSocket: Socket) => Socket | undefined): void {
  const marked = tlsSocket as unknown as Marked
  if (marked[PROXIED] !== undefined) {
    return
  }
  const proxied = proxiedOf(marked._parent) ?? proxiedOf(underlying?.(tlsSocket))
  if (proxied === undefined || !proxied.expose || tlsSocket.remoteAddress === proxied.client.address) {
    return
  }
  Object.defineProperty(marked, PROXIED, { configurable: true, enumerable: false, writable: true, value: proxied })
  defineGetters(tlsSocket)
}

/**
 * Puts the client's getters on a socket instance. A runtime whose socket has
 * these as own properties that cannot be redefined keeps its own peer (the
 * pipeline's element still carries the client): false then.
 */
function defineGetters (socket: Socket): boolean {
  try {
    Object.defineProperties(socket, CLIENT_GETTERS)
    return true
  } catch {
    return false
  }
}
