import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import fs from 'node:fs'
import { InvalidParametersError, NotStartedError } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { shareReplay } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import { createTransport, listening } from './fixtures/transport.ts'
import { passThroughUpgrader, stallingUpgrader } from './fixtures/upgraders.ts'
import { netHandles, waitForEvent, waitUntil, within } from './fixtures/wait.ts'
import type { Listener, MultiaddrConnection } from '@libp2p/interface'
import type { TCPListener } from '../src/listener.ts'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rx-tcp-'))
const cleanup: Array<() => Promise<void> | void> = []

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

function track (listener: Listener): Listener {
  cleanup.push(async () => { await listener.close() })
  return listener
}

function rawClient (port: number, host = '127.0.0.1'): net.Socket {
  const socket = net.connect({ port, host })
  socket.on('error', () => {})
  cleanup.push(() => { socket.destroy() })
  return socket
}

async function receive (maConn: MultiaddrConnection, bytes: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let got = 0
  return within(new Promise<Uint8Array>((resolve) => {
    maConn.addEventListener('message', (evt) => {
      const data = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
      chunks.push(data)
      got += data.byteLength
      if (got >= bytes) resolve(Buffer.concat(chunks))
    })
  }), 5000, `${bytes} bytes on ${maConn.remoteAddr.toString()}`)
}

describe('listen and dial on each address family', () => {
  const families = [
    ['IPv4', '/ip4/127.0.0.1/tcp/0'],
    ['IPv6', '/ip6/::1/tcp/0'],
    ['unix', `/unix/${encodeURIComponent(path.join(tmp, 'listen.sock'))}`]
  ]

  for (const [name, addr] of families) {
    it(`carries bytes both ways over ${name}`, async () => {
      const before = netHandles().length
      const transport = createTransport()
      const upgrader = passThroughUpgrader()
      const { listener, addr: bound } = await listening(transport, upgrader, multiaddr(addr))
      track(listener)
      expect(bound.toString()).not.toMatch(/\/tcp\/0$/)

      const conn: any = await transport.dial(bound, { upgrader, signal: AbortSignal.timeout(5000) })
      await waitUntil(() => upgrader.inbound.length === 1, 2000, 'the inbound upgrade')
      const inbound = upgrader.inbound[0]

      const out = new Uint8Array(256 * 1024).map((_, i) => i % 251)
      const arrived = receive(inbound, out.byteLength)
      conn.maConn.send(out)
      expect(Buffer.compare(await arrived, out)).toBe(0)

      const back = receive(conn.maConn, 1000)
      inbound.send(new Uint8Array(1000).fill(7))
      expect((await back).every((b: number) => b === 7)).toBe(true)

      const closeEvents: unknown[] = []
      listener.addEventListener('close', (e) => closeEvents.push(e))
      await within(listener.close(), 2000, 'listener close')
      await within(listener.close(), 100, 'a second close')
      expect(closeEvents).toHaveLength(1)
      await waitUntil(() => netHandles().length <= before, 1000, 'no socket handle left')
    })
  }

  it('expands a wildcard listen address to every interface, with the bound port', async () => {
    const transport = createTransport()
    const { listener, addr } = await listening(transport, passThroughUpgrader(), multiaddr('/ip4/0.0.0.0/tcp/0'))
    track(listener)
    const port = addr.getComponents().find(c => c.name === 'tcp')?.value
    const addrs = listener.getAddrs().map(a => a.toString())
    expect(addrs).toContain(`/ip4/127.0.0.1/tcp/${port}`)
    expect(addrs.every(a => a.startsWith('/ip4/') && a.endsWith(`/tcp/${port}`))).toBe(true)
  })
})

describe('close', () => {
  it('closes while 200 upgrades are in flight and ignore their signal', async () => {
    const before = netHandles().length
    // unguarded: the inbound guard would hold 192 of these silent clients back from the upgrader
    const transport = createTransport({ inboundGuard: false })
    const upgrader = stallingUpgrader({ ignoreSignal: true })
    const { listener, addr } = await listening(transport, upgrader, multiaddr('/ip4/127.0.0.1/tcp/0'))
    const port = Number(addr.getComponents()[1].value)

    const clients = Array.from({ length: 200 }, () => rawClient(port))
    const clientsClosed = Promise.all(clients.map(async c => waitForEvent(c, 'close', 3000, 'a client to see close')))
    await waitUntil(() => upgrader.started() === 200, 5000, '200 upgrades in flight')

    let closeEvents = 0
    listener.addEventListener('close', () => { closeEvents++ })
    // the upgrades never settle: close() gives up on them at its deadline (closeTimeout, 500 ms)
    await within(listener.close(), 5000, 'close() with 200 upgrades in flight')
    await within(clientsClosed, 1000, 'every client socket to see close')
    expect(closeEvents).toBe(1)
    await waitUntil(() => netHandles().length <= before, 1000, 'no socket handle left')
  })

  it('aborts upgrades in flight through their signal and closes as soon as they obey it, not at its deadline', async () => {
    // a deadline that would outlast the wait below: close() must end on the upgrades' settling
    const transport = createTransport({ closeTimeout: 60_000, inboundGuard: false })
    const upgrader = stallingUpgrader({ ignoreSignal: false })
    const { listener, addr } = await listening(transport, upgrader, multiaddr('/ip4/127.0.0.1/tcp/0'))
    const port = Number(addr.getComponents()[1].value)
    const clients = Array.from({ length: 50 }, () => rawClient(port))
    await waitUntil(() => upgrader.started() === 50, 5000, '50 upgrades in flight')
    await within(listener.close(), 5000, 'close() (its deadline is 60 s: it must not wait for it)')
    expect(upgrader.settled(), 'upgrades rejected by their abort signal').toBe(50)
    await within(Promise.all(clients.map(async c => c.closed ? undefined : waitForEvent(c, 'close', 1000, 'client close'))), 1000, 'clients closed')
  })

  it('destroys at the close deadline a connection whose lifetime operator never lets its teardown run (shareReplay)', async () => {
    // shareReplay(1) keeps its source subscribed however its subscribers go: close$ cannot end this lifetime
    const transport = createTransport({ closeTimeout: 200, inboundSocketInactivityTimeout: 0, inboundGuard: false, lifetime: () => (lifetime$) => lifetime$.pipe(shareReplay(1)) })
    const upgrader = passThroughUpgrader()
    const { listener, addr } = await listening(transport, upgrader, multiaddr('/ip4/127.0.0.1/tcp/0'))
    const client = rawClient(Number(addr.getComponents()[1].value)).resume()
    await waitUntil(() => upgrader.inbound.length === 1, 5000, 'the connection upgraded')
    await within(listener.close(), 5000, 'close() (its deadline is 200 ms)')
    if (!client.closed) await waitForEvent(client, 'close', 5000, 'the client to see close')
  })

  for (const [when, abortedBefore] of [['aborts during', false], ['was aborted before', true]] as const) {
    it(`destroys a connection that cannot end gracefully at once when close()'s signal ${when} close(), not at closeTimeout`, async () => {
      const transport = createTransport({ closeTimeout: 60_000, inboundGuard: false })
      const upgrader = passThroughUpgrader()
      const { listener, addr } = await listening(transport, upgrader, multiaddr('/ip4/127.0.0.1/tcp/0'))
      const client = rawClient(Number(addr.getComponents()[1].value))
      // a client that reads nothing: the connection's FIN waits behind what it was sent, for closeTimeout
      client.pause()
      await waitUntil(() => upgrader.inbound.length === 1, 5000, 'the connection upgraded')
      upgrader.inbound[0].send(new Uint8Array(32 * 1024 * 1024))
      const maConn = upgrader.inbound[0]
      const abort = new AbortController()
      if (abortedBefore) abort.abort()
      // the listener's own close(options), which libp2p's Listener does not declare
      const closing = (listener as TCPListener).close({ signal: abort.signal })
      // the connection has begun its graceful end: close() is waiting on it
      await waitUntil(() => maConn.status !== 'open', 5000, 'the connection to begin its end')
      abort.abort()
      await within(closing, 5000, 'close() (its deadline is 60 s: the abort must end it)')
      client.resume()
      await waitForEvent(client, 'close', 5000, 'the client to see close')
    })
  }

  it('resolves close() of a listener that never listened', async () => {
    const listener = createTransport().createListener({ upgrader: passThroughUpgrader() })
    await within(listener.close(), 500, 'close of an idle listener')
    expect(listener.getAddrs()).toEqual([])
  })

  it('gives no address from the moment close() is called, as @libp2p/tcp', async () => {
    const { listener } = await listening(createTransport(), passThroughUpgrader(), multiaddr('/ip4/127.0.0.1/tcp/0'))
    expect(listener.getAddrs()).toHaveLength(1)
    const closing = listener.close()
    expect(listener.getAddrs()).toEqual([])
    await within(closing, 1000, 'close()')
    expect(listener.getAddrs()).toEqual([])
  })

  it('refuses listen() after close() as closed, not as already listening', async () => {
    const { listener } = await listening(createTransport(), passThroughUpgrader(), multiaddr('/ip4/127.0.0.1/tcp/0'))
    await within(listener.close(), 1000, 'close()')
    const err = await listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0')).catch(e => e)
    expect(err).toBeInstanceOf(NotStartedError)
    expect(err.message).toBe('cannot listen on /ip4/127.0.0.1/tcp/0: the listener has been closed')
  })
})

describe('maxConnections', () => {
  it('closes sockets above maxConnections at once and takes new ones when a slot frees', async () => {
    const transport = createTransport({ maxConnections: 2 })
    const upgrader = passThroughUpgrader()
    const { listener, addr } = await listening(transport, upgrader, multiaddr('/ip4/127.0.0.1/tcp/0'))
    track(listener)
    const port = Number(addr.getComponents()[1].value)
    const [first] = [rawClient(port), rawClient(port)]
    await waitUntil(() => upgrader.inbound.length === 2, 2000, '2 inbound connections')
    const third = rawClient(port)
    await waitForEvent(third, 'close', 2000, 'the third socket to be closed by the listener')
    expect(upgrader.inbound).toHaveLength(2)

    first.destroy()
    await waitUntil(() => upgrader.inbound.filter(c => c.status === 'open').length === 1, 2000, 'the first connection to close')
    rawClient(port)
    await waitUntil(() => upgrader.inbound.length === 3, 2000, 'a socket to be taken into the freed slot')
  })
})

describe('closeServerOnMaxConnections', () => {
  it('pauses intake at closeAbove and resumes below listenBelow on the same port, without a close event', async () => {
    const transport = createTransport({ closeServerOnMaxConnections: { closeAbove: 3, listenBelow: 2 } })
    const upgrader = passThroughUpgrader()
    const { listener, addr } = await listening(transport, upgrader, multiaddr('/ip4/127.0.0.1/tcp/0'))
    track(listener)
    const port = Number(addr.getComponents()[1].value)
    let closeEvents = 0
    listener.addEventListener('close', () => { closeEvents++ })

    const clients = [rawClient(port), rawClient(port), rawClient(port)]
    await waitUntil(() => upgrader.inbound.length === 3, 2000, '3 inbound connections')

    // paused: the kernel refuses new connections
    const refused = rawClient(port)
    const err: any = await waitForEvent(refused, 'error', 2000, 'a refused connection')
    expect(err.code).toBe('ECONNREFUSED')
    expect(closeEvents).toBe(0)
    expect(listener.getAddrs()[0].toString()).toBe(addr.toString())

    clients[0].destroy()
    clients[1].destroy()
    // 1 live socket < listenBelow 2: listening again, same port
    await waitUntil(() => upgrader.inbound.length === 3 && upgrader.inbound.filter(c => c.status === 'open').length === 1, 2000, 'two connections to close')
    const again = rawClient(port)
    await waitForEvent(again, 'connect', 2000, 'a connection after resume')
    await waitUntil(() => upgrader.inbound.length === 4, 2000, 'the new inbound connection')
    expect(closeEvents).toBe(0)
  })

  it('pauses and resumes a unix socket listener on the same path', async () => {
    const socketPath = path.join(tmp, 'paused.sock')
    const transport = createTransport({ closeServerOnMaxConnections: { closeAbove: 2, listenBelow: 1 } })
    const upgrader = passThroughUpgrader()
    const { listener } = await listening(transport, upgrader, multiaddr(`/unix/${encodeURIComponent(socketPath)}`))
    track(listener)
    const unixClient = (): net.Socket => {
      const socket = net.connect(socketPath)
      socket.on('error', () => {})
      cleanup.push(() => { socket.destroy() })
      return socket
    }

    const clients = [unixClient(), unixClient()]
    await waitUntil(() => upgrader.inbound.length === 2, 2000, '2 inbound unix connections')
    // paused: the path is gone until intake resumes
    const refused: any = await waitForEvent(unixClient(), 'error', 2000, 'a refused unix connection')
    expect(refused.code).toBe('ENOENT')

    clients.forEach(c => c.destroy())
    await waitUntil(() => fs.existsSync(socketPath), 2000, 'the unix path to be listened on again')
    await waitForEvent(unixClient(), 'connect', 2000, 'a unix connection after resume')
    await waitUntil(() => upgrader.inbound.length === 3, 2000, 'the new inbound unix connection')
  })

  it('rejects closeAbove below listenBelow where it is given, at tcp() (@libp2p/tcp only at createListener)', () => {
    expect(() => createTransport({ closeServerOnMaxConnections: { closeAbove: 1, listenBelow: 5 } })).toThrow(InvalidParametersError)
  })
})

describe('inactivity timeout', () => {
  it('aborts an inbound connection that stays silent', async () => {
    const transport = createTransport({ inboundSocketInactivityTimeout: 200 })
    const upgrader = passThroughUpgrader()
    const { listener, addr } = await listening(transport, upgrader, multiaddr('/ip4/127.0.0.1/tcp/0'))
    track(listener)
    const client = rawClient(Number(addr.getComponents()[1].value))
    await waitUntil(() => upgrader.inbound.length === 1, 2000, 'the inbound connection')
    const closed = waitForEvent<any>(upgrader.inbound[0], 'close', 2000, 'the connection to time out')
    const evt = await closed
    expect(evt.error?.name).toBe('TimeoutError')
    await waitForEvent(client, 'close', 1000, 'the client to see close')
  })
})

describe('bad listen addresses', () => {
  it.each([
    '/ip4/127.0.0.1/udp/4001',
    '/ip4/127.0.0.1/tcp/4001/ws',
    '/dns4/localhost'
  ])('refuses %s with InvalidParametersError naming it', async (addr) => {
    const listener = track(createTransport().createListener({ upgrader: passThroughUpgrader() }))
    const err = await listener.listen(multiaddr(addr)).catch(e => e)
    expect(err).toBeInstanceOf(InvalidParametersError)
    expect(err.message).toContain(addr)
  })

  it('rejects listen() on a port in use, emits error and leaves the first listener working', async () => {
    const transport = createTransport()
    const upgrader = passThroughUpgrader()
    const { listener: first, addr } = await listening(transport, upgrader, multiaddr('/ip4/127.0.0.1/tcp/0'))
    track(first)
    const second = track(transport.createListener({ upgrader }))
    const errors: any[] = []
    second.addEventListener('error', (e: any) => errors.push(e.detail))

    const err = await second.listen(addr).catch(e => e)
    expect(err.name).toBe('ListenError')
    expect(err.message).toBe(`could not listen on ${addr.toString()}: address in use`)
    // Node's errno and error stay on it: a retry on another port checks `code`
    expect(err.code).toBe('EADDRINUSE')
    expect(err.cause?.code).toBe('EADDRINUSE')
    expect(err.cause?.syscall).toBe('listen')
    expect(errors).toHaveLength(1)

    const conn: any = await transport.dial(addr, { upgrader, signal: AbortSignal.timeout(2000) })
    await waitUntil(() => upgrader.inbound.length === 1, 2000, 'the first listener to accept')
    await conn.maConn.close()
  })
})
