import { serviceDependencies } from '@libp2p/interface'
import { CODE_P2P } from '@multiformats/multiaddr'
import { TCP as TCP_ADDRESS } from '@multiformats/multiaddr-matcher'
import { checkOptions, integer } from './core/checker.ts'
import { TCP } from './transport.ts'
import type { ComponentLogger, IdentifyResult, Logger, Startable, Transport, TypedEventTarget, Libp2pEvents } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** The options of `tcpObservedAddresses(init)` */
export interface TCPObservedAddressesInit {
  /** How many distinct peers must report the same address before it is handed on. Default: 3. */
  minPeers?: number
  /** How many distinct addresses are tracked at once; the oldest is forgotten past it. Default: 32. */
  maxAddresses?: number
}

/** What the service takes from the libp2p node */
export interface TCPObservedAddressesComponents {
  /** the node's events: the service listens to `peer:identify` */
  events: TypedEventTarget<Libp2pEvents>
  /** the node's address manager */
  addressManager: {
    /** takes an observed address, unverified (not announced until confirmed) */
    addObservedAddr(addr: Multiaddr): void
  }
  /** the node's transport manager */
  transportManager: {
    /** the node's transports: the service asks rx-tcp's which connections it dialed from a listen port */
    getTransports(): Transport[]
  }
  /** the node's loggers: the service logs as `libp2p:tcp:observed-addresses` */
  logger: ComponentLogger
}

class TCPObservedAddresses implements Startable {
  readonly [Symbol.toStringTag] = 'rx-tcp:observed-addresses'
  readonly [serviceDependencies] = ['@libp2p/identify']
  private readonly components: TCPObservedAddressesComponents
  private readonly minPeers: number
  private readonly maxAddresses: number
  private readonly log: Logger
  /** each address reported, and the peers that reported it */
  private readonly observers = new Map<string, Set<string>>()

  constructor (components: TCPObservedAddressesComponents, init: TCPObservedAddressesInit) {
    this.components = components
    this.minPeers = init.minPeers ?? 3
    this.maxAddresses = init.maxAddresses ?? 32
    this.log = components.logger.forComponent('libp2p:tcp:observed-addresses')
  }

  start (): void {
    this.components.events.addEventListener('peer:identify', this.onIdentify)
  }

  stop (): void {
    this.components.events.removeEventListener('peer:identify', this.onIdentify)
    this.observers.clear()
  }

  private readonly onIdentify = (event: CustomEvent<IdentifyResult>): void => {
    const { observedAddr, connection, peerId } = event.detail
    // only a dial from the listen port shows a port others can dial (through a NAT: the listen port's mapping)
    if (observedAddr == null || !TCP_ADDRESS.exactMatch(observedAddr) || !this.components.transportManager.getTransports().some(t => t instanceof TCP && t.dialedFromListenPort(connection))) {
      return
    }
    const addr = observedAddr.decapsulateCode(CODE_P2P)
    const key = addr.toString()
    const peers = this.observers.get(key) ?? new Set()
    this.observers.delete(key)
    this.observers.set(key, peers.add(peerId.toString()))
    if (this.observers.size > this.maxAddresses) this.observers.delete(this.observers.keys().next().value as string)
    if (peers.size === this.minPeers) {
      // unverified in the address manager: announced only once AutoNAT (or the like) confirms it
      this.log('%d peers observed %a from the listen port, handing it to the address manager', peers.size, addr)
      this.components.addressManager.addObservedAddr(addr)
    }
  }
}

/**
 * A libp2p service that gives libp2p the TCP addresses peers observe, which
 * `@libp2p/identify` drops (docs/port-reuse.md names the lines). It takes
 * identify's `observedAddr` of a connection rx-tcp dialed from a listen port
 * (`portReuse`), and once `minPeers` distinct peers report the same address
 * it hands it to the address manager with `addObservedAddr`. The address
 * manager keeps it unverified, so it is not announced as reachable until a
 * verifier such as `@libp2p/autonat` confirms it.
 *
 * @example
 * createLibp2p({
 *   transports: [tcp()],
 *   services: { identify: identify(), autoNAT: autoNAT(), observedAddresses: tcpObservedAddresses() }
 * })
 */
export function tcpObservedAddresses (init: TCPObservedAddressesInit = {}): (components: TCPObservedAddressesComponents) => Startable {
  checkOptions('tcpObservedAddresses', init, { minPeers: integer({ min: 1 }), maxAddresses: integer({ min: 1 }) })
  return (components) => new TCPObservedAddresses(components, init)
}
