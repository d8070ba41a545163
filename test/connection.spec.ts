/**
 * `src/connection.ts` on real sockets: a socket as a `MultiaddrConnection` on
 * `@libp2p/utils`' `AbstractMultiaddrConnection`, every listener through
 * its public path.
 */
import net from 'node:net'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { SocketConnection } from '../src/connection.ts'
import { waitUntil, within } from './fixtures/wait.ts'

const cleanup: Array<() => Promise<void> | void> = []

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** a connected socket pair on 127.0.0.1: the accepted end wrapped as a connection, the other raw */
async function wrapped (closeTimeout?: number, peerHalfOpen = false): Promise<{ conn: SocketConnection, peer: net.Socket, socket: net.Socket }> {
  const server = net.createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  cleanup.push(async () => { await new Promise<void>(resolve => server.close(() => { resolve() })) })
  const accepted = new Promise<net.Socket>(resolve => server.once('connection', resolve))
  const peer = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: peerHalfOpen })
  peer.on('error', () => {})
  cleanup.push(() => { peer.destroy() })
  const socket = await accepted
  // as the socket's owner does (the listener's registry): the connection reads the error at 'close'
  socket.on('error', () => {})
  cleanup.push(() => { socket.destroy() })
  const conn = new SocketConnection({
    socket,
    remoteAddr: multiaddr(`/ip4/127.0.0.1/tcp/${peer.localPort ?? 0}`),
    direction: 'inbound',
    log: defaultLogger().forComponent('test:connection'),
    closeTimeout
  })
  return { conn, peer, socket }
}

describe("a connection's listeners", () => {
  it('deliver bytes that came first, are counted once, and go when removed', async () => {
    const { conn, peer } = await wrapped()
    const base = conn.listenerCount('message')

    peer.write(Uint8Array.from([1, 2, 3]))
    await waitUntil(() => conn.readBufferLength === 3, 2000, 'three bytes buffered before the first reader')

    const got: number[] = []
    const onMessage = (evt: any): void => { got.push(...evt.data.subarray()) }
    conn.addEventListener('message', onMessage)
    conn.addEventListener('message', onMessage)
    expect(conn.listenerCount('message')).toBe(base + 1)
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

  it("reports the peer's close to a 'close' listener", async () => {
    const { conn, peer } = await wrapped()
    let closes = 0
    conn.addEventListener('close', () => { closes++ })
    peer.destroy()
    await waitUntil(() => closes === 1, 2000, "the connection's close")
    expect(conn.status).toBe('closed')
  })
})

describe("a connection's error", () => {
  it('aborts the connection with the error that closed the socket (a reset from the peer)', async () => {
    const { conn, peer } = await wrapped()
    const closed = new Promise<any>(resolve => { conn.addEventListener('close', resolve) })
    // the peer's RST errors the socket (ECONNRESET), or the next write into it does (EPIPE)
    peer.resetAndDestroy()
    const evt = await within(closed, 5_000, "the connection's close after the peer's reset")
    expect(conn.status).toBe('aborted')
    expect(evt.error?.code).toMatch(/^(ECONNRESET|EPIPE)$/)
  })
})

describe("a connection's graceful close", () => {
  it('sends every queued byte, then FIN, and closes without waiting for the peer or the deadline', async () => {
    // a deadline the test cannot outlive, and a peer that never ends its own
    // side: only the connection's own destroy after its FIN closes the socket
    const { conn, peer, socket } = await wrapped(2 ** 31 - 1, true)
    const chunks: Buffer[] = []
    peer.on('data', (b: Buffer) => chunks.push(b))
    const ended = new Promise<void>(resolve => peer.once('end', resolve))
    const bytes = new Uint8Array(1024 * 1024).map((_, i) => i % 253)
    conn.send(bytes)
    await within(conn.close(), 10_000, 'close() (its deadline is 24 days: it must not wait for it)')
    await ended
    expect(Buffer.compare(Buffer.concat(chunks), bytes)).toBe(0)
    expect(socket.destroyed).toBe(true)
    expect(peer.writableEnded).toBe(false)
  })
})
