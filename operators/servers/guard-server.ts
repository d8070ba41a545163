import tls from 'node:tls'
import { defer, finalize, tap } from 'rxjs'
import { ACCEPT_SOCKETS_RULES, acceptSockets } from './accept-sockets.ts'
import { checkOptions, fn, netServer, required } from '../../src/core/check.ts'
import { connectionKey, markTlsSocket, tlsConnectionKey } from '../proxy-protocol/peer-address.ts'
import type { AcceptSocketsOptions } from './accept-sockets.ts'
import type { InboundOperator, InboundSocket } from '../../src/core/types.ts'
import type { Server, Socket } from 'node:net'
import type { Observable } from 'rxjs'

/**
 * Puts an inbound pipeline in front of a server's own handling of its
 * sockets: `http.Server`, `https.Server`, `tls.Server` or any `net.Server`
 * with 'connection' listeners. While subscribed, those listeners are taken
 * aside; every accepted socket goes through `inbound` first, and only the
 * sockets it lets through are handed to them, so a refused or queued socket
 * never reaches a TLS handshake, an HTTP parser or a request handler.
 * Emits each socket it hands over; unsubscribing gives the server its
 * listeners back.
 *
 *   server:    --s1--s2--s3--------|
 *   inbound:   --a---b---x---------|     (x: s3 rejected, destroyed before the server saw it)
 *   handed:    --a---b-------------|     (the server's 'connection' listeners run for a and b)
 *
 * `acceptSockets` alone adds a listener after the server's own, which runs
 * first: an operator that decides at once (a CIDR rule, a limit) still
 * destroys the socket before a byte is read, but one that holds sockets
 * (`upgradeCap`'s queue, `proxyProtocol` waiting for its header) would
 * leave the server reading them meanwhile. Subscribe once the server's own
 * listeners are in place (after `createServer`). Intake pauses close only
 * the listening handle: idle keep-alive connections of an `http.Server`
 * stay open.
 *
 * Behind `proxyProtocol`, the server's code sees the client wherever Node
 * shows a peer: `socket.remoteAddress` of the raw socket and of the
 * TLSSocket over it (given the client on 'secureConnection', before the
 * server's own listeners), `req.socket.remoteAddress` of `http`, `https`
 * and `http2` requests, and so Express's `req.ip` and Fastify's
 * `request.ip`. `balancerAddress(socket)` gives the balancer's.
 *
 * @example
 * const server = https.createServer({ key, cert }, app)
 * guardServer(server, pipe(denyCidr(['203.0.113.0/24']), perSubnetRateLimit({ rate: 5, burst: 10 })), {
 *   onReject: ({ remoteAddr }, reason) => console.log('refused %s: %s', remoteAddr, reason)
 * }).subscribe()
 * server.listen(8443)
 *
 * @param server - the server whose sockets to guard
 * @param inbound - the pipeline each socket passes before the server sees it
 * @param options - rejection listener, local address, how to re-listen after a pause
 * @returns the sockets handed to the server, as they are handed
 */
export function guardServer (server: Server, inbound: InboundOperator, options: AcceptSocketsOptions = {}): Observable<InboundSocket> {
  checkOptions('guardServer', { server, inbound }, { server: required(netServer()), inbound: required(fn()) })
  checkOptions('guardServer', options, ACCEPT_SOCKETS_RULES)
  return defer(() => {
    const own = server.listeners('connection') as Array<(socket: Socket) => void>
    for (const listener of own) {
      server.off('connection', listener)
    }
    // a TLS server makes a TLSSocket over each socket it is handed: one whose PROXY header was read gives it its
    // mark (the client as its peer, the accessors) before any handler sees it, found by the TCP connection both
    // read through public getters; only such sockets are kept, until their TLSSocket comes or they close
    const secure = server instanceof tls.Server
    const overTls = new Map<string, { socket: Socket, closed: () => void }>()
    const exposeClient = (tlsSocket: Socket): void => {
      const key = tlsConnectionKey(tlsSocket)
      const awaiting = overTls.get(key)
      if (awaiting !== undefined) {
        overTls.delete(key)
        awaiting.socket.off('close', awaiting.closed)
        markTlsSocket(tlsSocket, awaiting.socket)
      }
    }
    const awaitTls = (socket: Socket): void => {
      const key = secure ? connectionKey(socket) : undefined
      if (key !== undefined) {
        const closed = (): void => { if (overTls.get(key)?.socket === socket) overTls.delete(key) }
        overTls.set(key, { socket, closed })
        socket.once('close', closed)
      }
    }
    if (secure) {
      server.prependListener('secureConnection', exposeClient)
    }
    return acceptSockets(server, options).pipe(
      inbound,
      tap(({ socket }) => {
        awaitTls(socket)
        for (const listener of own) {
          listener.call(server, socket)
        }
      }),
      finalize(() => {
        if (secure) {
          server.off('secureConnection', exposeClient)
        }
        overTls.clear()
        for (const listener of own) {
          server.on('connection', listener)
        }
      })
    )
  })
}
