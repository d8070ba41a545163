import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import type { Subject } from './subjects.ts'
import type { ClearableSignal, Connection, Listener, MultiaddrConnection, Transport, Upgrader } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * An upgrader that upgrades nothing: outbound it hands the `MultiaddrConnection`
 * back as the "connection", inbound it passes it to `onInbound`. What is left
 * is the transport alone: sockets, the listener and the byte path.
 */
export function passThroughUpgrader (onInbound: (maConn: MultiaddrConnection) => void): Upgrader {
  const upgrader = {
    async upgradeOutbound (maConn: MultiaddrConnection): Promise<Connection> {
      return maConn as unknown as Connection
    },
    async upgradeInbound (maConn: MultiaddrConnection): Promise<void> {
      onInbound(maConn)
    },
    createInboundAbortSignal (signal: AbortSignal): ClearableSignal {
      return Object.assign(AbortSignal.any([signal]), { clear () {} })
    },
    getStreamMuxers: () => new Map(),
    getConnectionEncrypters: () => new Map()
  }
  return upgrader as unknown as Upgrader
}

export interface BareListener {
  transport: Transport
  listener: Listener
  addr: Multiaddr
  upgrader: Upgrader
  /** resolves with the next inbound MultiaddrConnection */
  nextInbound: () => Promise<MultiaddrConnection>
  close: () => Promise<void>
}

/** A transport of `subject` listening on 127.0.0.1 with the pass-through upgrader. */
export async function bareListener (subject: Subject, onInbound?: (maConn: MultiaddrConnection) => void): Promise<BareListener> {
  const waiting: Array<(maConn: MultiaddrConnection) => void> = []
  const queued: MultiaddrConnection[] = []
  const upgrader = passThroughUpgrader((maConn) => {
    if (onInbound != null) { onInbound(maConn); return }
    const take = waiting.shift()
    if (take != null) take(maConn)
    else queued.push(maConn)
  })
  const transport = subject.tcp()({ logger: defaultLogger() })
  const listener = transport.createListener({ upgrader })
  await listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))
  const addr = listener.getAddrs()[0]
  return {
    transport,
    listener,
    addr,
    upgrader,
    nextInbound: async () => {
      const ready = queued.shift()
      if (ready != null) return ready
      return new Promise((resolve) => { waiting.push(resolve) })
    },
    close: async () => listener.close()
  }
}

/** Dials `addr` with the transport and returns the raw outbound MultiaddrConnection. */
export async function bareDial (bare: BareListener, addr: Multiaddr = bare.addr): Promise<MultiaddrConnection> {
  const conn = await bare.transport.dial(addr, { upgrader: bare.upgrader, signal: AbortSignal.timeout(10_000) })
  return conn as unknown as MultiaddrConnection
}

/** host and port of an /ip4/…/tcp/… or /ip6/…/tcp/… address */
export function hostPort (ma: Multiaddr): { host: string, port: number } {
  const parts = ma.getComponents()
  const host = parts.find((c) => c.name === 'ip4' || c.name === 'ip6')?.value
  const port = parts.find((c) => c.name === 'tcp')?.value
  if (host == null || port == null) throw new Error(`not a TCP address: ${ma.toString()}`)
  return { host, port: Number(port) }
}
