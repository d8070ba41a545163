import { InvalidParametersError } from '@libp2p/interface'
import { Observable } from 'rxjs'
import { boundMultiaddr } from '../../src/core/addresses.ts'
import { serverIntake } from '../../src/core/server-intake.ts'
import { toInboundSocket } from '../../src/core/inbound-socket.ts'
import { ignoreSocketError, socketClosed$ } from '../../src/core/socket-closed.ts'
import { checkOptions, fn, multiaddr as multiaddrRule, netServer, object, required } from '../../src/core/check.ts'
import type { Rules } from '../../src/core/check.ts'
import type { InboundSocket, RejectListener } from '../../src/core/types.ts'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { ListenOptions, Server, Socket } from 'node:net'

/** The options of `acceptSockets` and `guardServer`. */
export interface AcceptSocketsOptions {
  /** how to listen again when a paused intake resumes (default: the host and port, or unix path, the server was bound to when paused) */
  listen?: ListenOptions
  /** told once about each refused socket, after it was destroyed */
  onReject?: RejectListener
  /** the address sockets are accepted on (default: the server's bound address) */
  localAddr?: Multiaddr
}

/** The rules of `AcceptSocketsOptions`, for `acceptSockets` and `guardServer` */
export const ACCEPT_SOCKETS_RULES: Rules<AcceptSocketsOptions> = {
  listen: object(),
  onReject: fn(),
  localAddr: multiaddrRule()
}

// the servers an acceptSockets subscription is taking sockets from
const subscribed = new WeakSet<Server>()

/**
 * Emits every socket a `net.Server` accepts, as an `InboundSocket` whose
 * intake pauses and resumes that server.
 *
 *   server:  --s1--s2-----s3--(close)
 *   result:  --a---b------c---|
 *
 * The stream errors with the server's 'error' and completes with its 'close'
 * (a 'close' caused by pausing intake does not count). Unsubscribing leaves
 * open sockets alone, and leaves the server closed if intake was paused.
 * A server has one subscriber at a time (each socket must be decided once):
 * a second subscription errors; `share()` the stream to fan it out.
 *
 * @example
 * const server = net.createServer().listen(4001, '127.0.0.1')
 * acceptSockets(server, { onReject: (s, reason) => console.log('refused', reason) })
 *   .pipe(denyCidr(['10.0.0.0/8']), perSubnetLimit({ max: 4 }))
 *   .subscribe(({ socket }) => socket.pipe(socket))
 *
 * @param server - the server to take sockets from
 * @param options - rejection listener, local address, how to re-listen after a pause
 * @returns an observable of the accepted sockets, one intake per subscription
 */
export function acceptSockets (server: Server, options: AcceptSocketsOptions = {}): Observable<InboundSocket> {
  checkOptions('acceptSockets', { server }, { server: required(netServer()) })
  checkOptions('acceptSockets', options, ACCEPT_SOCKETS_RULES)
  return new Observable<InboundSocket>((subscriber) => {
    if (subscribed.has(server)) {
      subscriber.error(new InvalidParametersError('acceptSockets: the server already has a subscriber; share() the stream instead'))
      return
    }
    subscribed.add(server)
    const fail = (err: Error): void => { subscriber.error(err) }
    const intake = serverIntake(server, { listen: options.listen, onError: fail })
    let localAddr = options.localAddr

    const accepted = (socket: Socket): void => {
      // a socket's own local end where the server no longer reports one (its handle closed by a pause meanwhile)
      localAddr ??= boundMultiaddr(server.address() ?? { address: socket.localAddress ?? '', port: socket.localPort ?? 0, family: socket.localFamily ?? 'IPv4' })
      // a peer resetting the socket while it waits in the pipeline closes it instead of crashing the process
      if (socket.listenerCount('error') === 0) socket.on('error', ignoreSocketError)
      subscriber.next(toInboundSocket(socket, { localAddr, intake, closed$: socketClosed$, onReject: options.onReject }))
    }
    const listening = (): void => {
      localAddr = options.localAddr
    }
    const closed = (): void => {
      if (!intake.holding && !server.listening) {
        subscriber.complete()
      }
    }

    server.on('connection', accepted)
    server.on('listening', listening)
    server.on('close', closed)
    server.on('error', fail)
    return () => {
      subscribed.delete(server)
      void intake.end()
      server.off('connection', accepted)
      server.off('listening', listening)
      server.off('close', closed)
      server.off('error', fail)
    }
  })
}
