/**
 * The browser entry of `rx-tcp` (the `browser` condition of its exports):
 * a browser has no TCP sockets, so `tcp()` throws a clear error instead of
 * pulling `node:net` into the bundle. A libp2p configuration shared between
 * Node and browsers picks its browser transports there
 * (`@libp2p/websockets`, `@libp2p/webrtc`, `@libp2p/webtransport`).
 */
import { UnsupportedOperationError } from '@libp2p/interface'
import type { TCPComponents, TCPObservedAddressesComponents, TCPObservedAddressesInit, TCPOptions } from './index.ts'
import type { Startable, Transport } from '@libp2p/interface'

export type * from './index.ts'

/**
 * Throws: TCP connections are not possible in browsers.
 *
 * @throws UnsupportedOperationError naming the transport
 */
export function tcp (init?: TCPOptions): (components: TCPComponents) => Transport {
  throw new UnsupportedOperationError('rx-tcp: TCP connections are not possible in browsers; use a browser transport there (@libp2p/websockets, @libp2p/webrtc or @libp2p/webtransport)')
}

/**
 * Throws: a browser has no TCP, so no TCP address to observe.
 *
 * @throws UnsupportedOperationError naming the service
 */
export function tcpObservedAddresses (init?: TCPObservedAddressesInit): (components: TCPObservedAddressesComponents) => Startable {
  throw new UnsupportedOperationError('rx-tcp: tcpObservedAddresses observes TCP addresses, which browsers do not have; leave it out of a browser configuration')
}
