/**
 * The libp2p node of the churn: one TCP transport (rx-tcp or the reference
 * `@libp2p/tcp`), noise (with the runtime's crypto or its own), yamux, identify and ping, on 127.0.0.1, with the
 * connection manager's limits raised so that the churn's bursts from one
 * address reach the transport instead of libp2p's rate limiting.
 */
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp as referenceTcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { tcp as rxTcp } from '../../src/index.ts'
import { runtimeNoise } from '../fixtures/noise.ts'
import type { Identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'

/** `rx`: this package; `ref`: `@libp2p/tcp`, the implementation it replaces. */
export type ChurnTransport = 'rx' | 'ref'

export const TRANSPORT_NAMES: Record<ChurnTransport, string> = { rx: 'rx-tcp', ref: '@libp2p/tcp' }

export type ChurnNode = Libp2p<{ ping: Ping, identify: Identify }>

export async function createChurnNode (transport: ChurnTransport): Promise<ChurnNode> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [transport === 'rx' ? rxTcp() : referenceTcp()],
    // noise's JS crypto where node:crypto lacks chacha20-poly1305 (Bun): docs/runtimes.md
    connectionEncrypters: [runtimeNoise()],
    streamMuxers: [yamux()],
    services: { ping: ping(), identify: identify() },
    // libp2p refuses private addresses by default; the churn lives on loopback
    connectionGater: { denyDialMultiaddr: () => false },
    connectionManager: {
      maxConnections: 10_000,
      maxIncomingPendingConnections: 10_000,
      inboundConnectionThreshold: 10_000,
      maxDialQueueLength: 10_000,
      dialTimeout: 5_000
    }
  })
}

/**
 * Stops a node and cancels the one timer libp2p 3.3.11 itself leaves behind
 * (the address manager's 1 s debounce, re-armed by the 'transport:close' of
 * its own stop(); see test/chaos/nodes.ts). Resolves with stop()'s duration
 * in ms, the cancel not included.
 */
export async function stopChurnNode (node: Libp2p): Promise<number> {
  const started = performance.now()
  await node.stop()
  const ms = performance.now() - started
  const components = (node as unknown as { components: { addressManager?: { _updatePeerStoreAddresses?: { stop?: () => void } } } }).components
  components.addressManager?._updatePeerStoreAddresses?.stop?.()
  return ms
}
