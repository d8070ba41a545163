import { CODE_IP4, CODE_IP6, CODE_IP6ZONE, CODE_TCP, multiaddr } from '@multiformats/multiaddr'
import { unmapped } from './addresses.ts'
import type { InboundSocket, Intake, RejectListener } from './types.ts'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Observable } from 'rxjs'
import type { Socket } from 'node:net'

/**
 * The options of `toInboundSocket`: the element's fields its accepting
 * server gives every socket (`localAddr`, `intake`, `count`), how to make a
 * socket's closed signal (a listener's registry drives it from its one
 * 'close' listener per socket; `acceptSockets` uses `socketClosed$`), and
 * who hears of a rejection, once, after the socket was destroyed.
 */
export type ToInboundSocketOptions = Pick<InboundSocket, 'localAddr' | 'intake' | 'count'> & {
  closed$: (socket: Socket) => Observable<void>
  onReject?: RejectListener
}

/**
 * Wraps an accepted socket for the inbound pipeline: its remote address as a
 * multiaddr, and a `reject` that destroys it and reports the reason once.
 *
 * The socket's owner gives it an 'error' listener, so that a peer resetting
 * it while it waits in the pipeline closes it instead of crashing the process.
 *
 * @example
 * server.on('connection', (socket) => {
 *   const inbound = toInboundSocket(socket, { localAddr, intake, closed$: socketClosed$, onReject: (s, reason) => console.log(reason) })
 * })
 *
 * @param socket - a socket handed over by a `net.Server`
 * @param options - where it was accepted, the intake, the closed signal and a rejection listener
 * @returns the socket as an element of the inbound pipeline
 */
export function toInboundSocket (socket: Socket, options: ToInboundSocketOptions): InboundSocket {
  return new PipelineSocket(socket, remoteMultiaddr(socket) ?? options.localAddr, options)
}

/**
 * The element itself: a class rather than an object of closures, so that a
 * listener holding thousands of idle connections pays for no function per
 * socket.
 */
class PipelineSocket implements InboundSocket {
  // own fields, not getters: stages may copy the element with `{ ...inbound }`
  readonly localAddr: Multiaddr
  readonly intake: Intake
  readonly count?: (event: string) => void
  readonly closed$: Observable<void>
  private rejected = false

  constructor (
    readonly socket: Socket,
    // not readonly: a socket whose PROXY header was read is reported under the client's address
    public remoteAddr: Multiaddr,
    private readonly options: ToInboundSocketOptions
  ) {
    this.localAddr = options.localAddr
    this.intake = options.intake
    this.count = options.count
    this.closed$ = options.closed$(socket)
  }

  reject (reason: string, err?: Error): boolean {
    if (this.rejected) {
      return false
    }
    this.rejected = true
    // named by its peer as the socket reads it now: a later stage may have given it the client behind a balancer
    this.remoteAddr = remoteMultiaddr(this.socket) ?? this.remoteAddr
    this.socket.destroy()
    this.options.onReject?.(this, reason, err)
    return true
  }
}

/**
 * The peer's `/ip4|ip6/…/tcp/…` address; IPv4 peers seen through a dual-stack
 * listener (`::ffff:1.2.3.4`) are given as `/ip4`. Undefined when the socket
 * has no remote IP (unix sockets, or already reset).
 */
export function remoteMultiaddr (socket: Socket): Multiaddr | undefined {
  const { remoteAddress, remotePort } = socket
  if (remoteAddress === undefined || remotePort === undefined) {
    return undefined
  }
  // built from its components rather than parsed from a string: an idle
  // connection keeps this address, and a parse leaves it an over-allocated
  // component list; Node writes its addresses in canonical form already
  const port = { code: CODE_TCP, name: 'tcp', value: String(remotePort) }
  const ip4 = unmapped(remoteAddress)
  if (!ip4.includes(':')) {
    return multiaddr([{ code: CODE_IP4, name: 'ip4', value: ip4 }, port])
  }
  const [ip, zone] = remoteAddress.split('%')
  const host = { code: CODE_IP6, name: 'ip6', value: ip }
  return multiaddr(zone === undefined ? [host, port] : [{ code: CODE_IP6ZONE, name: 'ip6zone', value: zone }, host, port])
}
