import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { plaintext } from '@libp2p/plaintext'
import { createLibp2p } from 'libp2p'
import type { Subject } from './subjects.ts'
import type { Libp2p } from '@libp2p/interface'

export type Encryption = 'noise' | 'plaintext'

export interface NodeOptions {
  encryption: Encryption
  /** listen on 127.0.0.1 (servers) or not at all (dialers) */
  listen: boolean
}

/**
 * A libp2p node with only the transport under test, one encrypter and yamux:
 * no identify or other services, so that the figures are the transport's and
 * the upgrade's, and limits raised so that libp2p's own guards (inbound rate
 * per host, pending upgrades, connection count) never refuse bench traffic.
 */
export async function createNode (subject: Subject, opts: NodeOptions): Promise<Libp2p> {
  return createLibp2p({
    addresses: { listen: opts.listen ? ['/ip4/127.0.0.1/tcp/0'] : [] },
    transports: [subject.tcp()],
    connectionEncrypters: [opts.encryption === 'noise' ? noise() : plaintext()],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: 100_000,
      maxIncomingPendingConnections: 100_000,
      inboundConnectionThreshold: Number.MAX_SAFE_INTEGER,
      maxParallelDials: 1_000,
      maxDialQueueLength: 100_000,
      // the close figure's handshakes must still be stalled when it closes,
      // however long a loaded machine takes to open them all (default 10 s)
      inboundUpgradeTimeout: 120_000
    },
    connectionMonitor: { enabled: false }
  })
}

export const ECHO = '/rx-tcp-bench/echo/1.0.0'

/**
 * Echoes every message back on the same stream. It does not pause: the
 * clients of this bench bound the bytes in flight, so the write buffer stays
 * bounded too.
 */
export async function handleEcho (node: Libp2p): Promise<void> {
  await node.handle(ECHO, (stream) => {
    stream.addEventListener('message', (evt) => {
      if (stream.writeStatus === 'writable') stream.send(evt.data)
    })
    stream.addEventListener('remoteCloseWrite', () => {
      stream.close().catch(() => {})
    })
  }, { maxInboundStreams: 1_000, maxOutboundStreams: 1_000 })
}

export async function stopAll (nodes: Libp2p[]): Promise<void> {
  await Promise.all(nodes.map(async (n) => n.stop()))
}
