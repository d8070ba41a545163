/**
 * `/perf/1.0.0`, the protocol libp2p's test-plans measure with, on libp2p 3
 * streams (`@libp2p/perf` is not served by this project's registry). The
 * client writes an 8-byte big-endian u64 N, then its upload bytes, then
 * closes its write side; the server reads and discards until EOF, then
 * writes N bytes and closes.
 *
 * @example
 * await handlePerf(server)
 * const r = await perf(client, addr, { upload: 100 * MiB, download: 0 })
 */
import { whenEnded } from './js-node.ts'
import type { Libp2p, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export const PERF = '/perf/1.0.0'

/** writes of this size, as the go and rust implementations use */
const BLOCK = new Uint8Array(64 * 1024)

async function sendBytes (stream: Stream, total: number, signal?: AbortSignal): Promise<void> {
  let left = total
  while (left > 0) {
    const n = Math.min(left, BLOCK.byteLength)
    left -= n
    if (!stream.send(n === BLOCK.byteLength ? BLOCK : BLOCK.subarray(0, n))) await writable(stream, signal)
  }
}

/**
 * Waits until the stream has handed its whole write buffer to the muxer.
 * Not `stream.onDrain()`: in @libp2p/utils 7.4 its promise is kept once
 * resolved, so after a stream's first drain it resolves at once and the
 * write buffer grows without bound; yamux 8 then sends it as one frame the
 * size of the send window (MiBs once the window has grown), and rust-libp2p's
 * yamux closes the connection ("frame body is too large").
 */
export async function writable (stream: Stream, signal?: AbortSignal): Promise<void> {
  if (stream.writeBufferLength === 0) return
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => {
      stream.removeEventListener('idle', onIdle)
      stream.removeEventListener('close', onClose)
      signal?.removeEventListener('abort', onAbort)
      if (err != null) reject(err)
      else resolve()
    }
    const onIdle = (): void => { done() }
    const onClose = (evt: any): void => { done(evt?.error ?? new Error('the stream closed with bytes still to send')) }
    const onAbort = (): void => { done(signal?.reason) }
    stream.addEventListener('idle', onIdle)
    stream.addEventListener('close', onClose)
    signal?.addEventListener('abort', onAbort)
  })
}

/**
 * Serves `/perf/1.0.0` on `node`. Event listeners from the moment the
 * handler runs, not `for await` (see `handleEcho` in js-node.ts: a client
 * that sends its header, its bytes and its close at once would otherwise
 * hang the iterator).
 */
export async function handlePerf (node: Libp2p): Promise<void> {
  await node.handle(PERF, (stream) => {
    let header: Uint8Array = new Uint8Array(0)
    let requested: bigint | undefined
    whenEnded(stream, () => {
      void (async () => {
        if (requested == null) throw new Error(`perf request ended after ${header.byteLength} of the 8 header bytes`)
        await sendBytes(stream, Number(requested))
        await stream.close()
      })().catch((err) => { stream.abort(err) })
    }, (data) => {
      if (requested != null) return
      const bytes = data.subarray()
      header = header.byteLength === 0 ? bytes : concat(header, bytes)
      if (header.byteLength >= 8) requested = new DataView(header.buffer, header.byteOffset, 8).getBigUint64(0)
    })
  }, { maxInboundStreams: 256, maxOutboundStreams: 256, force: true })
}

function concat (a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength)
  out.set(a, 0)
  out.set(b, a.byteLength)
  return out
}

export interface PerfRequest {
  upload: number
  download: number
  signal?: AbortSignal
}

export interface PerfResult {
  upload: number
  download: number
  /** from opening the stream until the last download byte arrived */
  seconds: number
}

/** One perf request on a new stream to `target`; rejects if fewer bytes than asked for come back. */
export async function perf (node: Libp2p, target: Multiaddr, request: PerfRequest): Promise<PerfResult> {
  const start = performance.now()
  const stream = await node.dialProtocol(target, PERF, { signal: request.signal })
  const header = new Uint8Array(8)
  new DataView(header.buffer).setBigUint64(0, BigInt(request.download))
  const reading = (async () => {
    let received = 0
    for await (const chunk of stream) received += chunk.byteLength
    return received
  })()
  stream.send(header)
  await sendBytes(stream, request.upload, request.signal)
  await stream.close({ signal: request.signal })
  const received = await reading
  if (received !== request.download) throw new Error(`perf: asked for ${request.download} bytes, got ${received}`)
  return { upload: request.upload, download: received, seconds: (performance.now() - start) / 1000 }
}
