import { AbortError, InvalidParametersError, NotStartedError, serviceCapabilities, transportSymbol } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { countingServer as countingServerOn } from './fixtures/servers.ts'
import { createTransport, listening } from './fixtures/transport.ts'
import { passThroughUpgrader, stallingUpgrader } from './fixtures/upgraders.ts'
import { tcpHandles, waitUntil, within } from './fixtures/wait.ts'
import type { Listener } from '@libp2p/interface'

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
  await waitUntil(() => tcpHandles().length === 0, 2000, `no TCP handle left after the test: ${tcpHandles().join()}`)
})

async function countingServer (): Promise<{ port: number, open: () => number }> {
  return countingServerOn(cleanup)
}

describe('the transport presents itself like @libp2p/tcp', () => {
  it('carries the tags and symbols a node looks for', () => {
    const transport: any = createTransport()
    expect(transport[Symbol.toStringTag]).toBe('@libp2p/tcp')
    expect(transport[transportSymbol]).toBe(true)
    expect(transport[serviceCapabilities]).toEqual(['@libp2p/transport'])
  })

  it('filters TCP and unix addresses', () => {
    const transport = createTransport()
    const addrs = [
      '/ip4/127.0.0.1/tcp/4001',
      '/ip6/::1/tcp/4001',
      '/dns4/example.com/tcp/4001',
      '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWGzGqrRo5kC8uQTHXg1Y9Jk9LbPfd5kn5E3uXzXvyG1hP',
      '/unix/%2Ftmp%2Fx.sock',
      '/ip4/127.0.0.1/udp/4001/quic-v1',
      '/ip4/127.0.0.1/tcp/4001/ws',
      '/ip4/127.0.0.1/tcp/4001/p2p-circuit'
    ].map(a => multiaddr(a))
    const kept = transport.dialFilter(addrs).map(a => a.toString())
    expect(kept).toEqual(addrs.slice(0, 5).map(a => a.toString()))
    expect(transport.listenFilter(addrs).map(a => a.toString())).toEqual(kept)
  })
})

describe('dial', () => {
  it('reports the tcp:open-connection progress event', async () => {
    const transport = createTransport()
    const upgrader = passThroughUpgrader()
    const { listener, addr } = await listening(transport, upgrader, multiaddr('/ip4/127.0.0.1/tcp/0'))
    cleanup.push(async () => { await listener.close() })
    const events: string[] = []
    const conn: any = await transport.dial(addr, { upgrader, signal: AbortSignal.timeout(2000), onProgress: (e: any) => events.push(e.type) })
    expect(events).toContain('tcp:open-connection')
    await conn.maConn.close()
  })

  it('is aborted before it starts and opens no socket', async () => {
    const { port, open } = await countingServer()
    const err = await createTransport().dial(multiaddr(`/ip4/127.0.0.1/tcp/${port}`), {
      upgrader: passThroughUpgrader(),
      signal: AbortSignal.abort()
    }).catch(e => e)
    expect(err).toBeInstanceOf(AbortError)
    expect(err.message).toContain(`/ip4/127.0.0.1/tcp/${port}`)
    expect(open()).toBe(0)
    expect(tcpHandles()).toEqual(['TCPServerWrap']) // the counting server only
  })

  it('is aborted while connecting and leaves no socket behind', async () => {
    const { port, open } = await countingServer()
    const controller = new AbortController()
    const dialing = createTransport().dial(multiaddr(`/ip4/127.0.0.1/tcp/${port}`), { upgrader: passThroughUpgrader(), signal: controller.signal })
    controller.abort()
    const err = await dialing.catch(e => e)
    expect(err).toBeInstanceOf(AbortError)
    await waitUntil(() => open() === 0 && tcpHandles().length === 1, 2000, `the aborted socket to be gone on both sides: open ${open()} handles ${tcpHandles()}`)
  })

  it('is aborted during the upgrade and leaves no socket behind', async () => {
    const { port, open } = await countingServer()
    const upgrader = stallingUpgrader({ ignoreSignal: false })
    const controller = new AbortController()
    const dialing = createTransport().dial(multiaddr(`/ip4/127.0.0.1/tcp/${port}`), { upgrader, signal: controller.signal })
    await waitUntil(() => upgrader.started() === 1 && open() === 1, 2000, 'the upgrade to start')
    controller.abort()
    const err = await dialing.catch(e => e)
    expect(err.name).toBe('AbortError')
    await waitUntil(() => open() === 0 && tcpHandles().length === 1, 2000, `the aborted socket to be gone on both sides: open ${open()} handles ${tcpHandles()}`)
  })

  it('names the address when the connection is refused', async () => {
    const { port } = await countingServer()
    // close it again, and wait until it has: nothing listens on the port now
    for (const fn of cleanup.splice(0).reverse()) await fn()
    const err = await createTransport().dial(multiaddr(`/ip4/127.0.0.1/tcp/${port}`), { upgrader: passThroughUpgrader(), signal: AbortSignal.timeout(2000) }).catch(e => e)
    expect(err.name).toBe('ConnectionFailedError')
    expect(err.message).toContain(`/ip4/127.0.0.1/tcp/${port}`)
    expect(err.code).toBe('ECONNREFUSED')
  })

  it.each(['/ip4/127.0.0.1/udp/4001', '/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/4001/ws'])('refuses to dial %s with InvalidParametersError naming it', async (addr) => {
    const err = await createTransport().dial(multiaddr(addr), { upgrader: passThroughUpgrader(), signal: AbortSignal.timeout(1000) }).catch(e => e)
    expect(err).toBeInstanceOf(InvalidParametersError)
    expect(err.message).toContain(addr)
  })
})

describe('the transport in a node lifecycle', () => {
  it('stop() aborts dials in flight, closes its listeners, ends outbound connections and then refuses dials', async () => {
    const transport = createTransport()
    transport.start?.()
    const upgrader = passThroughUpgrader()
    const { listener, addr } = await listening(transport, upgrader, multiaddr('/ip4/127.0.0.1/tcp/0'))
    let closed = 0
    listener.addEventListener('close', () => { closed++ })

    const open: any = await transport.dial(addr, { upgrader, signal: AbortSignal.timeout(2000) })
    const { port: stallPort } = await countingServer()
    const stalling = stallingUpgrader({ ignoreSignal: false })
    const inFlight = transport.dial(multiaddr(`/ip4/127.0.0.1/tcp/${stallPort}`), { upgrader: stalling, signal: AbortSignal.timeout(5000) }).catch(e => e)
    await waitUntil(() => stalling.started() === 1, 2000, 'the stalled dial to start upgrading')

    await within(transport.stop!(), 1000, 'transport stop')
    expect((await inFlight).name).toBe('AbortError')
    expect(open.maConn.status).not.toBe('open')
    expect(closed).toBe(1)

    const refused = await transport.dial(addr, { upgrader, signal: AbortSignal.timeout(1000) }).catch(e => e)
    expect(refused).toBeInstanceOf(NotStartedError)
    expect(refused.message).toContain(addr.toString())
    await waitUntil(() => tcpHandles().length <= 1, 1000, 'only the counting server left')
  })

  it('dials again after a restart', async () => {
    const transport = createTransport()
    const upgrader = passThroughUpgrader()
    transport.start?.()
    await transport.stop!()
    transport.start?.()
    const { listener, addr }: { listener: Listener, addr: any } = await listening(transport, upgrader, multiaddr('/ip4/127.0.0.1/tcp/0'))
    cleanup.push(async () => { await listener.close() })
    const conn: any = await transport.dial(addr, { upgrader, signal: AbortSignal.timeout(2000) })
    await conn.maConn.close()
  })
})

describe('a connection\'s event listeners', () => {
  /** a dialed connection and its inbound end, over real sockets */
  async function pair (): Promise<{ out: any, inb: any }> {
    const transport = createTransport()
    const upgrader = passThroughUpgrader()
    const { listener, addr } = await listening(transport, upgrader, multiaddr('/ip4/127.0.0.1/tcp/0'))
    cleanup.push(async () => { await listener.close() })
    const conn: any = await transport.dial(addr, { upgrader, signal: AbortSignal.timeout(2000) })
    cleanup.push(async () => { await conn.maConn.close() })
    await waitUntil(() => upgrader.inbound.length === 1, 2000, 'the inbound connection')
    return { out: conn.maConn, inb: upgrader.inbound[0] }
  }

  it('kept without main-event\'s bookkeeping are counted once, deliver bytes that came first, and go when removed', async () => {
    const { out, inb } = await pair()
    const base = inb.listenerCount('message')

    // bytes before any reader wait in the read buffer
    out.send(Uint8Array.from([1, 2, 3]))
    await waitUntil(() => inb.readBufferLength === 3, 2000, 'three bytes buffered before the first reader')

    const got: number[] = []
    const onMessage = (evt: any): void => { got.push(...evt.data.subarray()) }
    inb.addEventListener('message', onMessage)
    inb.addEventListener('message', onMessage)
    expect(inb.listenerCount('message')).toBe(base + 1)
    await waitUntil(() => got.length === 3, 2000, 'the buffered bytes delivered to the first reader')

    out.send(Uint8Array.from([4]))
    await waitUntil(() => got.length === 4, 2000, 'a byte sent after the reader came')
    expect(got).toEqual([1, 2, 3, 4])

    inb.removeEventListener('message', onMessage)
    expect(inb.listenerCount('message')).toBe(base)
    out.send(Uint8Array.from([5]))
    await waitUntil(() => inb.readBufferLength === 1, 2000, 'a byte buffered once the reader left')
    expect(got).toEqual([1, 2, 3, 4])
  })

  it('with options (once, signal) keep their meaning', async () => {
    const { out, inb } = await pair()
    const base = inb.listenerCount('message')
    let once = 0
    let until = 0
    const stop = new AbortController()
    inb.addEventListener('message', () => { once++ }, { once: true })
    inb.addEventListener('message', () => { until++ }, { signal: stop.signal })
    expect(inb.listenerCount('message')).toBe(base + 2)

    out.send(Uint8Array.from([1]))
    await waitUntil(() => until === 1, 2000, 'the first byte')
    expect(once).toBe(1)
    expect(inb.listenerCount('message')).toBe(base + 1)

    stop.abort()
    expect(inb.listenerCount('message')).toBe(base)
    out.send(Uint8Array.from([2]))
    await waitUntil(() => inb.readBufferLength === 1, 2000, 'a byte buffered with no reader left')
    expect([once, until]).toEqual([1, 1])
  })
})
