import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { createLibp2p } from 'libp2p'
import { ECHO, handleEcho } from '../../bench/nodes.ts'
import type { TransportFactory } from '../../bench/subjects.ts'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, Stream } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'

/** One reading of the node's process, every `sampleEveryMs` and at each quiet point. */
export interface Sample {
  /** seconds since the node started */
  t: number
  /** taken at a quiet point (load paused, connections drained) rather than under load */
  quiet: boolean
  /** bytes, after a forced full GC */
  heapUsed: number
  heapTotal: number
  /** heap used per V8 space, bytes: tells code (JIT) from data */
  spaces: Record<string, number>
  rss: number
  external: number
  /** TCPSocketWrap + TCPServerWrap + TCPConnectWrap in process.getActiveResourcesInfo() */
  tcpHandles: number
  /** entries of /proc/self/fd */
  fds: number
  /** 'Timeout' entries in process.getActiveResourcesInfo() */
  timers: number
  /** event-loop delay since the previous sample, ms (perf_hooks monitorEventLoopDelay) */
  loopDelay: { p50: number, p99: number, max: number }
  /** libp2p connections open */
  connections: number
  /** dials back to the load's node so far: ok and failed */
  dialBacks: { ok: number, failed: number }
  /** at a quiet point: how long the drain took, ms, and what was still open if it did not finish */
  drainMs?: number
  undrained?: string
}

export interface LoadCounts {
  /** libp2p dials that opened an echo stream, exchanged data and closed */
  exchanges: { ok: number, failed: number }
  /** of those, pings over the connection */
  pings: { ok: number, failed: number }
  /** libp2p dials aborted at a random delay; `completed` got through before the abort */
  aborted: { total: number, completed: number }
  raw: { silent: number, halfHandshake: number, garbage: number, reset: number, refused: number }
  bytesEchoed: number
  /** the first failed exchanges, each as `t=<s since the load began> <error name>: <message>`, kept without SOAK_DEBUG so that a run says why */
  failures: string[]
}

/** parent → node */
export type NodeCommand =
  | { type: 'dial-back', addr: string }
  | { type: 'pause' }
  | { type: 'quiet-sample', baseline?: { tcpHandles: number, fds: number }, snapshot?: string }
  | { type: 'resume' }
  | { type: 'stop' }

/** node → parent */
export type NodeReport =
  | { type: 'listening', addr: string, peerId: string }
  | { type: 'sample', sample: Sample }
  | { type: 'paused' }
  | { type: 'error', kind: 'uncaughtException' | 'unhandledRejection', text: string }
  | { type: 'stopped', stopMs: number, uncaught: number, handlesAfterStop: Record<string, number> }

/** parent → load */
export type LoadCommand =
  | { type: 'target', addr: string }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' }

/** load → parent */
export type LoadReport =
  | { type: 'listening', addr: string }
  | { type: 'drained', ms: number, counts: LoadCounts }
  | { type: 'counts', counts: LoadCounts }
  | { type: 'error', kind: 'uncaughtException' | 'unhandledRejection', text: string }
  | { type: 'stopped', counts: LoadCounts, uncaught: number }

export type SoakNode = Libp2p<{ identify: Identify, ping: Ping }>

/**
 * A libp2p node as an application runs one: the transport, noise, yamux,
 * identify and ping, and the echo protocol. The connection manager's limits
 * are raised so that a burst from 127.0.0.1 reaches the transport instead of
 * being refused by libp2p's per-host rate limit.
 */
export async function createSoakNode (transport: TransportFactory): Promise<SoakNode> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [transport],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), ping: ping() },
    connectionManager: {
      maxConnections: 10_000,
      maxIncomingPendingConnections: 1_000,
      inboundConnectionThreshold: 100_000,
      maxParallelDials: 100,
      dialTimeout: 5_000,
      inboundUpgradeTimeout: 5_000
    }
  })
  await handleEcho(node)
  return node
}

/**
 * A signal that aborts when `stop` does or after `ms`, and `clear()` to
 * unlink it. Not `AbortSignal.any()`: on Node 24 a listened-to signal made by
 * it can stay among its long-lived source's dependants (nodejs/node#64476), which
 * in the node's own process would be the harness's growth, not the node's.
 */
export function deadline (stop: AbortSignal, ms: number): { signal: AbortSignal, clear: () => void } {
  const controller = new AbortController()
  const onStop = (): void => { controller.abort(stop.reason) }
  stop.addEventListener('abort', onStop, { once: true })
  const timer = setTimeout(() => { controller.abort(new Error(`timed out after ${ms} ms`)) }, ms)
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer)
      stop.removeEventListener('abort', onStop)
    }
  }
}

/**
 * Counts uncaught exceptions and unhandled rejections in this process and
 * reports each to the parent; the process goes on, so one error does not end
 * a long run. `report` is also where the process's own async work sends
 * what it did not expect to throw.
 */
export function trapErrors (): { readonly count: number, report: (kind: 'uncaughtException' | 'unhandledRejection') => (err: unknown) => void } {
  let count = 0
  const report = (kind: 'uncaughtException' | 'unhandledRejection') => (err: unknown): void => {
    count++
    process.send?.({ type: 'error', kind, text: err instanceof Error ? (err.stack ?? err.message) : String(err) })
  }
  process.on('uncaughtException', report('uncaughtException'))
  process.on('unhandledRejection', report('unhandledRejection'))
  return { get count () { return count }, report }
}

/**
 * Sends `payload` on a new echo stream in `chunk`-sized writes and resolves
 * once all of it came back and the stream closed; rejects on `signal`.
 */
export async function echoOver (stream: Stream, payload: Uint8Array, chunk: number, signal: AbortSignal): Promise<void> {
  const echoed = new Promise<void>((resolve, reject) => {
    let received = 0
    const onAbort = (): void => { reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
    stream.addEventListener('message', (evt) => {
      received += evt.data.byteLength
      if (received >= payload.byteLength) {
        signal.removeEventListener('abort', onAbort)
        resolve()
      }
    })
    stream.addEventListener('close', () => {
      if (received < payload.byteLength) reject(new Error(`echo stream closed after ${received} of ${payload.byteLength} bytes`))
    })
  })
  // awaited below; until then a failed write must not leave it unhandled
  echoed.catch(() => {})
  for (let at = 0; at < payload.byteLength; at += chunk) {
    if (!stream.send(payload.subarray(at, at + chunk))) await stream.onDrain({ signal })
  }
  await echoed
  await stream.close({ signal })
}

export { ECHO }
