import { isIP } from 'node:net'
import type { ProxyHeader } from './header.ts'
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

/** what a socket whose PROXY header was read carries */
interface Proxied {
  /** what the header said */
  header: ProxyHeader
  /** the client it named, if it named one */
  client?: PeerAddress
  /** the balancer: the socket's own peer when the header was read (only when a client was named) */
  balancer?: PeerAddress
  /** whether the socket reads the client as its own peer */
  expose: boolean
}

// a registered symbol, so that two copies of the package (or a bundle) agree on it
const PROXIED = Symbol.for('rx-tcp.proxied')

/** a socket, the TLSSocket over it, or an HTTP/2 request's socket proxy, with what this module leaves on it */
interface Marked {
  [PROXIED]?: Proxied
}

/**
 * The getters put on each socket that reads its client as its peer, shared
 * by all of them: what they read lives on the socket under `PROXIED`, so a
 * socket pays for no closure. Own properties of the JavaScript instance:
 * Node's native handle is left as it is.
 */
const CLIENT_GETTERS: PropertyDescriptorMap = {
  remoteAddress: { configurable: true, enumerable: true, get (this: Marked) { return this[PROXIED]?.client?.address } },
  remotePort: { configurable: true, enumerable: true, get (this: Marked) { return this[PROXIED]?.client?.port } },
  remoteFamily: { configurable: true, enumerable: true, get (this: Marked) { return this[PROXIED]?.client?.family } }
}

function peer (address: string, port: number): PeerAddress {
  return { address, port, family: isIP(address.split('%')[0]) === 6 ? 'IPv6' : 'IPv4' }
}

/**
 * Marks `socket` with the header a balancer sent on it. When the header
 * named a client (`canonicalIp`: as Node would have written it had the
 * client connected directly), the socket's own peer is kept as the
 * balancer, and with `expose` the socket's `remoteAddress`, `remotePort`
 * and `remoteFamily` give the client from now on.
 */
export function markProxied (socket: Socket, header: ProxyHeader, canonicalIp: string | undefined, expose: boolean): void {
  const client = header.source === undefined || canonicalIp === undefined ? undefined : peer(canonicalIp, header.source.port)
  const balancer = client === undefined ? undefined : ownPeer(socket)
  mark(socket, { header, client, balancer, expose: expose && client !== undefined })
}

/**
 * Gives a TLSSocket the mark of the socket under it, once its server hands
 * it over (`guardServer` does, on 'secureConnection'), so that it reads the
 * client too and the accessors answer for it.
 */
export function markTlsSocket (tlsSocket: Socket, underlying: Socket): void {
  const proxied = (underlying as unknown as Marked)[PROXIED]
  if (proxied !== undefined) {
    mark(tlsSocket, proxied)
  }
}

/**
 * The key a TLSSocket over `socket` will be found by: the TCP connection
 * they share, as the TLSSocket reads it (`peer>local`). Undefined for a
 * socket without a mark.
 */
export function connectionKey (socket: Socket): string | undefined {
  const proxied = (socket as unknown as Marked)[PROXIED]
  if (proxied === undefined) {
    return undefined
  }
  const remote = ownPeer(socket)
  return remote === undefined ? undefined : `${remote.address}:${remote.port}>${socket.localAddress ?? ''}:${socket.localPort ?? ''}`
}

/** the TCP connection a TLSSocket reads (its peer and its local end), as `connectionKey` writes it */
export function tlsConnectionKey (tlsSocket: Socket): string {
  return `${tlsSocket.remoteAddress ?? ''}:${tlsSocket.remotePort ?? ''}>${tlsSocket.localAddress ?? ''}:${tlsSocket.localPort ?? ''}`
}

function mark (socket: Socket, proxied: Proxied): void {
  // not enumerable: a socket logged or inspected stays as it was
  Object.defineProperty(socket, PROXIED, { configurable: true, enumerable: false, writable: true, value: proxied })
  if (proxied.expose) {
    defineGetters(socket)
  }
}

/** the socket's TCP peer: the balancer it kept if it was marked before (its getters may give the client, and behind two balancers the first is the one it came from) */
function ownPeer (socket: Socket): PeerAddress | undefined {
  const balancer = (socket as unknown as Marked)[PROXIED]?.balancer
  if (balancer !== undefined) {
    return balancer
  }
  const { remoteAddress, remotePort } = socket
  return remoteAddress === undefined || remotePort === undefined ? undefined : peer(remoteAddress, remotePort)
}

/**
 * Puts the client's getters on a socket instance. A runtime whose socket has
 * these as own properties that cannot be redefined keeps its own peer (the
 * pipeline's element still carries the client).
 */
function defineGetters (socket: Socket): void {
  try {
    Object.defineProperties(socket, CLIENT_GETTERS)
  } catch {}
}

/** what `markProxied` left on a socket, a TLSSocket `guardServer` handed over, or an HTTP/2 request's socket (a proxy of either) */
function proxiedOf (socket: unknown): Proxied | undefined {
  return socket != null && typeof socket === 'object' ? (socket as Marked)[PROXIED] : undefined
}

/**
 * The balancer's own address and port for a socket whose PROXY header
 * `proxyProtocol` read: the peer Node saw before the socket was given the
 * client's. Takes the raw `net.Socket`, the `TLSSocket` a `guardServer`ed
 * server made over it, or the `socket` of an HTTP/1 or HTTP/2 request;
 * undefined for a socket that came straight from its client (untrusted, or
 * with a header that named none: `LOCAL`, `UNKNOWN`).
 *
 * @example
 * app.get('/', (req, res) => {
 *   res.json({ client: req.socket.remoteAddress, via: balancerAddress(req.socket)?.address })
 * })
 *
 * @param socket - a socket, a TLSSocket or a request's socket
 * @returns `{ address, port, family }` of the balancer, or undefined
 */
export function balancerAddress (socket: unknown): PeerAddress | undefined {
  return proxiedOf(socket)?.balancer
}

/**
 * The client a balancer's PROXY header named for a socket, whatever the
 * socket's own `remoteAddress` gives (the balancer under `socketPeer:
 * 'balancer'`). Takes the same sockets as `balancerAddress`; undefined for
 * a socket whose header named no client, or that had none.
 *
 * @example
 * tcp({ inbound: pipe(proxyProtocol({ trusted, socketPeer: 'balancer' }), tap(({ socket }) => log(clientAddress(socket)))) })
 *
 * @param socket - a socket, a TLSSocket or a request's socket
 * @returns `{ address, port, family }` of the client, or undefined
 */
export function clientAddress (socket: unknown): PeerAddress | undefined {
  return proxiedOf(socket)?.client
}

/**
 * What the PROXY header read from a socket said: version, command,
 * addresses and the v2 TLVs decoded (`ProxyTlvs`). Takes the same sockets as
 * `balancerAddress`, so a pipeline stage (`inbound.socket`) and a request
 * handler (`req.socket`) read it alike; undefined for a socket whose header
 * was not read.
 *
 * @example
 * tcp({ inbound: pipe(proxyProtocol({ trusted }), filter(({ socket }) => proxyHeader(socket)?.tlvs?.aws?.vpceId === 'vpce-0123')) })
 *
 * @param socket - a socket, a TLSSocket or a request's socket
 * @returns the header, or undefined
 */
export function proxyHeader (socket: unknown): ProxyHeader | undefined {
  return proxiedOf(socket)?.header
}
