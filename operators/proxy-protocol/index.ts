/**
 * The PROXY protocol (v1 and v2) for sockets behind a load balancer: an
 * operator that reads the header a balancer writes in front of each
 * connection, its events, and accessors for what it read: the header with
 * its TLVs, the client's address and the balancer's.
 *
 * @example
 * import { tcp } from 'rx-tcp'
 * import { proxyProtocol } from 'rx-tcp/proxy-protocol'
 *
 * tcp({ inbound: proxyProtocol({ trusted: ['10.0.0.0/8'] }) })
 *
 * @module
 */
export { proxyProtocol, type ProxyProtocolOptions } from './proxy-protocol.ts'
export { balancerAddress, clientAddress, proxyHeader, type PeerAddress } from './peer-address.ts'
export type { ProxyHeader, ProxiedClient } from './header.ts'
export type { ProxyTlv, ProxyTlvs, ProxySsl } from './tlv.ts'
export type { ProxyProtocolEvent, ProxyHeaderFound, ProxyHeaderMalformed, ProxyHeaderTimeout, ProxyHeaderMissing, ProxyHeaderRefused, ProxyEventOptions } from './events.ts'
