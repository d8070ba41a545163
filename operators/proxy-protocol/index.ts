/**
 * The PROXY protocol (v1 and v2) for sockets behind a load balancer: an
 * operator that reads the header a balancer writes in front of each
 * connection, its TLVs and events, and the client's and the balancer's
 * addresses.
 *
 * @example
 * import { tcp } from 'rx-tcp'
 * import { proxyProtocol } from 'rx-tcp/proxy-protocol'
 *
 * tcp({ inbound: proxyProtocol({ trusted: ['10.0.0.0/8'] }) })
 *
 * @module
 */
export { proxyProtocol, DEFAULT_PROXY_HEADER_TIMEOUT, DEFAULT_MAX_PROXY_HEADER_BYTES, type ProxyProtocolOptions } from './proxy-protocol.ts'
export { balancerAddress, type PeerAddress } from './balancer-address.ts'
export type { ProxyHeader, ProxiedClient } from './header.ts'
export { PP2_TYPE, PP2_CLIENT, type ProxyTlv, type ProxyTlvs, type ProxySsl } from './tlv.ts'
export { proxyEventKeys, type ProxyProtocolEvent, type ProxyHeaderFound, type ProxyHeaderMalformed, type ProxyHeaderTimeout, type ProxyHeaderMissing, type ProxyHeaderRefused, type ProxyEventOptions } from './events.ts'
