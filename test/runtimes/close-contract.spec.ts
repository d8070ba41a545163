/**
 * The close contract, written to hold on every runtime of the matrix (Node 22,
 * 24 and 26, Bun, Deno): `close()` and `node.stop()` with upgrades in flight
 * resolve in bounded time, and nothing of the listener is left.
 *
 * "Nothing left" is checked from the outside on every runtime: the listener's
 * `'close'` fired once, every socket it accepted is closed on its side (the
 * upgrader saw each one close) and on the peer's side (each client saw
 * `'close'`), and its address refuses a new connection. Where the runtime lists
 * its handles (`handleListing()`: Node and Deno), the TCP handles are also back
 * to the count before the listener existed; Bun's list is always empty, so
 * there the outside checks are the whole check.
 */
import net from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { handleListing, tcpResources } from '../fixtures/handles.ts'
import { createNode, socketDir, stopNodes } from '../fixtures/nodes.ts'
import { createTransport, listening } from '../fixtures/transport.ts'
import { waitForEvent, waitUntil, within } from '../fixtures/wait.ts'
import type { HandleListing } from '../fixtures/handles.ts'
import type { Libp2p, MultiaddrConnection, Upgrader } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** close() must resolve within this, with a margin for a loaded CI machine */
const CLOSE_BOUND_MS = 2_000
/** node.stop() aborts dials too and ends open connections: a little more */
const STOP_BOUND_MS = 3_000

/**
 * What a dialer sends first: multistream-select's header and a proposal of noise.
 * The node answers both and then waits for the noise handshake's first message:
 * an upgrade halfway.
 */
const MSS_PROPOSAL = Buffer.concat([Buffer.from([19]), Buffer.from('/multistream/1.0.0\n'), Buffer.from([7]), Buffer.from('/noise\n')])

const cleanup: Array<() => Promise<void> | void> = []
let listing: HandleListing

beforeAll(async () => {
  listing = await handleListing()
})

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** An upgrader whose upgrades never settle and ignore their signal; it keeps each connection it was handed */
function stallingRecorder (): Upgrader & { held: MultiaddrConnection[] } {
  const held: MultiaddrConnection[] = []
  const stall = async (maConn: MultiaddrConnection): Promise<never> => {
    held.push(maConn)
    return new Promise<never>(() => {})
  }
  const unused = (): never => { throw new Error('not used by this test') }
  return {
    upgradeInbound: stall,
    upgradeOutbound: stall,
    createInboundAbortSignal: unused,
    getStreamMuxers: unused,
    getConnectionEncrypters: unused,
    held
  } as unknown as Upgrader & { held: MultiaddrConnection[] }
}

interface NetAddress { port?: number, host?: string, path?: string }

function netAddress (ma: Multiaddr): NetAddress {
  const parts = ma.getComponents()
  const unix = parts.find(c => c.name === 'unix')
  if (unix?.value != null) return { path: decodeURIComponent(unix.value) }
  return { host: parts.find(c => c.name === 'ip4' || c.name === 'ip6')?.value, port: Number(parts.find(c => c.name === 'tcp')?.value) }
}

function client (to: NetAddress, localAddress?: string): net.Socket {
  const socket = to.path != null ? net.connect(to.path) : net.connect({ port: to.port ?? 0, host: to.host, localAddress })
  socket.on('error', () => {})
  cleanup.push(() => { socket.destroy() })
  return socket
}

/** Resolves with the error code a new connection to `to` gets; fails the test if it connects */
async function refused (to: NetAddress): Promise<string> {
  const socket = client(to)
  return within(new Promise<string>((resolve, reject) => {
    socket.once('connect', () => { reject(new Error(`${JSON.stringify(to)} still accepts connections`)) })
    socket.once('error', (err: NodeJS.ErrnoException) => { resolve(err.code ?? err.message) })
  }), 2_000, `a connection to ${JSON.stringify(to)} to be refused`)
}

/** Where the runtime lists its handles, waits until the TCP ones are back to `baseline` */
async function handlesBackTo (baseline: number): Promise<void> {
  if (listing === 'none') return
  await waitUntil(() => tcpResources().length <= baseline, 2_000, `TCP handles back to ${baseline} (now ${tcpResources().join(', ')})`)
}

describe('the close contract on this runtime', () => {
  const families = [
    ['127.0.0.1', () => '/ip4/127.0.0.1/tcp/0', 100],
    ['::1', () => '/ip6/::1/tcp/0', 50],
    ['a unix socket', (dir: Awaited<ReturnType<typeof socketDir>>) => dir.path('close.sock'), 50]
  ] as const

  for (const [name, listen, count] of families) {
    it(`close() on ${name} with ${count} upgrades in flight that ignore their signal resolves in bounded time and leaves nothing of the listener`, async () => {
      const dir = await socketDir()
      cleanup.push(async () => { await dir.remove() })
      const baseline = tcpResources().length
      const upgrader = stallingRecorder()
      // the inbound guard would hold all but a few silent sockets before their upgrade: this test holds them in it on purpose
      const { listener, addr } = await listening(createTransport({ inboundGuard: false }), upgrader, multiaddr(listen(dir)))
      cleanup.push(async () => { await listener.close() })
      const to = netAddress(addr)

      const clients = Array.from({ length: count }, () => client(to))
      const clientsClosed = Promise.all(clients.map(async c => waitForEvent(c, 'close', CLOSE_BOUND_MS + 2_000, 'a client to see its connection end')))
      await waitUntil(() => upgrader.held.length === count, 10_000, `${count} upgrades in flight (${upgrader.held.length} so far)`)

      let closeEvents = 0
      listener.addEventListener('close', () => { closeEvents++ })
      const started = performance.now()
      await within(listener.close(), CLOSE_BOUND_MS, `close() with ${count} upgrades in flight`)
      const took = performance.now() - started

      expect(took).toBeLessThan(CLOSE_BOUND_MS)
      expect(closeEvents, "the listener's 'close' events").toBe(1)
      // each socket is destroyed by then; a connection whose upgrade hangs reports
      // its close once the upgrade's hold expires (the close timeout, 500 ms)
      await clientsClosed
      await waitUntil(() => upgrader.held.every(c => c.status === 'closed'), 2_000, `every connection of the listener to report closed (${upgrader.held.filter(c => c.status !== 'closed').length} not yet)`)
      expect(await refused(to)).toMatch(/ECONNREFUSED|ENOENT/)
      await handlesBackTo(baseline)
    })
  }

  it('node.stop() with upgrades halfway, a dial in flight and a connection open resolves in bounded time and leaves nothing of the listener', async () => {
    const nodes: Libp2p[] = []
    cleanup.push(async () => { await stopNodes(nodes) })

    // a peer that accepts a dial and never answers: the node's own dial stays in flight
    const silentSockets: net.Socket[] = []
    let dialSocketClosed = false
    const silent = net.createServer(socket => {
      socket.on('error', () => {})
      socket.on('close', () => { dialSocketClosed = true })
      silentSockets.push(socket)
    })
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
    cleanup.push(async () => {
      for (const s of silentSockets) s.destroy()
      await new Promise<void>(resolve => silent.close(() => { resolve() }))
    })
    const peer = await createNode({ transport: 'ref' })
    nodes.push(peer)
    const baseline = tcpResources().length

    const node = await createNode({ transport: 'rx', listen: ['/ip4/127.0.0.1/tcp/0', '/ip6/::1/tcp/0'] })
    nodes.push(node)
    const addrs = node.getMultiaddrs().map(ma => netAddress(ma))
    expect(addrs.map(a => a.host).sort()).toEqual(['127.0.0.1', '::1'])

    // an open, upgraded connection from a @libp2p/tcp node
    await within(peer.dial(node.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) }), 10_000, 'a dial to the node')
    // libp2p takes at most 5 connections a second from one host and 10 upgrades
    // at once: the IPv4 clients each come from an address of their own, and 8 in all
    const source = (to: NetAddress, i: number): string | undefined => to.host === '127.0.0.1' ? `127.0.0.${10 + i}` : undefined
    const [v4, v6] = addrs
    // upgrades halfway: the node accepted the noise proposal and waits for the handshake
    const halfway = [...[0, 1, 2].map(i => client(v4, source(v4, i))), ...[0, 1].map(() => client(v6))]
    const answered = halfway.map(async c => {
      c.write(MSS_PROPOSAL)
      await waitForEvent(c, 'data', 10_000, 'the node to accept the noise proposal')
    })
    // upgrades that never got a byte
    const quiet = [...[3, 4].map(i => client(v4, source(v4, i))), client(v6)]
    await within(Promise.all([...answered, ...quiet.map(async c => waitForEvent(c, 'connect', 10_000, 'a quiet client to connect'))]), 15_000, 'the upgrades to be in flight')
    const clientsClosed = Promise.all([...halfway, ...quiet].map(async c => c.closed ? undefined : waitForEvent(c, 'close', STOP_BOUND_MS + 2_000, 'a client to see its connection end')))

    // the node's own dial, waiting for the silent peer's first byte
    const dialing = node.dial(multiaddr(`/ip4/127.0.0.1/tcp/${(silent.address() as net.AddressInfo).port}`), { signal: AbortSignal.timeout(30_000) })
    const dialSettled = dialing.then(() => 'connected', (err: Error) => err.name)
    await waitUntil(() => silentSockets.length === 1, 5_000, "the node's dial to reach the silent peer")

    const started = performance.now()
    await within(Promise.resolve(node.stop()), STOP_BOUND_MS, 'node.stop() with upgrades in flight')
    const took = performance.now() - started

    expect(took).toBeLessThan(STOP_BOUND_MS)
    expect(node.status).toBe('stopped')
    expect(await within(dialSettled, 1_000, 'the dial in flight to settle')).not.toBe('connected')
    await clientsClosed
    await waitUntil(() => dialSocketClosed, 2_000, "the node's dial socket to close")
    await waitUntil(() => peer.getConnections(node.peerId).length === 0, 2_000, "the peer's connection to the node to end")
    for (const to of addrs) expect(await refused(to)).toBe('ECONNREFUSED')
    for (const c of [...halfway, ...quiet]) c.destroy()
    await handlesBackTo(baseline)
  })
})

describe('handleListing()', () => {
  it('answers resources where the runtime lists a listening server, and none where the list is empty', async () => {
    expect(await handleListing(() => [])).toBe('none')
    const expected = typeof (process as { getActiveResourcesInfo?: unknown }).getActiveResourcesInfo === 'function' &&
      (process.versions as { bun?: string }).bun == null
      ? 'resources'
      : 'none'
    // the runtime's name only cross-checks the probe here; nothing else decides by it
    expect(listing).toBe(expected)
  })
})
