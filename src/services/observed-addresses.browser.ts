/**
 * The browser entry of `rx-tcp/observed-addresses` (the `browser` condition
 * of its exports): a browser has no TCP, so `tcpObservedAddresses()` throws a
 * clear error instead of pulling `node:net` into the bundle.
 */
import { UnsupportedOperationError } from '@libp2p/interface'
import type { TCPObservedAddressesComponents, TCPObservedAddressesInit } from './observed-addresses.ts'
import type { Startable } from '@libp2p/interface'

export type * from './observed-addresses.ts'

/**
 * Throws: a browser has no TCP, so no TCP address to observe.
 *
 * @throws UnsupportedOperationError naming the service
 */
export function tcpObservedAddresses (init?: TCPObservedAddressesInit): (components: TCPObservedAddressesComponents) => Startable {
  throw new UnsupportedOperationError('rx-tcp: tcpObservedAddresses observes TCP addresses, which browsers do not have; leave it out of a browser configuration')
}
