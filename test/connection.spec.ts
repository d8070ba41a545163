/**
 * The runtime internal of `src/connection.ts`: plain listeners kept on the
 * native `EventTarget` (past main-event's bookkeeping) where
 * `nativeListenersWork()` says the runtime behaves as that path assumes, and
 * main-event's public path where it does not. Both paths are run here on real
 * sockets, the second forced through `nativeListeners: false`.
 */
import net from 'node:net'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import { afterEach, describe, expect, it } from 'vitest'
import { nativeListenersWork, toMultiaddrConnection } from '../src/connection.ts'
import { waitUntil, within } from './fixtures/wait.ts'
import type { SocketMultiaddrConnection } from '../src/connection.ts'

const cleanup: Array<() => Promise<void> | void> = []

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** a connected socket pair on 127.0.0.1: the accepted end wrapped as a connection, the other raw */
async function wrapped (nativeListeners?: boolean, closeTimeout?: number): Promise<{ conn: SocketMultiaddrConnection, peer: net.Socket, socket: net.Socket }> {
  const server = net.createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  cleanup.push(async () => { await new Promise<void>(resolve => server.close(() => { resolve() })) })
  const accepted = new Promise<net.Socket>(resolve => server.once('connection', resolve))
  const peer = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  peer.on('error', () => {})
  cleanup.push(() => { peer.destroy() })
  const socket = await accepted
  cleanup.push(() => { socket.destroy() })
  const conn = toMultiaddrConnection({
    socket,
    remoteAddr: multiaddr(`/ip4/127.0.0.1/tcp/${peer.localPort ?? 0}`),
    direction: 'inbound',
    unix: false,
    log: defaultLogger().forComponent('test:connection'),
    nativeListeners,
    closeTimeout
  })
  return { conn, peer, socket }
}

/** main-event's own count of the listeners it keeps (what the native path skips) */
function keptByMainEvent (conn: SocketMultiaddrConnection, type: string): number {
  return TypedEventEmitter.prototype.listenerCount.call(conn, type)
}

describe('nativeListenersWork()', () => {
  it('holds on this runtime (Node, Bun and Deno all keep plain listeners natively)', () => {
    expect(nativeListenersWork()).toBe(true)
  })
})

describe("a connection's plain listeners", () => {
  for (const [path, nativeListeners] of [['the native path', true], ['the public fallback', false]] as const) {
    it(`on ${path}, deliver bytes that came first, are counted once, and go when removed`, async () => {
      const { conn, peer } = await wrapped(nativeListeners)
      const base = conn.listenerCount('message')
      const keptBefore = keptByMainEvent(conn, 'message')

      peer.write(Uint8Array.from([1, 2, 3]))
      await waitUntil(() => conn.readBufferLength === 3, 2000, 'three bytes buffered before the first reader')

      const got: number[] = []
      const onMessage = (evt: any): void => { got.push(...evt.data.subarray()) }
      conn.addEventListener('message', onMessage)
      conn.addEventListener('message', onMessage)
      expect(conn.listenerCount('message')).toBe(base + 1)
      // the one difference between the paths: who keeps the listener
      expect(keptByMainEvent(conn, 'message')).toBe(keptBefore + (nativeListeners ? 0 : 1))
      await waitUntil(() => got.length === 3, 2000, 'the buffered bytes delivered to the first reader')

      peer.write(Uint8Array.from([4]))
      await waitUntil(() => got.length === 4, 2000, 'a byte sent after the reader came')
      expect(got).toEqual([1, 2, 3, 4])

      conn.removeEventListener('message', onMessage)
      expect(conn.listenerCount('message')).toBe(base)
      peer.write(Uint8Array.from([5]))
      await waitUntil(() => conn.readBufferLength === 1, 2000, 'a byte buffered once the reader left')
      expect(got).toEqual([1, 2, 3, 4])
    })

    it(`on ${path}, report the peer's close to a plain 'close' listener`, async () => {
      const { conn, peer } = await wrapped(nativeListeners)
      let closes = 0
      conn.addEventListener('close', () => { closes++ })
      peer.destroy()
      await waitUntil(() => closes === 1, 2000, "the connection's close")
      expect(conn.status).toBe('closed')
    })
  }
})

describe("a connection's graceful close", () => {
  for (const [path, shadow] of [["Node's destroySoon()", false], ['the public fallback (destroySoon removed from the socket)', true]] as const) {
    it(`through ${path} sends every queued byte, then FIN, and closes without waiting for the close deadline`, async () => {
      // a deadline that would outlast the test: close() must end on the peer's FIN
      const { conn, peer, socket } = await wrapped(undefined, 600_000)
      if (shadow) {
        // the runtime internal taken away from this real socket only
        Object.defineProperty(socket, 'destroySoon', { value: undefined })
      }
      const chunks: Buffer[] = []
      peer.on('data', (b: Buffer) => chunks.push(b))
      const ended = new Promise<void>(resolve => peer.once('end', resolve))
      const bytes = new Uint8Array(1024 * 1024).map((_, i) => i % 253)
      conn.send(bytes)
      await within(conn.close(), 10_000, 'close() (its deadline is 10 min: it must not wait for it)')
      await ended
      expect(Buffer.compare(Buffer.concat(chunks), bytes)).toBe(0)
      expect(socket.destroyed).toBe(true)
    })
  }
})
