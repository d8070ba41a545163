/**
 * tcpObservedAddresses with real libp2p nodes (noise, yamux, identify) on
 * loopback: what identify's peers observe of a node that dials from its
 * listen port reaches the address manager once enough peers agree, and
 * nothing does when the dials leave from ephemeral ports.
 */
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { createLibp2p } from 'libp2p'
import { afterEach, describe, expect, it } from 'vitest'
import { tcp, tcpObservedAddresses } from '../src/index.ts'
import { canDialFromListenPort } from '../src/reuse.ts'
import { runtimeNoise } from './fixtures/noise.ts'
import { stopNodes } from './fixtures/nodes.ts'
import { waitUntil } from './fixtures/wait.ts'
import type { PortReuse, TCPObservedAddressesComponents, TCPObservedAddressesInit } from '../src/index.ts'
import type { Libp2p } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

const nodes: Libp2p[] = []
afterEach(async () => { await stopNodes(nodes.splice(0)) })

async function node (options: { portReuse?: PortReuse, observed?: TCPObservedAddressesInit, handed?: Multiaddr[] } = {}): Promise<Libp2p> {
  const handed = options.handed
  const created = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp({ portReuse: options.portReuse })],
    connectionEncrypters: [runtimeNoise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    connectionMonitor: { enabled: false },
    services: {
      identify: identify(),
      ...(handed == null
        ? {}
        : {
            // the node's own address manager, with what the service hands it recorded on the way
            observed: (components: TCPObservedAddressesComponents) => tcpObservedAddresses(options.observed)({
              events: components.events,
              transportManager: components.transportManager,
              logger: components.logger,
              addressManager: { addObservedAddr: (addr) => { handed.push(addr); components.addressManager.addObservedAddr(addr) } }
            })
          })
    }
  })
  nodes.push(created)
  return created
}

/** `dialer` dials each of `peers` and waits until it has identified all of them */
async function dialAndIdentify (dialer: Libp2p, peers: Libp2p[]): Promise<void> {
  const identified = new Set<string>()
  dialer.addEventListener('peer:identify', (event) => { identified.add(event.detail.peerId.toString()) })
  await Promise.all(peers.map(async peer => dialer.dial(peer.getMultiaddrs()[0])))
  await waitUntil(() => peers.every(p => identified.has(p.peerId.toString())), 5000, `${dialer.peerId.toString()} to identify ${peers.length} peers`)
}

describe('tcpObservedAddresses', () => {
  it(`hands the listen address three peers observe to the address manager, once${canDialFromListenPort ? '' : ' (this runtime dials from ephemeral ports: nothing to hand)'}`, async () => {
    const handed: Multiaddr[] = []
    const dialer = await node({ handed })
    const listenAddr = dialer.getMultiaddrs()[0].decapsulateCode(421)
    await dialAndIdentify(dialer, [await node(), await node()])
    expect(handed).toEqual([])
    await dialAndIdentify(dialer, [await node(), await node()])
    expect(handed.map(a => a.toString())).toEqual(canDialFromListenPort ? [listenAddr.toString()] : [])
    // unverified: not among the addresses the node announces beyond its listen address
    expect(dialer.getMultiaddrs().map(a => a.decapsulateCode(421).toString())).toEqual([listenAddr.toString()])
  })

  it('hands nothing when the dials leave from ephemeral ports (portReuse: \'never\')', async () => {
    const handed: Multiaddr[] = []
    const dialer = await node({ portReuse: 'never', handed, observed: { minPeers: 1 } })
    await dialAndIdentify(dialer, [await node(), await node(), await node()])
    expect(handed).toEqual([])
  })

  it('refuses a bad option naming it', () => {
    expect(() => tcpObservedAddresses({ minPeers: 0 })).toThrow(/tcpObservedAddresses: minPeers/)
    expect(() => tcpObservedAddresses({ maxAddresses: 1.5 })).toThrow(/tcpObservedAddresses: maxAddresses/)
  })
})
