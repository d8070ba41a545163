import { runtimeNoise } from '../fixtures/noise.ts'
import { yamux } from '@chainsafe/libp2p-yamux'
import { createLibp2p } from 'libp2p'
import type { ConnectionGater, Libp2p, Listener, Transport, Upgrader } from '@libp2p/interface'

export type TransportFactory = (components: any) => Transport

export const ECHO_PROTOCOL = '/chaos/echo/1.0.0'

export interface NodeOptions {
  transport: TransportFactory
  listen?: string[]
  gater?: ConnectionGater
  /** answer the echo protocol (for dialers that open a stream after connecting) */
  echo?: boolean
  /** libp2p's own deadline for an inbound upgrade, ms (default here 3000) */
  inboundUpgradeTimeout?: number
}

/**
 * A libp2p node with noise and yamux over the given transport, with the
 * connection manager's limits raised so that bursts from 127.0.0.1 reach the
 * transport instead of being refused by rate limiting.
 */
export async function createNode (opts: NodeOptions): Promise<Libp2p> {
  const node = await createLibp2p({
    addresses: { listen: opts.listen ?? [] },
    transports: [opts.transport],
    connectionEncrypters: [runtimeNoise()],
    streamMuxers: [yamux()],
    connectionGater: opts.gater,
    connectionManager: {
      maxConnections: 100_000,
      maxIncomingPendingConnections: 100_000,
      inboundConnectionThreshold: 100_000,
      maxParallelDials: 1_000,
      maxDialQueueLength: 100_000,
      dialTimeout: 3_000,
      inboundUpgradeTimeout: opts.inboundUpgradeTimeout ?? 3_000
    }
  })
  if (opts.echo === true) {
    await node.handle(ECHO_PROTOCOL, async (stream) => {
      for await (const chunk of stream) {
        if (!stream.send(chunk)) await stream.onDrain()
      }
      await stream.close()
    })
  }
  return node
}

/** the node's own upgrader, for driving a bare listener with a real one */
export function upgraderOf (node: Libp2p): Upgrader {
  // the upgrader is not public API; the node's components hold it
  return (node as unknown as { components: { upgrader: Upgrader } }).components.upgrader
}

export interface WatchedListener {
  readonly listener: Listener
  closeEvents: number
  closedAt?: number
}

/**
 * Wraps a transport factory so that every listener it creates is recorded
 * and its 'close' events counted from the start, whoever closes it (a bare
 * `close()` or a node's `stop()`).
 */
export function watchListeners (factory: TransportFactory, seen: WatchedListener[]): TransportFactory {
  return (components) => {
    const transport = factory(components)
    const createListener = transport.createListener.bind(transport)
    // patch the instance rather than proxy it: private fields stay reachable
    transport.createListener = (options) => {
      const listener = createListener(options)
      const watched: WatchedListener = { listener, closeEvents: 0 }
      listener.addEventListener('close', () => {
        watched.closeEvents++
        watched.closedAt ??= performance.now()
      })
      seen.push(watched)
      return listener
    }
    return transport
  }
}

/**
 * Stops a node and cancels the one timer libp2p 3.3.11 itself leaves behind:
 * its address manager re-arms a 1 s debounce on every 'transport:close',
 * including the ones its own stop() causes. That timer is libp2p's, not the
 * transport's, and would otherwise hold every round for a second. A listener
 * that dispatches 'close' after stop() has resolved still re-arms it after
 * this, and is caught as a leftover timer.
 */
export async function stopNode (node: Libp2p): Promise<void> {
  await node.stop()
  const components = (node as unknown as { components: { addressManager?: { _updatePeerStoreAddresses?: { stop?: () => void } } } }).components
  components.addressManager?._updatePeerStoreAddresses?.stop?.()
}
