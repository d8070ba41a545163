import { execFile } from 'node:child_process'
import { statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import dc from 'node:diagnostics_channel'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { VirtualTimeScheduler } from 'rxjs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { upgradeDeadline } from '../../operators/index.ts'
import { tcp } from '../../src/index.ts'
import { ECHO_PROTOCOL, createNode, stopNode, upgraderOf } from '../chaos/nodes.ts'
import { ErrorTrap, describeError, within } from '../chaos/probe.ts'
import { skipping } from '../fixtures/skip.ts'
import { waitUntil } from '../fixtures/wait.ts'
import type { TCPOptions } from '../../src/index.ts'
import type { Libp2p, Listener, Transport, Upgrader } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

const LIBP2P_ERRORS = ['InvalidParametersError', 'InvalidMultiaddrError', 'ListenError', 'UnsupportedOperationError', 'ConnectionFailedError', 'NotStartedError', 'AbortError', 'TimeoutError']
const MSS_HEADER = Buffer.from('\x13/multistream/1.0.0\n')

/** the listener node, a bystander already connected to it, and the process-level error trap */
interface Scene {
  server: Libp2p
  bystander: Libp2p
  addr: Multiaddr
  port: number
}

let trap: ErrorTrap
let cleanup: Array<() => Promise<unknown>>

beforeEach(() => {
  trap = new ErrorTrap().install()
  cleanup = []
})

afterEach(async () => {
  for (const step of cleanup.reverse()) await within(step(), 5_000)
  trap.uninstall()
  expect(trap.errors.map(e => `${e.kind}: ${describeError(e.error)}`), 'uncaught exceptions or unhandled rejections').toEqual([])
})

async function scene (init: TCPOptions = {}, inboundUpgradeTimeout?: number): Promise<Scene> {
  const server = await createNode({ transport: tcp(init), listen: ['/ip4/127.0.0.1/tcp/0'], echo: true, inboundUpgradeTimeout })
  cleanup.push(async () => stopNode(server))
  const bystander = await createNode({ transport: tcp() })
  cleanup.push(async () => stopNode(bystander))
  const addr = server.getMultiaddrs()[0]
  await echoOnce(bystander, addr)
  return { server, bystander, addr, port: Number(addr.getComponents().find(c => c.name === 'tcp')?.value) }
}

/** one echo round trip over a new stream; proves the node still serves */
async function echoOnce (from: Libp2p, to: Multiaddr): Promise<void> {
  const payload = Buffer.from(`echo ${Math.random()}`)
  const stream = await from.dialProtocol(to, ECHO_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
  stream.send(payload)
  await stream.close()
  const received: Uint8Array[] = []
  for await (const chunk of stream) received.push(chunk.subarray())
  expect(Buffer.concat(received).toString()).toBe(payload.toString())
}

/**
 * The node is undisturbed: the bystander's old connection and a new dial both
 * still echo. With `oldConnection: false` only the new dial is asked, where a
 * short inactivity timeout may rightly have closed the bystander's idle one.
 */
async function stillServes (s: Scene, { oldConnection = true } = {}): Promise<void> {
  if (oldConnection) await echoOnce(s.bystander, s.addr)
  const newcomer = await createNode({ transport: tcp() })
  cleanup.push(async () => stopNode(newcomer))
  await echoOnce(newcomer, s.addr)
}

/**
 * A raw client; resolves its 'close' with the time from before its connect()
 * call, so that the server's timers, which start on its accept, cannot have
 * run longer than that: a lower bound on it cannot fail on a busy machine.
 */
function rawClient (port: number, onConnect: (socket: net.Socket) => void): { socket: net.Socket, closed: Promise<{ ms: number, hadError: boolean }> } {
  const connecting = performance.now()
  const socket = net.connect({ host: '127.0.0.1', port })
  socket.on('error', () => {})
  socket.on('data', () => {})
  socket.once('connect', () => { onConnect(socket) })
  const closed = new Promise<{ ms: number, hadError: boolean }>(resolve => socket.once('close', (hadError) => { resolve({ ms: performance.now() - connecting, hadError }) }))
  cleanup.push(async () => { socket.destroy() })
  return { socket, closed }
}

async function closedWithin (closed: Promise<{ ms: number }>, ms: number, what: string): Promise<number> {
  const r = await within(closed, ms)
  if (!r.ok) throw new Error(`${what}: the server did not close the socket within ${ms} ms`)
  return r.value.ms
}

describe('bad input on an rx-tcp listener', () => {
  it('closes a peer that sends random bytes instead of a handshake, and keeps serving', async () => {
    const s = await scene()
    const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256))
    const { closed } = rawClient(s.port, socket => socket.write(garbage))
    await closedWithin(closed, 5_000, 'random bytes')
    await stillServes(s)
  })

  it('closes a peer that sends half a multistream-select header and then FIN', async () => {
    const s = await scene()
    const { closed } = rawClient(s.port, socket => { socket.end(MSS_HEADER.subarray(0, 9)) })
    await closedWithin(closed, 5_000, 'truncated handshake then FIN')
    await stillServes(s)
  })

  it('closes a peer that connects and never speaks at the upgrade deadline (libp2p inboundUpgradeTimeout)', async () => {
    const s = await scene({}, 400)
    const { closed } = rawClient(s.port, () => {})
    const ms = await closedWithin(closed, 5_000, 'silent peer, inboundUpgradeTimeout 400 ms')
    expect(ms).toBeGreaterThanOrEqual(350)
    await stillServes(s)
  })

  it('closes a peer that connects and never speaks at the upgrade deadline (rx-tcp upgradeDeadline operator)', async () => {
    // a virtual clock: each socket mid-upgrade holds one pending deadline on it
    const clock = new VirtualTimeScheduler()
    const s = await scene({ lifetime: upgradeDeadline({ ms: 300, scheduler: clock }) }, 30_000)
    const { socket, closed } = rawClient(s.port, () => {})
    await waitUntil(() => clock.actions.length === 1, 5_000, 'the silent peer to be held mid-upgrade, its deadline pending')
    expect(socket.closed, 'the silent peer closed before its deadline').toBe(false)
    clock.flush()
    await closedWithin(closed, 5_000, 'silent peer, upgradeDeadline 300 ms (virtual)')
    await stillServes(s)
  })

  it('closes a peer that stalls mid-handshake at the inactivity timeout', async () => {
    const s = await scene({ inboundSocketInactivityTimeout: 300 }, 30_000)
    const { closed } = rawClient(s.port, socket => socket.write(MSS_HEADER))
    const ms = await closedWithin(closed, 5_000, 'stalled peer, inboundSocketInactivityTimeout 300 ms')
    expect(ms).toBeGreaterThanOrEqual(250)
    // the bystander's connection is inbound too: idle for 300 ms on a loaded machine, it is closed as it should be
    await stillServes(s, { oldConnection: false })
  })

  it('survives a reset in the middle of a real noise handshake', async () => {
    const s = await scene()
    const dialer = await createNode({ transport: tcp() })
    cleanup.push(async () => stopNode(dialer))
    // reset the dialer's socket the moment the listener's first handshake bytes arrive
    let reset = 0
    const onClient = ({ socket }: { socket: net.Socket }): void => {
      socket.once('data', () => { reset++; socket.resetAndDestroy() })
    }
    const listener = onClient as (msg: unknown) => void
    dc.subscribe('net.client.socket', listener)
    try {
      await expect(dialer.dial(s.addr, { signal: AbortSignal.timeout(5_000) })).rejects.toThrow()
    } finally {
      dc.unsubscribe('net.client.socket', listener)
    }
    expect(reset).toBe(1)
    await stillServes(s)
  })
})

describe('bad addresses', () => {
  let transport: Transport & { stop?: () => Promise<void> }
  let upgrader: Upgrader
  let node: Libp2p

  beforeEach(async () => {
    node = await createNode({ transport: tcp() })
    cleanup.push(async () => stopNode(node))
    upgrader = upgraderOf(node)
    transport = tcp()({ logger: defaultLogger() }) as typeof transport
    cleanup.push(async () => transport.stop?.())
  })

  async function listenError (addr: string | Multiaddr): Promise<Error> {
    const listener: Listener = transport.createListener({ upgrader })
    cleanup.push(async () => listener.close())
    const err = await listener.listen(typeof addr === 'string' ? multiaddr(addr) : addr).then(() => undefined, (e: Error) => e)
    if (err == null) throw new Error(`listening on ${addr.toString()} succeeded`)
    return err
  }

  function expectClear (err: Error, addr: string): void {
    expect(LIBP2P_ERRORS, `${err.name}: ${err.message}`).toContain(err.name)
    expect(err.message).toContain(addr)
  }

  it('refuses to listen on a port in use with a ListenError naming the address, and the first listener keeps working', async () => {
    const first = transport.createListener({ upgrader })
    cleanup.push(async () => first.close())
    await first.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))
    const taken = first.getAddrs()[0].toString()
    const err = await listenError(taken)
    expect(err.name).toBe('ListenError')
    expect(err.message).toContain(taken)
    expect(err.message).toMatch(/in use/i)
    // the first listener still accepts
    const port = Number(first.getAddrs()[0].getComponents().find(c => c.name === 'tcp')?.value)
    const socket = net.connect({ host: '127.0.0.1', port })
    cleanup.push(async () => { socket.destroy() })
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  })

  it.each([
    ['UDP', '/ip4/127.0.0.1/udp/4001'],
    ['no port', '/ip4/127.0.0.1'],
    ['two TCP ports', '/ip4/127.0.0.1/tcp/0/tcp/1'],
    ['SCTP', '/ip6/::1/sctp/5000'],
    ['websockets', '/ip4/127.0.0.1/tcp/0/ws'],
    ['circuit relay', '/ip4/127.0.0.1/tcp/0/p2p-circuit'],
    ['unix without a path', '/unix/']
  ])('refuses to listen on an unsupported or malformed multiaddr (%s) with a libp2p error naming it', async (_what, addr) => {
    let ma: Multiaddr
    try {
      ma = multiaddr(addr)
    } catch (err: any) {
      // refused before it reaches the transport: the multiaddr library's own error class
      expect(err.name).toBe('InvalidMultiaddrError')
      return
    }
    expectClear(await listenError(ma), ma.toString())
  })

  it.each([
    ['port 0', '/ip4/127.0.0.1/tcp/0'],
    ['UDP', '/ip4/127.0.0.1/udp/4001'],
    ['no port', '/ip4/127.0.0.1'],
    ['websockets', '/ip4/127.0.0.1/tcp/4001/ws'],
    ['a closed port', 'closed']
  ])('refuses to dial %s with a libp2p error naming the address', async (_what, addr) => {
    let target = addr
    if (addr === 'closed') {
      // a port that was just free: nothing listens there
      const probe = net.createServer()
      await new Promise<void>(resolve => probe.listen(0, '127.0.0.1', resolve))
      target = `/ip4/127.0.0.1/tcp/${(probe.address() as net.AddressInfo).port}`
      await new Promise(resolve => probe.close(resolve))
    }
    const err = await transport.dial(multiaddr(target), { upgrader, signal: AbortSignal.timeout(5_000) }).then(() => undefined, (e: Error) => e)
    if (err == null) throw new Error(`dialing ${target} succeeded`)
    expectClear(err, target)
  })

  describe('without permission', () => {
    const root = process.getuid?.() === 0
    // the child runs the project's Node and sources as uid nobody: every directory above them must let others through
    const closed = [process.execPath, import.meta.dirname].flatMap(blockedForOthers)[0]
    const reason = !root ? 'needs root, to switch to uid nobody' : closed !== undefined ? `uid nobody cannot reach this checkout: ${closed} is not searchable by others (a clone in a mode 0700 directory such as mktemp -d's)` : undefined
    it.skipIf(reason !== undefined)(skipping('refuses a privileged port and a unix path in an unwritable directory with a ListenError (run as uid nobody)', reason), async () => {
      // as root neither is refused, so the listener runs in a child process as uid 65534
      const dir = await mkdtemp(join(tmpdir(), 'rx-tcp-noperm-'))
      cleanup.push(async () => rm(dir, { recursive: true, force: true }))
      const unixAddr = `/unix/${encodeURIComponent(join(dir, 'listener.sock'))}`
      const tsx = createRequire(import.meta.url).resolve('tsx/esm')
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', tsx, join(import.meta.dirname, 'listen-as.ts'), '/ip4/127.0.0.1/tcp/80', unixAddr], {
        uid: 65534, gid: 65534, cwd: tmpdir(), env: { ...process.env, HOME: tmpdir() }, timeout: 20_000
      })
      const report = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { uid: number, results: Array<{ addr: string, listened: boolean, name?: string, message?: string }> }
      expect(report.uid).toBe(65534)
      for (const r of report.results) {
        expect(r.listened, `${r.addr} was listened on without permission`).toBe(false)
        expect(r.name).toBe('ListenError')
        expect(r.message).toContain(r.addr)
        expect(r.message).toMatch(/permission/i)
      }
    }, 30_000)
  })
})

/** the directories above `path` that others (uid nobody) cannot search, nearest to the root first */
function blockedForOthers (path: string): string[] {
  const above: string[] = []
  for (let dir = dirname(path); dir !== dirname(dir); dir = dirname(dir)) above.unshift(dir)
  return above.filter((dir) => (statSync(dir).mode & 0o001) === 0)
}
