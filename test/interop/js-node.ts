/**
 * The JS side of the interop runs: a libp2p 3 node on one TCP transport
 * (rx-tcp from `src/`, or `@libp2p/tcp` 11 from node_modules) with noise (or
 * plaintext, for the perf breakdown), yamux, identify, ping, and the two
 * protocols the go and rust peers speak besides: `/echo/1.0.0` and
 * `/perf/1.0.0` (test/interop/PEERS.md).
 *
 * @example
 * const node = await interopNode({ transport: 'rx', listen: ['/ip4/127.0.0.1/tcp/0'] })
 * const rtt = await node.services.ping.ping(multiaddr(peerAddr))
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { plaintext } from '@libp2p/plaintext'
import { tcp as refTcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { tcp as rxTcp } from '../../src/index.ts'
import { handlePerf } from './perf-protocol.ts'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, MultiaddrConnection, PeerId, Stream, StreamMessageEvent } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'

/** `rx`: this package; `ref`: `@libp2p/tcp` 11, the implementation it replaces. */
export type JsTransport = 'rx' | 'ref'

export const TRANSPORT_NAMES: Record<JsTransport, string> = { rx: 'rx-tcp', ref: '@libp2p/tcp' }

export const ECHO = '/echo/1.0.0'

/** the graceful-close deadline both transports use by default (rx-tcp's `closeTimeout`, `@libp2p/tcp`'s CLOSE_TIMEOUT) */
export const CLOSE_TIMEOUT_MS = 500

export type InteropNode = Libp2p<{ identify: Identify, ping: Ping }>

/**
 * Hooks the scenarios use to act at a precise point of an upgrade: each runs
 * after TCP has connected and before encryption starts (libp2p's connection
 * gater), and is awaited by the upgrade.
 */
export interface UpgradeHooks {
  inbound?: (maConn: MultiaddrConnection) => Promise<void>
  outbound?: (peer: PeerId, maConn: MultiaddrConnection) => Promise<void>
}

export interface InteropNodeOptions {
  transport: JsTransport
  listen?: string[]
  encrypter?: 'noise' | 'plaintext'
  hooks?: UpgradeHooks
}

export const AGENT = (transport: JsTransport): string => `rx-tcp-interop/js/${TRANSPORT_NAMES[transport]}`

/** A started node; `hooks` may be changed after start (the gater reads them on each connection). */
export async function interopNode (options: InteropNodeOptions): Promise<InteropNode> {
  const hooks = options.hooks ?? {}
  const transport = options.transport === 'rx' ? rxTcp() : refTcp()
  const node = await createLibp2p({
    addresses: { listen: options.listen ?? [] },
    transports: [transport],
    connectionEncrypters: [options.encrypter === 'plaintext' ? plaintext() : noise()],
    // go and rust open their streams the moment the muxer is up, before the
    // JS upgrade has made the connection; more than `maxEarlyStreams` of them
    // (default 10) and js-libp2p aborts the whole connection: 64 at once does
    streamMuxers: [yamux({ maxEarlyStreams: 128 })],
    nodeInfo: { userAgent: AGENT(options.transport) },
    // ping closes its stream without waiting for the remote's close, so the next
    // ping of a quick series can find the last one still counted against a limit of 1
    services: { identify: identify(), ping: ping({ maxOutboundStreams: 4 }) },
    connectionGater: {
      // the peers live on loopback or in a private namespace subnet
      denyDialMultiaddr: () => false,
      denyInboundConnection: async (maConn) => { await hooks.inbound?.(maConn); return false },
      denyOutboundConnection: async (peer, maConn) => { await hooks.outbound?.(peer, maConn); return false }
    },
    connectionManager: {
      // a scenario's peers reconnect in quick succession from one address
      inboundConnectionThreshold: Number.MAX_SAFE_INTEGER,
      maxIncomingPendingConnections: 1_000
    },
    // pings on idle connections would only add traffic no scenario asserts on
    connectionMonitor: { enabled: false }
  })
  await handleEcho(node)
  await handlePerf(node)
  return node
}

/**
 * Copies every byte back until the remote closes its write side, then closes
 * ours (PEERS.md). Written with listeners and `whenEnded`, not `for await`:
 * see `whenEnded` for the js-libp2p behaviour go-libp2p's 64 streams at once
 * run into.
 */
export async function handleEcho (node: Libp2p, onBytes?: (bytes: number, stream: Stream) => void): Promise<void> {
  await node.handle(ECHO, (stream) => {
    whenEnded(stream, () => {
      stream.close().catch((err) => { stream.abort(err) })
    }, (data) => {
      onBytes?.(data.byteLength, stream)
      if (stream.writeStatus !== 'writable') return
      if (!stream.send(data)) {
        stream.pause()
        // the stream may have closed meanwhile: nothing to resume then
        stream.onDrain().then(() => { if (stream.readStatus === 'paused') stream.resume() }, () => {})
      }
    })
  }, { maxInboundStreams: 256, maxOutboundStreams: 256, force: true })
}

/**
 * Delivers every message of an inbound stream to `onData`, then runs `onEnd`
 * once, when the remote has closed its write side and all it sent was
 * delivered. The stream's own 'end' (and 'remoteCloseWrite', which its
 * async iterator waits for) cannot be relied on here: with @libp2p/utils 7.4
 * the remote's data and close can arrive during protocol negotiation, the
 * events fire before the handler runs, and the data is delivered after. A
 * `for await` over such a stream never ends; go-libp2p, which sends a
 * stream's protocol, data and close in one burst, does this routinely.
 */
export function whenEnded (stream: Stream, onEnd: () => void, onData: (data: StreamMessageEvent['data']) => void): void {
  let done = false
  const end = (): void => { if (!done) { done = true; onEnd() } }
  const ended = (): boolean => stream.remoteWriteStatus === 'closed' && stream.readBufferLength === 0
  stream.addEventListener('message', (evt) => {
    onData(evt.data)
    if (ended()) end()
  })
  stream.addEventListener('end', end, { once: true })
  if (ended()) queueMicrotask(end)
}
