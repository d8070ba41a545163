import net from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { createNode, stopNode, upgraderOf } from '../chaos/nodes.ts'
import { SocketTracker, settleResources, snapshotResources, within } from '../chaos/probe.ts'
import type { Bounded } from '../chaos/probe.ts'
import type { TransportFactory } from '../chaos/nodes.ts'
import type { AbortOptions, Connection, Libp2p, Listener, Transport } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface LoadOptions {
  /** the transport under test, `tcp()` of rx-tcp or another */
  transport: TransportFactory
  /** connections upgraded with noise + yamux and held open */
  upgraded: number
  /** raw sockets that connect and never speak, held mid-upgrade */
  silent: number
  /** dials in flight at once while building up */
  concurrency?: number
  /**
   * upgraded connections per dialing node (default 50). libp2p's connection
   * manager keeps a list per remote peer and filters it on every disconnect,
   * so thousands of connections from one peer would measure that, not the
   * transport.
   */
  perDialer?: number
  /** bound on the whole build-up, ms */
  buildTimeoutMs?: number
  onProgress?: (line: string) => void
}

export interface LoadResult {
  upgraded: number
  silent: number
  /** sockets the listener held when close() was called */
  held: number
  buildMs: number
  /** close() of the listener, from call to resolution */
  closeMs: number
  /** from close() until the last client socket saw 'close' */
  clientsClosedMs: number
  closeEvents: number
  /** accepted sockets not destroyed when close() resolved */
  notDestroyed: number
  /** client sockets that had not seen 'close' 5 s after close() */
  clientsOpen: number
  /** watched resources above the baseline once everything was stopped */
  leftover: Record<string, number>
  errors: string[]
}

interface TransportManager { dial(ma: Multiaddr, options: AbortOptions): Promise<Connection> }

/**
 * Holds `upgraded + silent` concurrent connections on one bare listener
 * (driven by a libp2p node's real upgrader), then closes it and measures.
 */
export async function runLoad (opts: LoadOptions): Promise<LoadResult> {
  const log = opts.onProgress ?? (() => {})
  const errors: string[] = []
  const baseline = snapshotResources()
  const tracker = new SocketTracker().start()
  const concurrency = opts.concurrency ?? 64
  const nodes: Libp2p[] = []
  const stopAll = async (): Promise<Bounded<unknown>> => within(Promise.all(nodes.map(async n => stopNode(n))), 30_000)

  try {
    // the upgrader's node listens nowhere itself; its deadline must outlast the build-up
    const upgraderNode = await createNode({ transport: opts.transport, inboundUpgradeTimeout: 600_000 })
    nodes.push(upgraderNode)
    const transport: Transport = opts.transport((upgraderNode as unknown as { components: unknown }).components)
    const listener: Listener = transport.createListener({ upgrader: upgraderOf(upgraderNode) })
    let closeEvents = 0
    listener.addEventListener('close', () => { closeEvents++ })
    await listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))
    const addr = listener.getAddrs()[0].encapsulate(`/p2p/${upgraderNode.peerId.toString()}`)
    const port = Number(addr.getComponents().find(c => c.name === 'tcp')?.value)

    const managers: TransportManager[] = []
    for (let i = 0; i < Math.ceil(opts.upgraded / (opts.perDialer ?? 50)); i++) {
      const dialer = await createNode({ transport: opts.transport })
      nodes.push(dialer)
      managers.push((dialer as unknown as { components: { transportManager: TransportManager } }).components.transportManager)
    }

    const buildStart = performance.now()
    const deadline = AbortSignal.timeout(opts.buildTimeoutMs ?? 120_000)
    let upgraded = 0
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < opts.upgraded && !deadline.aborted) {
        const tm = managers[next++ % managers.length]
        try {
          await tm.dial(addr, { signal: AbortSignal.any([deadline, AbortSignal.timeout(30_000)]) })
          upgraded++
          if (upgraded % 500 === 0) log(`load: ${upgraded} upgraded connections`)
        } catch (err: any) {
          if (errors.length < 10) errors.push(`dial: ${err?.name}: ${err?.message}`)
        }
      }
    }
    await Promise.all(Array.from({ length: concurrency }, worker))

    let silent = 0
    for (let i = 0; i < opts.silent; i += concurrency) {
      await Promise.all(Array.from({ length: Math.min(concurrency, opts.silent - i) }, async () => new Promise<void>(resolve => {
        const socket = net.connect({ host: '127.0.0.1', port })
        // a reset once connected is the close doing its work; only a failure to connect counts
        socket.on('error', (err) => { if (socket.connecting && errors.length < 10) errors.push(`raw connect: ${err.message}`); resolve() })
        socket.on('data', () => {})
        socket.once('connect', () => { silent++; resolve() })
      })))
      if ((i + concurrency) % 1000 < concurrency) log(`load: ${silent} silent sockets`)
    }
    // every socket connected on the client side must also have been accepted before closing
    await within(tracker.acceptedAtLeast(upgraded + silent), 10_000)
    const buildMs = performance.now() - buildStart
    const held = tracker.open('server').length
    log(`load: holding ${held} accepted sockets (${upgraded} upgraded, ${silent} silent) after ${(buildMs / 1000).toFixed(1)} s; closing the listener`)

    const closeStart = performance.now()
    const closed = await within(listener.close(), 30_000)
    const closeMs = performance.now() - closeStart
    if (!closed.ok) errors.push(closed.timedOut ? 'close() did not resolve within 30 s' : `close() rejected: ${String(closed.error)}`)
    const notDestroyed = tracker.servers.filter(s => !s.socket.destroyed).length
    const clients = await within(Promise.all(tracker.clients.map(async s => s.closed)), 5_000)
    const clientsClosedMs = performance.now() - closeStart
    const clientsOpen = clients.ok ? 0 : tracker.open('client').length
    log(`load: close() resolved in ${closeMs.toFixed(1)} ms; every client saw 'close' after ${clientsClosedMs.toFixed(1)} ms`)

    const stopped = await stopAll()
    if (!stopped.ok) errors.push('stopping the nodes did not finish within 30 s')
    const leftover = await settleResources(baseline, 2_000)
    return { upgraded, silent, held, buildMs, closeMs, clientsClosedMs, closeEvents, notDestroyed, clientsOpen, leftover, errors }
  } finally {
    tracker.stop()
    for (const s of tracker.open()) s.socket.destroy()
    await stopAll()
  }
}
