/**
 * The libp2p node of the churn: one TCP transport (rx-tcp or the reference
 * `@libp2p/tcp`), noise, yamux, identify and ping, on 127.0.0.1, with the
 * connection manager's limits raised so that the churn's bursts from one
 * address reach the transport instead of libp2p's rate limiting.
 */
import { createCipheriv } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { pureJsCrypto } from '@chainsafe/libp2p-noise/crypto'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp as referenceTcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { tcp as rxTcp } from '../../src/index.ts'
import type { Identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'

/** `rx`: this package; `ref`: `@libp2p/tcp`, the implementation it replaces. */
export type ChurnTransport = 'rx' | 'ref'

export const TRANSPORT_NAMES: Record<ChurnTransport, string> = { rx: 'rx-tcp', ref: '@libp2p/tcp' }

export type ChurnNode = Libp2p<{ ping: Ping, identify: Identify }>

/**
 * Whether this runtime's `node:crypto` has chacha20-poly1305, which noise's
 * default crypto uses. Bun's has not ("Unknown cipher"): there noise must be
 * given its JS crypto. Asked of the cipher itself, not of the runtime's name,
 * so that a runtime that gains it (or loses it) is answered correctly.
 */
export function hasChaCha20Poly1305 (): boolean {
  try {
    createCipheriv('chacha20-poly1305', new Uint8Array(32), new Uint8Array(12), { authTagLength: 16 })
    return true
  } catch {
    return false
  }
}

/** noise with the runtime's crypto where it has the cipher, else noise's JS crypto */
export function noiseForRuntime (): ReturnType<typeof noise> {
  return hasChaCha20Poly1305() ? noise() : noise({ crypto: pureJsCrypto })
}

export async function createChurnNode (transport: ChurnTransport): Promise<ChurnNode> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [transport === 'rx' ? rxTcp() : referenceTcp()],
    connectionEncrypters: [noiseForRuntime()],
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
