/**
 * The differential suite: every scenario runs against rx-tcp and against
 * `@libp2p/tcp` 11.0.28, the transport it replaces, and compares what a
 * user's code can observe: the class, `name` and `code` of each failure of
 * `listen`, `dial` and `close`; the listener's events in order; `getAddrs()`;
 * the metric keys a scenario leaves behind; a dial's progress events; the
 * address filters.
 *
 * Where the two agree, `same()` asserts one expected value for both. Where
 * rx-tcp differs on purpose, `intended()` asserts both values side by side;
 * each of those is listed, with its reason, in the README under
 * "Differences from `@libp2p/tcp`". Any other difference fails here.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { defaultLogger } from '@libp2p/logger'
import { tcp as refTcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { tcp as rxTcp } from '../src/index.ts'
import { recordingMetrics } from './fixtures/metrics.ts'
import { countingServer } from './fixtures/servers.ts'
import { passThroughUpgrader, stallingUpgrader } from './fixtures/upgraders.ts'
import { tcpHandles, waitForEvent, waitUntil, within } from './fixtures/wait.ts'
import type { Listener, Transport, Upgrader } from '@libp2p/interface'
import type { ChildProcess } from 'node:child_process'

type Kind = 'rx' | 'ref'
const factories = { rx: rxTcp, ref: refTcp }

/** What a user's code can tell about a failure */
interface Failure { class: string, name: string, code?: string | number }

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
  await waitUntil(() => tcpHandles().length === 0, 2000, `no TCP handle left after the scenario: ${tcpHandles().join()}`)
})

let tmp: string
beforeAll(async () => { tmp = await mkdtemp(join(tmpdir(), 'rx-tcp-differential-')) })
afterAll(async () => { await rm(tmp, { recursive: true, force: true }) })

/** Runs a scenario once per transport, rx-tcp first */
async function both<T> (scenario: (kind: Kind) => Promise<T>): Promise<Record<Kind, T>> {
  return { rx: await scenario('rx'), ref: await scenario('ref') }
}

/** Both transports gave `expected` */
function same<T> (observed: Record<Kind, T>, expected: T): void {
  expect(observed).toEqual({ rx: expected, ref: expected })
}

/** The transports differ on purpose (README, "Differences from `@libp2p/tcp`") */
function intended<T> (observed: Record<Kind, T>, expected: Record<Kind, T>): void {
  expect(observed).toEqual(expected)
}

/** A transport outside any node, with its metrics recorded */
function setup (kind: Kind, init: Record<string, unknown> = {}): { transport: Transport & { stop?: () => Promise<void> }, metrics: ReturnType<typeof recordingMetrics> } {
  const metrics = recordingMetrics()
  const transport = factories[kind](init)({ logger: defaultLogger(), metrics }) as any
  cleanup.push(async () => { await transport.stop?.() })
  return { transport, metrics }
}

function failure (err: any): Failure {
  expect(err, 'a failure').toBeInstanceOf(Error)
  return { class: err.constructor.name, name: err.name, code: err.code }
}

async function failureOf (promise: Promise<unknown>): Promise<Failure | 'resolved'> {
  return promise.then(() => 'resolved', failure)
}

/** The keys of every metric group that holds any, as `group{key}`, listening addresses written `<addr>` */
function metricKeys (metrics: ReturnType<typeof recordingMetrics>): string[] {
  return Object.entries(metrics.values).flatMap(([group, values]) =>
    Object.keys(values).map(key => `${group}{${key.replace(/^(\[?[\d.:a-f]+\]?:\d+|\/\S+)(?= |$)/, '<addr>')}}`)
  ).sort()
}

/** The listener's events in order: `listening`, `close`, `error:<code>` */
function recordEvents (listener: Listener): string[] {
  const events: string[] = []
  listener.addEventListener('listening', () => events.push('listening'))
  listener.addEventListener('close', () => events.push('close'))
  listener.addEventListener('error', (evt: any) => events.push(`error:${evt.detail?.code}`))
  return events
}

function createListener (transport: Transport, upgrader: Upgrader = passThroughUpgrader()): Listener {
  const listener = transport.createListener({ upgrader })
  cleanup.push(async () => { await within(listener.close(), 5000, 'the listener to close') })
  return listener
}

/** A transport of `kind` and one listener of it with the pass-through upgrader, its events recorded */
function listenerOf (kind: Kind, init: Record<string, unknown> = {}): ReturnType<typeof setup> & { upgrader: ReturnType<typeof passThroughUpgrader>, listener: Listener, events: string[] } {
  const made = setup(kind, init)
  const upgrader = passThroughUpgrader()
  const listener = createListener(made.transport, upgrader)
  return { ...made, upgrader, listener, events: recordEvents(listener) }
}

/** As `listenerOf`, listening on 127.0.0.1 on the port the kernel gives */
async function listeningOn (kind: Kind, init: Record<string, unknown> = {}): Promise<ReturnType<typeof listenerOf> & { port: number }> {
  const made = listenerOf(kind, init)
  await made.listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))
  return { ...made, port: portOf(made.listener) }
}

function portOf (listener: Listener): number {
  return Number(listener.getAddrs()[0].getComponents()[1].value)
}

/** A plain server holding a port, for the transports to collide with or dial */
async function plainServer (): Promise<{ port: number, open: () => number }> {
  return countingServer(cleanup)
}

/** A socket to 127.0.0.1:`port`, destroyed after the scenario */
function rawClient (port: number): net.Socket {
  const socket = net.connect(port, '127.0.0.1')
  socket.on('error', () => {})
  cleanup.push(() => { socket.destroy() })
  return socket
}

/** A port on 127.0.0.1 nobody listens on (the kernel gave it, then it was closed) */
async function closedPort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise(resolve => server.close(resolve))
  return port
}

/**
 * A server in a child process whose backlog (1) is full and whose event loop
 * is blocked, so it never accepts: a further connect to it stays in SYN-SENT.
 */
async function fullBacklog (): Promise<number> {
  const code = [
    "const server = require('node:net').createServer()",
    "server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {",
    "  process.stdout.write(server.address().port + '\\n')",
    '  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)',
    '})'
  ].join('\n')
  const child: ChildProcess = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise(resolve => child.once('exit', resolve))
  cleanup.push(async () => {
    child.kill('SIGKILL')
    await exited
  })
  const port = Number(String(await waitForEvent(child.stdout!, 'data', 10_000, 'the unaccepting server to listen')).trim())
  // the kernel completes backlog + 1 handshakes without the server; the next SYN is dropped
  const fillers = [rawClient(port), rawClient(port)]
  await Promise.all(fillers.map(async s => waitForEvent(s, 'connect', 2000, 'a connection into the backlog')))
  return port
}

/** A documentation address (RFC 5737, RFC 3849) that no interface of this host has: binding to it fails locally */
function foreign (candidates: string[]): string {
  const local = new Set(Object.values(networkInterfaces()).flat().map(i => i?.address))
  const ip = candidates.find(a => !local.has(a))
  if (ip == null) throw new Error(`every candidate address is on this host: ${candidates.join()}`)
  return ip
}

describe('listen failures', () => {
  const cases: Array<{ title: string, addr: () => Promise<string> | string, code: string }> = [
    { title: 'a port in use', addr: async () => `/ip4/127.0.0.1/tcp/${(await plainServer()).port}`, code: 'EADDRINUSE' },
    { title: 'an IPv4 address not on this host', addr: () => `/ip4/${foreign(['203.0.113.1', '198.51.100.1'])}/tcp/0`, code: 'EADDRNOTAVAIL' },
    { title: 'an IPv6 address not on this host', addr: () => `/ip6/${foreign(['2001:db8::1', '2001:db8::77'])}/tcp/0`, code: 'EADDRNOTAVAIL' },
    { title: 'a unix path in a missing directory', addr: () => `/unix/${encodeURIComponent(join(tmp, 'missing', 'a.sock'))}`, code: 'EACCES' }
  ]

  it.each(cases)('$title: the errno in code, one error event; rx-tcp throws ListenError naming the address and dispatches close on close', async ({ addr, code }) => {
    const observed = await both(async (kind) => {
      const { metrics, listener, events } = listenerOf(kind)
      const ma = multiaddr(await addr())
      const err: any = await listener.listen(ma).catch(e => e)
      if (kind === 'rx') {
        // the address and the cause a user logs
        expect(err.message).toContain(ma.toString())
        expect(err.cause?.code).toBe(code)
      }
      const afterListen = [...events]
      const addrs = listener.getAddrs()
      await within(listener.close(), 2000, 'close after a failed listen')
      return { error: failure(err), afterListen, afterClose: events.slice(afterListen.length), addrs, metrics: metricKeys(metrics) }
    })

    const common = { afterListen: [`error:${code}`], addrs: [], metrics: ['libp2p_tcp_listener_errors_total{unknown listen_error}'] }
    intended(observed, {
      rx: { ...common, error: { class: 'ListenError', name: 'ListenError', code }, afterClose: ['close'] },
      ref: { ...common, error: { class: 'Error', name: 'Error', code }, afterClose: [] }
    })
  })

  it.each([
    ['unsupported: UDP', '/ip4/127.0.0.1/udp/0'],
    ['unsupported: websockets', '/ip4/127.0.0.1/tcp/0/ws'],
    ['unsupported: a circuit relay address', '/ip4/127.0.0.1/tcp/0/p2p-circuit'],
    ['malformed: no port', '/ip4/127.0.0.1'],
    ['malformed: two ports', '/ip4/127.0.0.1/tcp/0/tcp/0']
  ])('%s (%s): rx-tcp refuses it with InvalidParametersError, @libp2p/tcp listens on a TCP port', async (_title, addr) => {
    const observed = await both(async (kind) => {
      const { metrics, listener, events } = listenerOf(kind)
      const result = await failureOf(listener.listen(multiaddr(addr)))
      return { result, events: [...events], listening: listener.getAddrs().length > 0, metrics: metricKeys(metrics) }
    })

    intended(observed, {
      rx: { result: { class: 'InvalidParametersError', name: 'InvalidParametersError', code: undefined }, events: [], listening: false, metrics: [] },
      ref: { result: 'resolved', events: ['listening'], listening: true, metrics: ['libp2p_tcp_listener_status_info{<addr>}'] }
    })
  })

  it('a second listen() on a listening listener: AlreadyStartedError from both', async () => {
    const observed = await both(async (kind) => {
      const { listener } = await listeningOn(kind)
      return failureOf(listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0')))
    })
    same(observed, { class: 'AlreadyStartedError', name: 'AlreadyStartedError', code: undefined })
  })

  it('listen() after close(): rx-tcp refuses with NotStartedError, @libp2p/tcp listens again', async () => {
    const observed = await both(async (kind) => {
      const { listener, events } = await listeningOn(kind)
      await listener.close()
      const again = await failureOf(listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0')))
      return { again, events: [...events] }
    })
    intended(observed, {
      rx: { again: { class: 'NotStartedError', name: 'NotStartedError', code: undefined }, events: ['listening', 'close'] },
      ref: { again: 'resolved', events: ['listening', 'close', 'listening'] }
    })
  })
})

describe('close', () => {
  it('close() twice, with an upgraded connection open: both resolve, one close event after the listening one', async () => {
    const observed = await both(async (kind) => {
      const { metrics, upgrader, listener, events, port } = await listeningOn(kind)
      const client = rawClient(port)
      await waitUntil(() => upgrader.inbound.length === 1, 2000, 'the inbound connection')
      const closed = waitForEvent(client, 'close', 2000, 'the client to see the close')
      const results = await within(Promise.all([failureOf(listener.close()), failureOf(listener.close())]), 2000, 'both closes')
      await closed
      return { results, events: [...events], addrs: listener.getAddrs(), metrics: metricKeys(metrics) }
    })
    same(observed, {
      results: ['resolved', 'resolved'],
      events: ['listening', 'close'],
      addrs: [],
      metrics: [
        'libp2p_tcp_listener_events_total{<addr> _remote_close}',
        'libp2p_tcp_listener_events_total{<addr> connection}',
        'libp2p_tcp_listener_events_total{<addr> end}',
        'libp2p_tcp_listener_status_info{<addr>}'
      ]
    })
  })

  it('close() before listen(): both resolve; rx-tcp dispatches close (once per listener), @libp2p/tcp nothing', async () => {
    const observed = await both(async (kind) => {
      const { metrics, listener, events } = listenerOf(kind)
      const result = await failureOf(within(listener.close(), 2000, 'close'))
      return { result, events: [...events], metrics: metricKeys(metrics) }
    })
    intended(observed, {
      rx: { result: 'resolved', events: ['close'], metrics: [] },
      ref: { result: 'resolved', events: [], metrics: [] }
    })
  })

  it('close() with an aborted signal and a connection open: rx-tcp resolves and destroys at once, @libp2p/tcp rejects', async () => {
    const observed = await both(async (kind) => {
      const { upgrader, listener, port } = await listeningOn(kind)
      const client = rawClient(port)
      await waitUntil(() => upgrader.inbound.length === 1, 2000, 'the inbound connection')
      const closed = waitForEvent(client, 'close', 2000, 'the client to see its socket destroyed')
      const result = await failureOf(within((listener as any).close({ signal: AbortSignal.abort() }), 2000, 'close with an aborted signal'))
      await closed
      return result
    })
    intended(observed, {
      rx: 'resolved',
      ref: { class: 'DOMException', name: 'AbortError', code: 20 }
    })
  })
})

describe('dial failures', () => {
  /** dials `addr` and reports the failure, the progress events and the metric keys */
  async function dialOnce (kind: Kind, addr: string, options: { signal?: AbortSignal, upgrader?: Upgrader, abort?: (dial: AbortController) => void } = {}): Promise<{ result: Failure | 'resolved', progress: string[], metrics: string[] }> {
    const { transport, metrics } = setup(kind)
    const progress: string[] = []
    const controller = new AbortController()
    const signal = options.signal ?? AbortSignal.any([controller.signal, AbortSignal.timeout(5000)])
    const dialing = transport.dial(multiaddr(addr), { upgrader: options.upgrader ?? passThroughUpgrader(), signal, onProgress: (evt: any) => progress.push(evt.type) } as any)
    options.abort?.(controller)
    const result = await failureOf(within(dialing, 6000, `the dial to ${addr}`))
    return { result, progress, metrics: metricKeys(metrics) }
  }

  it('connection refused (127.0.0.1): the errno in code from both; rx-tcp throws ConnectionFailedError', async () => {
    const port = await closedPort()
    const observed = await both(async (kind) => dialOnce(kind, `/ip4/127.0.0.1/tcp/${port}`))
    const common = { progress: ['tcp:open-connection'], metrics: ['libp2p_tcp_dialer_events_total{error}'] }
    intended(observed, {
      rx: { ...common, result: { class: 'ConnectionFailedError', name: 'ConnectionFailedError', code: 'ECONNREFUSED' } },
      ref: { ...common, result: { class: 'Error', name: 'Error', code: 'ECONNREFUSED' } }
    })
  })

  it('a unix path nobody listens on: ENOENT in code from both; rx-tcp throws ConnectionFailedError', async () => {
    const addr = `/unix/${encodeURIComponent(join(tmp, 'nobody.sock'))}`
    const observed = await both(async (kind) => dialOnce(kind, addr))
    const common = { progress: ['tcp:open-connection'], metrics: ['libp2p_tcp_dialer_events_total{error}'] }
    intended(observed, {
      rx: { ...common, result: { class: 'ConnectionFailedError', name: 'ConnectionFailedError', code: 'ENOENT' } },
      ref: { ...common, result: { class: 'Error', name: 'Error', code: 'ENOENT' } }
    })
  })

  it.each([
    ['unsupported: UDP', (port: number) => `/ip4/127.0.0.1/udp/${port}`],
    ['unsupported: websockets', (port: number) => `/ip4/127.0.0.1/tcp/${port}/ws`],
    ['malformed: port 0', () => '/ip4/127.0.0.1/tcp/0']
  ])('%s: rx-tcp refuses it with InvalidParametersError before opening a socket, @libp2p/tcp dials the TCP port', async (_title, addr) => {
    const port = await closedPort()
    const observed = await both(async (kind) => dialOnce(kind, addr(port)))
    intended(observed, {
      rx: { result: { class: 'InvalidParametersError', name: 'InvalidParametersError', code: undefined }, progress: [], metrics: [] },
      ref: { result: { class: 'Error', name: 'Error', code: 'ECONNREFUSED' }, progress: ['tcp:open-connection'], metrics: ['libp2p_tcp_dialer_events_total{error}'] }
    })
  })

  it('aborted before it starts: no progress, no metric from both; rx-tcp throws AbortError, @libp2p/tcp the signal\'s reason', async () => {
    const { port } = await plainServer()
    const observed = await both(async (kind) => dialOnce(kind, `/ip4/127.0.0.1/tcp/${port}`, { signal: AbortSignal.abort() }))
    intended(observed, {
      rx: { result: { class: 'AbortError', name: 'AbortError', code: undefined }, progress: [], metrics: [] },
      ref: { result: { class: 'DOMException', name: 'AbortError', code: 20 }, progress: [], metrics: [] }
    })
  })

  const duringConnect = { result: { class: 'AbortError', name: 'AbortError', code: undefined }, progress: ['tcp:open-connection'], metrics: ['libp2p_tcp_dialer_events_total{abort}'] }

  it('aborted during connect, in the tick the dial started: AbortError from both', async () => {
    const { port, open } = await plainServer()
    const observed = await both(async (kind) => dialOnce(kind, `/ip4/127.0.0.1/tcp/${port}`, { abort: (dial) => { dial.abort() } }))
    same(observed, duringConnect)
    await waitUntil(() => open() === 0, 2000, 'no socket left on the server')
  })

  it('aborted during connect to a server whose backlog is full: AbortError from both', async () => {
    const port = await fullBacklog()
    const observed = await both(async (kind) => dialOnce(kind, `/ip4/127.0.0.1/tcp/${port}`, {
      // the SYN is unanswered: abort while the socket is still connecting
      abort: (dial) => { setTimeout(() => { dial.abort() }, 100) }
    }))
    same(observed, duringConnect)
  })

  it('aborted during the upgrade: the upgrader\'s error from both, counted as an outbound upgrade error', async () => {
    const { port, open } = await plainServer()
    const observed = await both(async (kind) => {
      const upgrader = stallingUpgrader({ ignoreSignal: false })
      return dialOnce(kind, `/ip4/127.0.0.1/tcp/${port}`, {
        upgrader,
        abort: (dial) => {
          void waitUntil(() => upgrader.started() === 1, 2000, 'the upgrade to start')
            .then(() => { dial.abort() }, (err) => { dial.abort(err) })
        }
      })
    })
    same(observed, {
      result: { class: 'DOMException', name: 'AbortError', code: 20 },
      progress: ['tcp:open-connection'],
      metrics: ['libp2p_tcp_dialer_errors_total{outbound_upgrade}', 'libp2p_tcp_dialer_events_total{abort}', 'libp2p_tcp_dialer_events_total{connect}', 'libp2p_tcp_dialer_events_total{end}']
    })
    await waitUntil(() => open() === 0, 2000, 'no socket left on the server')
  })
})

describe('a dial that succeeds', () => {
  it('reports tcp:open-connection once and counts connect', async () => {
    const observed = await both(async (kind) => {
      const { transport, metrics, upgrader, listener } = await listeningOn(kind)
      const progress: string[] = []
      const conn: any = await transport.dial(listener.getAddrs()[0], { upgrader, signal: AbortSignal.timeout(2000), onProgress: (evt: any) => progress.push(evt.type) } as any)
      await waitUntil(() => upgrader.inbound.length === 1, 2000, 'the inbound connection')
      await conn.maConn.close()
      await waitUntil(() => upgrader.inbound[0].status === 'closed', 2000, 'the inbound side to close')
      return { progress, metrics: metricKeys(metrics) }
    })
    same(observed, {
      progress: ['tcp:open-connection'],
      metrics: [
        'libp2p_tcp_dialer_events_total{_remote_close}',
        'libp2p_tcp_dialer_events_total{connect}',
        'libp2p_tcp_dialer_events_total{end}',
        'libp2p_tcp_listener_events_total{<addr> connection}',
        'libp2p_tcp_listener_events_total{<addr> end}',
        'libp2p_tcp_listener_events_total{<addr> _remote_close}',
        'libp2p_tcp_listener_status_info{<addr>}'
      ].sort()
    })
  })
})

const PEER = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'

describe('getAddrs()', () => {
  it.each([
    ['/ip4/127.0.0.1/tcp/0'],
    ['/ip6/::1/tcp/0'],
    ['/ip4/0.0.0.0/tcp/0'],
    ['/ip6/::/tcp/0'],
    ['/dns4/localhost/tcp/0'],
    [`/ip4/127.0.0.1/tcp/0/p2p/${PEER}`],
    ['/unix/<path>']
  ])('%s: the same addresses before listen(), while listening (the port the kernel gave) and after close()', async (addr) => {
    const observed = await both(async (kind) => {
      const path = encodeURIComponent(join(tmp, `${kind}.sock`))
      const listener = createListener(setup(kind).transport)
      const before = listener.getAddrs()
      await listener.listen(multiaddr(addr.replace('<path>', path)))
      const ports = new Set(listener.getAddrs().map(ma => ma.getComponents().find(c => c.name === 'tcp')?.value))
      expect(ports.size, 'one port for every address').toBe(1)
      const [port] = ports
      expect(port, 'the port the kernel gave').not.toBe('0')
      const listening = listener.getAddrs().map(ma => ma.toString().replace(`/tcp/${port}`, '/tcp/<port>').replace(path, '<path>'))
      await listener.close()
      return { before, listening, after: listener.getAddrs() }
    })
    expect(observed.rx.listening.length, 'at least one address').toBeGreaterThan(0)
    same(observed, observed.ref)
    expect(observed.rx.listening.every(a => a.includes('/tcp/<port>') || a === '/unix/<path>'), observed.rx.listening.join()).toBe(true)
    expect(observed.rx.before).toEqual([])
    expect(observed.rx.after).toEqual([])
  })

  it('expands the wildcards to the interfaces of their family', async () => {
    const observed = await both(async (kind) => {
      const transport = setup(kind).transport
      const families = []
      for (const addr of ['/ip4/0.0.0.0/tcp/0', '/ip6/::/tcp/0']) {
        const listener = createListener(transport)
        await listener.listen(multiaddr(addr))
        families.push(listener.getAddrs().map(ma => ma.getComponents()[0].name))
        await listener.close()
      }
      return families
    })
    same(observed, observed.ref)
    expect(observed.rx[0]).toContain('ip4')
    expect(observed.rx[0].every(name => name === 'ip4')).toBe(true)
    expect(observed.rx[1].every(name => name === 'ip6')).toBe(true)
  })
})

describe('listener events and metric keys under limits', () => {
  it('closeServerOnMaxConnections: the kernel refuses while paused and listening is dispatched on resume by both; rx-tcp keeps its port and address while paused, @libp2p/tcp resumes on a new port', async () => {
    const observed = await both(async (kind) => {
      const { metrics, upgrader, listener, events, port } = await listeningOn(kind, { closeServerOnMaxConnections: { closeAbove: 1, listenBelow: 1 } })
      const client = rawClient(port)
      await waitUntil(() => upgrader.inbound.length === 1, 2000, 'the inbound connection that reaches closeAbove')
      const probe = rawClient(port)
      const paused = {
        probe: (await waitForEvent<any>(probe, 'error', 2000, 'a connection refused while paused')).code,
        events: [...events],
        addrs: listener.getAddrs().length,
        status: metrics.values.libp2p_tcp_listener_status_info[`127.0.0.1:${port}`]
      }
      client.destroy()
      await waitUntil(() => events.length === 2, 2000, 'listening again once below listenBelow')
      const resumed = { events: [...events], samePort: portOf(listener) === port }
      await listener.close()
      return { paused, resumed, closed: [...events], metrics: metricKeys(metrics) }
    })
    const events = { events: ['listening', 'listening'] }
    const closed = ['listening', 'listening', 'close']
    const metrics = [
      'libp2p_tcp_listener_events_total{<addr> _remote_close}',
      'libp2p_tcp_listener_events_total{<addr> connection}',
      'libp2p_tcp_listener_events_total{<addr> end}',
      'libp2p_tcp_listener_status_info{<addr>}'
    ]
    intended(observed, {
      rx: { paused: { probe: 'ECONNREFUSED', events: ['listening'], addrs: 1, status: 2 }, resumed: { ...events, samePort: true }, closed, metrics },
      // its status is updated at the server's 'close', which waits for the connections; a new port is a new label
      ref: { paused: { probe: 'ECONNREFUSED', events: ['listening'], addrs: 0, status: 1 }, resumed: { ...events, samePort: false }, closed, metrics: [...metrics, 'libp2p_tcp_listener_status_info{<addr>}'] }
    })
  })

  it('maxConnections: the socket over the limit is counted under drop by both; rx-tcp also counts it as a connection and under rejected_max-connections', async () => {
    const observed = await both(async (kind) => {
      const { metrics, upgrader, port } = await listeningOn(kind, { maxConnections: 1 })
      rawClient(port)
      await waitUntil(() => upgrader.inbound.length === 1, 2000, 'the first inbound connection')
      await waitForEvent(rawClient(port), 'close', 2000, 'the socket over maxConnections to be closed')
      await waitUntil(() => metrics.values.libp2p_tcp_listener_events_total[`127.0.0.1:${port} drop`] != null, 2000, 'drop to be counted')
      const counts = Object.fromEntries(Object.entries(metrics.values.libp2p_tcp_listener_events_total).map(([key, n]) => [key.split(' ')[1], n]))
      return { counts, upgraded: upgrader.inbound.length }
    })
    intended(observed, {
      rx: { counts: { connection: 2, drop: 1, 'rejected_max-connections': 1 }, upgraded: 1 },
      ref: { counts: { connection: 1, drop: 1 }, upgraded: 1 }
    })
  })
})

describe('address filters', () => {
  const addrs = [
    '/ip4/1.2.3.4/tcp/1',
    '/ip6/::1/tcp/1',
    '/ip6zone/eth0/ip6/fe80::1/tcp/1',
    '/dns/example.com/tcp/1',
    '/dns4/example.com/tcp/1',
    '/dns6/example.com/tcp/1',
    `/ip4/1.2.3.4/tcp/1/p2p/${PEER}`,
    '/unix/%2Ftmp%2Fa.sock',
    `/unix/%2Ftmp%2Fa.sock/p2p/${PEER}`,
    '/dnsaddr/example.com',
    '/ip4/1.2.3.4',
    '/ip4/1.2.3.4/tcp/1/ws',
    '/ip4/1.2.3.4/tcp/1/tls/ws',
    '/ip4/1.2.3.4/tcp/1/http',
    '/ip4/1.2.3.4/udp/1',
    '/ip4/1.2.3.4/udp/1/quic-v1',
    '/ip4/1.2.3.4/tcp/1/webrtc-direct',
    `/ip4/1.2.3.4/tcp/1/p2p/${PEER}/p2p-circuit`,
    `/p2p/${PEER}`,
    '/unix/%2Ftmp%2Fa.sock/ws',
    `/unix/%2Ftmp%2Fa.sock/p2p/${PEER}/p2p-circuit`
  ]

  it('keep the same addresses, except a unix path with a protocol on top, which @libp2p/tcp keeps by its prefix', async () => {
    const observed = await both(async (kind) => {
      const transport = setup(kind).transport
      const mas = addrs.map(a => multiaddr(a))
      return {
        listen: transport.listenFilter(mas).map(String),
        dial: transport.dialFilter(mas).map(String)
      }
    })
    const kept = addrs.slice(0, 9)
    intended(observed, {
      rx: { listen: kept, dial: kept },
      ref: { listen: [...kept, ...addrs.slice(-2)], dial: [...kept, ...addrs.slice(-2)] }
    })
  })
})

describe('the transport in a node lifecycle', () => {
  it('stop(): rx-tcp closes its listeners and waits for its outbound sockets to close; @libp2p/tcp has no stop()', async () => {
    const { port, open } = await plainServer()
    const observed = await both(async (kind) => {
      const { transport, upgrader, listener, events } = await listeningOn(kind)
      const conn: any = await transport.dial(multiaddr(`/ip4/127.0.0.1/tcp/${port}`), { upgrader, signal: AbortSignal.timeout(2000) })
      await waitUntil(() => open() === 1, 2000, 'the outbound connection to reach the server')
      const hasStop = typeof transport.stop === 'function'
      await within(transport.stop?.() ?? Promise.resolve(), 2000, 'stop')
      const result = { hasStop, events: [...events], outbound: conn.maConn.status }
      // what stop() left open, a node closes itself (its connections, its listeners)
      await conn.maConn.close()
      await within(listener.close(), 2000, 'the listener to close')
      return result
    })
    intended(observed, {
      rx: { hasStop: true, events: ['listening', 'close'], outbound: 'closed' },
      ref: { hasStop: false, events: ['listening'], outbound: 'open' }
    })
  })
})
