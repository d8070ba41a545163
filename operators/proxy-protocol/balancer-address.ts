import { balancerOf } from './peer-address.ts'
import type { PeerAddress } from './peer-address.ts'

export type { PeerAddress } from './peer-address.ts'

/**
 * The balancer's own address and port for a socket whose PROXY header
 * `proxyProtocol` read: the peer Node saw before the socket was given the
 * client's. Takes the raw `net.Socket`, a `TLSSocket` over it, or the
 * `socket` of an HTTP/1 or HTTP/2 request; undefined for a socket that came
 * straight from its client (untrusted, or with a header that named none:
 * `LOCAL`, `UNKNOWN`).
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
  return balancerOf(socket)
}
