/**
 * Port reuse: dials leave from a listen port where the runtime has
 * `net.BoundSocket`, and take an ephemeral port, counted, where it has not.
 * Every test asserts what the runtime it runs on must do, so the same file
 * proves the reuse on Node 24/26 and the fallback on Node 22, Bun and Deno
 * (the runtime matrix's `internals` check runs it there).
 */
import net from 'node:net'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { afterEach, describe, expect, it } from 'vitest'
import { tcp } from '../src/index.ts'
import { canDialFromListenPort, listenPortFor } from '../src/reuse.ts'
import { tcpResources } from './fixtures/handles.ts'
import { createNode, stopNodes } from './fixtures/nodes.ts'
import { runtimeNoise } from './fixtures/noise.ts'
import { recordingMetrics } from './fixtures/metrics.ts'
import { passThroughUpgrader } from './fixtures/upgraders.ts'
import { waitUntil } from './fixtures/wait.ts'
import type { TCPComponents, TCPDialOptions, TCPOptions } from '../src/index.ts'
import type { Connection, Libp2p, Listener, Transport } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

const portOf = (ma: Multiaddr): number => Number(ma.getComponents().find(c => c.name === 'tcp')?.value)
const PEER = peerIdFromString('12D3KooWGzGqrRo5kC8uQTHXg1Y9Jk9LbPfd5kn5E3uXzXvyG1hP')
const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** A plain `net` server that records the remote port of every connection it accepts, and keeps them open */
async function rawServer (host = '127.0.0.1'): Promise<{ addr: Multiaddr, ports: number[], open: () => number }> {
  const ports: number[] = []
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    ports.push(socket.remotePort ?? -1)
    sockets.add(socket)
    socket.on('error', () => {}).once('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen({ host, port: 0 }, resolve))
  cleanup.push(async () => {
    sockets.forEach(s => s.destroy())
    await new Promise(resolve => server.close(resolve))
  })
  const { port } = server.address() as net.AddressInfo
  return { addr: multiaddr(`/ip${net.isIPv6(host) ? 6 : 4}/${host}/tcp/${port}`), ports, open: () => sockets.size }
}

type TestTransport = Transport & { stop(): Promise<void> }

/** A transport, a listener of it on `listen`, and the port it got; stopped after the test */
async function listeningTransport (listen: string, init: TCPOptions = {}, components: Partial<TCPComponents> = {}, onFallback = (): void => {}): Promise<{ transport: TestTransport, listener: Listener, port: number, events: Record<string, number>, upgrader: ReturnType<typeof passThroughUpgrader> }> {
  const metrics = recordingMetrics()
  const register = metrics.registerCounterGroup
  metrics.registerCounterGroup = (name: string, opts: any) => {
    const group = register(name, opts)
    const increment = group.increment.bind(group)
    group.increment = (values: Record<string, number | true>) => {
      increment(values)
      if (values.reuse_fallback != null) onFallback()
    }
    return group
  }
  const transport = tcp(init)({ logger: defaultLogger(), metrics, ...components }) as TestTransport
  const upgrader = passThroughUpgrader()
  const listener = transport.createListener({ upgrader })
  await listener.listen(multiaddr(listen))
  cleanup.push(async () => { await transport.stop() })
  const port = Number(listener.getAddrs()[0].getComponents().find(c => c.name === 'tcp')?.value)
  metrics.values.libp2p_tcp_dialer_events_total ??= {}
  return { transport, listener, port, events: metrics.values.libp2p_tcp_dialer_events_total, upgrader }
}

async function dial (transport: Transport, to: Multiaddr, options: Partial<TCPDialOptions> = {}): Promise<Connection> {
  const conn = await transport.dial(to, { upgrader: passThroughUpgrader(), signal: AbortSignal.timeout(5000), ...options })
  cleanup.push(async () => { await (conn as any).maConn.close() })
  return conn
}

describe(`a dial leaves from the listen port (${canDialFromListenPort ? 'this runtime has net.BoundSocket' : 'this runtime has no net.BoundSocket: ephemeral port, counted'})`, () => {
  it.each([['IPv4', '127.0.0.1'], ['IPv6', '::1']])('over %s, with the default options: a raw server sees it come from the listener\'s port', async (_family, host) => {
    const server = await rawServer(host)
    const { transport, port, events } = await listeningTransport(`/ip${net.isIPv6(host) ? 6 : 4}/${host}/tcp/0`)
    await dial(transport, server.addr)
    await waitUntil(() => server.ports.length === 1, 2000, 'the raw server to accept the dial')
    if (canDialFromListenPort) {
      expect(server.ports[0]).toBe(port)
      expect(events.reuse_fallback).toBeUndefined()
    } else {
      expect(server.ports[0]).not.toBe(port)
      expect(events.reuse_fallback).toBe(1)
    }
    expect(events.connect).toBe(1)
  })

  it('from a libp2p node with the default options, through its dial queue: a raw server sees the node\'s listen port', async () => {
    const server = await rawServer()
    const node = await createNode({ transport: 'rx', listen: ['/ip4/127.0.0.1/tcp/0'] })
    cleanup.push(async () => { await stopNodes([node]) })
    const listenPort = Number(node.getMultiaddrs()[0].getComponents().find(c => c.name === 'tcp')?.value)
    // the raw server speaks no libp2p: the dial fails in its upgrade, after the server saw where it came from
    await node.dial(server.addr, { signal: AbortSignal.timeout(1000) }).catch(() => {})
    await waitUntil(() => server.ports.length === 1, 2000, 'the raw server to accept the node\'s dial')
    expect(server.ports[0] === listenPort).toBe(canDialFromListenPort)
  })

  it('from a wildcard listener, as go-libp2p does', async () => {
    const server = await rawServer()
    const { transport, port } = await listeningTransport('/ip4/0.0.0.0/tcp/0')
    await dial(transport, server.addr)
    await waitUntil(() => server.ports.length === 1, 2000, 'the raw server to accept the dial')
    expect(server.ports[0] === port).toBe(canDialFromListenPort)
  })

  it('while the listener keeps accepting connections, and a dial to its own address does not connect the socket to itself', async () => {
    const server = await rawServer()
    const { transport, listener, port, upgrader } = await listeningTransport('/ip4/127.0.0.1/tcp/0')
    await dial(transport, server.addr)
    await waitUntil(() => server.ports.length === 1, 2000, 'the raw server to accept the dial')
    expect(server.ports[0] === port).toBe(canDialFromListenPort)

    const other = await listeningTransport('/ip4/127.0.0.1/tcp/0')
    await dial(other.transport, listener.getAddrs()[0])
    await waitUntil(() => upgrader.inbound.length === 1, 2000, 'the listener to accept a dial while a dial left from its port')
    // a dial from port P to P on this host would be a TCP self-connect that the listener never sees
    await dial(transport, listener.getAddrs()[0])
    await waitUntil(() => upgrader.inbound.length === 2, 2000, 'the listener to accept its own transport\'s dial')
  })

  it('falls back to an ephemeral port when the 4-tuple is taken (EADDRNOTAVAIL), counted as reuse_fallback', async () => {
    const server = await rawServer()
    const { transport, port, events } = await listeningTransport('/ip4/127.0.0.1/tcp/0')
    await dial(transport, server.addr)
    await dial(transport, server.addr)
    await waitUntil(() => server.ports.length === 2, 2000, 'the raw server to accept both dials')
    if (canDialFromListenPort) {
      expect(server.ports[0]).toBe(port)
      expect(server.ports[1]).not.toBe(port)
    }
    expect(events.reuse_fallback).toBe(canDialFromListenPort ? 1 : 2)
    expect(events.connect).toBe(2)
    expect(events.error).toBeUndefined()
  })

  it('leaves from an ephemeral port with portUse \'new\', or with portReuse \'never\' whatever the dial asks', async () => {
    const server = await rawServer()
    const { transport, port, events } = await listeningTransport('/ip4/127.0.0.1/tcp/0')
    await dial(transport, server.addr, { portUse: 'new' })
    const never = await listeningTransport('/ip4/127.0.0.1/tcp/0', { portReuse: 'never' })
    await dial(never.transport, server.addr, { portUse: 'reuse' })
    await waitUntil(() => server.ports.length === 2, 2000, 'the raw server to accept both dials')
    expect(server.ports).not.toContain(port)
    expect(server.ports).not.toContain(never.port)
    expect(events.reuse_fallback).toBeUndefined()
    expect(never.events.reuse_fallback).toBeUndefined()
  })

  it('with portReuse \'auto\', leaves from an ephemeral port to a peer reached only through a relay, unless it is the hole punch', async () => {
    const server = await rawServer()
    const relayed = { limits: { bytes: 1n }, direct: false } as unknown as Connection
    const { transport, port } = await listeningTransport('/ip4/127.0.0.1/tcp/0', {}, {
      connectionManager: { getConnections: (peer) => peer?.equals(PEER) === true ? [relayed] : [] }
    })
    await dial(transport, server.addr, { peerId: PEER })
    await dial(transport, server.addr, { peerId: PEER, priority: 100 })
    await waitUntil(() => server.ports.length === 2, 2000, 'the raw server to accept both dials')
    expect(server.ports[0]).not.toBe(port)
    expect(server.ports[1] === port).toBe(canDialFromListenPort)
  })
})

describe('portReuse \'auto\' with libp2p nodes and a circuit relay (noise, yamux, identify)', () => {
  it('a direct dial to a peer reached only through the relay leaves from an ephemeral port; the hole punch (priority 100) from the listen port', async () => {
    const nodes: Libp2p[] = []
    cleanup.push(async () => { await stopNodes(nodes) })
    const node = async (listen: string[], services = {}): Promise<Libp2p> => {
      const created = await createLibp2p({
        addresses: { listen },
        transports: [tcp(), circuitRelayTransport()],
        connectionEncrypters: [runtimeNoise()],
        streamMuxers: [yamux()],
        connectionGater: { denyDialMultiaddr: () => false },
        connectionMonitor: { enabled: false },
        services: { identify: identify(), ...services }
      })
      nodes.push(created)
      return created
    }
    const relay = await node(['/ip4/127.0.0.1/tcp/0'], { relay: circuitRelayServer() })
    const listener = await node(['/ip4/127.0.0.1/tcp/0', '/p2p-circuit'])
    const dialer = await node(['/ip4/127.0.0.1/tcp/0'])
    await listener.dial(relay.getMultiaddrs()[0])
    await waitUntil(() => listener.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit')), 5000, 'a reservation on the relay')
    const relayed = await dialer.dial(listener.getMultiaddrs().find(ma => ma.toString().includes('/p2p-circuit')) as Multiaddr)
    expect(relayed.limits).toBeDefined()

    const direct = listener.getMultiaddrs().find(ma => !ma.toString().includes('/p2p-circuit')) as Multiaddr
    const dialerPort = portOf(dialer.getMultiaddrs()[0])
    /** the port the listener sees the dialer's direct connection come from, once it has one */
    const seenFrom = async (): Promise<number> => {
      await waitUntil(() => listener.getConnections(dialer.peerId).some(c => c.limits == null), 5000, 'the direct connection on the listener\'s side')
      return portOf(listener.getConnections(dialer.peerId).find(c => c.limits == null)?.remoteAddr as Multiaddr)
    }
    // as @libp2p/dcutr's unilateral dial: the peer's public address, at the default priority
    const unilateral = await dialer.dial(direct, { force: true })
    expect(await seenFrom()).not.toBe(dialerPort)
    await unilateral.close()
    await waitUntil(() => listener.getConnections(dialer.peerId).every(c => c.limits != null), 5000, 'the direct connection to close')
    // as its hole punch: dcutr's priority (libp2p.dial passes its options on to openConnection, which reads it)
    await dialer.dial(direct, { force: true, priority: 100 } as Parameters<Libp2p['dial']>[1])
    expect((await seenFrom()) === dialerPort).toBe(canDialFromListenPort)
  })
})

describe('the listen port a dial leaves from, as go-libp2p picks it (by scope: Node has no route lookup)', () => {
  const at = (address: string, port: number): net.AddressInfo => ({ address, port, family: net.isIPv6(address) ? 'IPv6' : 'IPv4' })
  const lo = at('127.0.0.1', 3)
  const any4 = at('0.0.0.0', 2)
  const lan = at('10.0.0.5', 1)
  const public4 = at('198.51.200.7', 4)
  it.each([
    ['a loopback address: the loopback listener', '127.0.0.1', [lan, any4, lo], lo],
    ['a private address: the listener of a private address', '10.1.1.1', [any4, lan, public4], lan],
    ['a public address: the listener of a public address', '8.8.8.8', [lan, any4, public4], public4],
    ['a public address, with no public listener: the wildcard one', '8.8.8.8', [lan, any4], any4],
    ['a public address from behind a NAT (a private listener only): the private one', '8.8.8.8', [lo, lan], lan],
    ['a public address with a loopback listener only: none', '8.8.8.8', [lo], undefined],
    ['an IPv6 address: only a listener of its family', '2606:4700::1', [any4, at('::', 5)], at('::', 5)],
    ['its own listen port on loopback: none (it would connect to itself)', '127.0.0.1', [at('127.0.0.1', 9)], undefined]
  ] as Array<[string, string, net.AddressInfo[], net.AddressInfo | undefined]>)('to %s', (_what, host, listening, expected) => {
    expect(listenPortFor(host, 9, net.isIPv6(host) ? 6 : 4, listening)).toEqual(expected)
  })
})

describe('the close contract with a bound socket', () => {
  it.each([
    ['while it connects from the listen port', false],
    ['when it falls back from a taken 4-tuple to an ephemeral port', true]
  ])('a dial aborted %s leaves no socket and no handle behind', async (_when, taken) => {
    const server = await rawServer()
    const controller = new AbortController()
    // the second case aborts at the fallback, the moment the dial turns to an ephemeral port
    const { transport } = await listeningTransport('/ip4/127.0.0.1/tcp/0', {}, {}, () => { if (taken) controller.abort() })
    if (taken && canDialFromListenPort) await dial(transport, server.addr)
    const held = server.ports.length
    await waitUntil(() => server.open() === held, 2000, 'the raw server to hold the first connection')
    const before = tcpResources().length

    const dialing = transport.dial(server.addr, { upgrader: passThroughUpgrader(), signal: controller.signal })
    if (!taken) controller.abort()
    const err = await dialing.catch(e => e)
    expect(err.name).toBe('AbortError')
    expect(controller.signal.aborted).toBe(true)
    await waitUntil(() => server.open() === held && tcpResources().length <= before, 2000,
      `the aborted dial's socket to be gone: the raw server holds ${server.open()}, handles ${tcpResources().join()} (before: ${before})`)
  })
})
