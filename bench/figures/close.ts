import { once } from 'node:events'
import { createServer } from 'node:net'
import { createNode } from '../nodes.ts'
import { hostPort } from '../passthrough.ts'
import { acceptedOn } from '../sockets.ts'
import { spawnHolder, stopHolders } from '../holders.ts'
import { until, within } from '../stats.ts'
import type { Group, Options, Sample } from './types.ts'
import type { Subject } from '../subjects.ts'
import type { Libp2p, Listener } from '@libp2p/interface'
import type { AddressInfo, Socket } from 'node:net'
import type { ChildProcess } from 'node:child_process'

export function listenerOf (node: Libp2p): Listener {
  const components = (node as unknown as { components: { transportManager: { getListeners: () => Listener[] } } }).components
  const listeners = components.transportManager.getListeners()
  if (listeners.length !== 1) throw new Error(`expected one listener, found ${listeners.length}`)
  return listeners[0]
}

export interface Stalled {
  holder: ChildProcess
  /** resolves with the monotonic time (ns) at which the last client saw 'close' */
  allClosed: Promise<bigint>
}

/**
 * `count` raw clients, in a child process of their own (their 'close' events
 * do not queue behind the listener's work), that connect and stall: odd ones
 * send half a multistream header, even ones nothing.
 */
export async function stallClients (host: string, port: number, count: number): Promise<Stalled> {
  let connectedAll = (): void => {}
  let failed = (_err: Error): void => {}
  let closedAll = (_at: bigint): void => {}
  const connected = new Promise<void>((resolve, reject) => { connectedAll = resolve; failed = reject })
  const allClosed = new Promise<bigint>((resolve) => { closedAll = resolve })
  const holder = spawnHolder({ host, port, localAddress: '127.0.0.2', count, concurrency: 64, stall: true }, (msg) => {
    if (msg.type === 'done') {
      if (msg.connected === count) connectedAll()
      else failed(new Error(`only ${msg.connected} of ${count} stalled clients connected`))
    }
    if (msg.type === 'lost') failed(new Error(`stalled clients: ${msg.reason}`))
    if (msg.type === 'allClosed') closedAll(BigInt(msg.at))
  })
  try {
    await within(60_000, `${count} stalled clients to connect`, connected)
    let accepted = 0
    await until(60_000, () => `the server to accept ${count} sockets (${accepted} so far)`, () => (accepted = acceptedOn(port)) >= count)
  } catch (err) {
    await stopHolders([holder])
    throw err
  }
  return { holder, allClosed }
}

/** Times `close`: until it resolves, until it has resolved and every client has seen 'close', and the CPU time this process spent until it resolved. */
export async function timeClose (stalled: Stalled, close: () => Promise<void>): Promise<Sample> {
  const start = process.hrtime.bigint()
  const cpu = process.cpuUsage()
  const ms = (at: bigint): number => Number(at - start) / 1e6
  let resolvedMs = Number.NaN
  let cpuMs = Number.NaN
  const closing = close().then(() => {
    resolvedMs = ms(process.hrtime.bigint())
    const used = process.cpuUsage(cpu)
    cpuMs = (used.user + used.system) / 1e3
  })
  const [, lastClose] = await within(10_000, 'close() to resolve and all clients to see \'close\'', Promise.all([closing, stalled.allClosed]))
  return { closeResolve: resolvedMs, closeAll: Math.max(ms(lastClose), resolvedMs), closeCpu: cpuMs }
}

/**
 * `stalled` raw clients connect to a noise + yamux node and stall its
 * upgrade. Then the listener is closed: how long until `close()` resolves,
 * and until every client has seen its socket close.
 */
async function closeWithStalled (subject: Subject, opts: Options): Promise<Sample> {
  const server = await createNode(subject, { encryption: 'noise', listen: true })
  let stalled: Stalled | undefined
  try {
    const listener = listenerOf(server)
    const { host, port } = hostPort(server.getMultiaddrs()[0])
    stalled = await stallClients(host, port, opts.stalled)
    return await timeClose(stalled, async () => listener.close())
  } finally {
    if (stalled != null) await stopHolders([stalled.holder])
    await server.stop()
  }
}

/** The floor: a plain `net.Server` closed and each of its sockets destroyed, by hand. */
async function netClose (opts: Options): Promise<Sample> {
  const accepted = new Set<Socket>()
  const server = createServer((socket) => {
    accepted.add(socket)
    socket.on('error', () => {})
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  let stalled: Stalled | undefined
  try {
    stalled = await stallClients('127.0.0.1', port, opts.stalled)
    return await timeClose(stalled, async () => {
      const closed = new Promise<void>((resolve) => server.close(() => { resolve() }))
      for (const s of accepted) s.destroy()
      await closed
    })
  } finally {
    if (stalled != null) await stopHolders([stalled.holder])
    for (const s of accepted) s.destroy()
    if (server.listening) server.close()
  }
}

export const closeGroup: Group = {
  id: 'close',
  title: 'close() with stalled handshakes, vs a plain net.Server closed by hand',
  run: closeWithStalled,
  ceiling: netClose
}
