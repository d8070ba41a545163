/**
 * What a slow stop() was waiting for. With CHURN_TRACE=1 every `net.Socket`
 * records the events it emits (name and time), so that a socket still open
 * at the close deadline can be described with its state and the events it
 * did and did not see (a runtime that never emits 'end' or 'close' shows
 * here). Off by default: patching `emit` costs on the byte path.
 */
import net from 'node:net'
import type { Libp2p } from '@libp2p/interface'
import type { Socket } from 'node:net'

const seen = new WeakMap<Socket, Array<[string, number]>>()
/** events worth a line: the data path's 'data'/'drain' are only counted */
const LIFECYCLE = new Set(['connect', 'ready', 'end', 'finish', 'close', 'error', 'timeout', 'prefinish'])

export const TRACING = process.env.CHURN_TRACE != null && process.env.CHURN_TRACE !== '0'

if (TRACING) {
  const emit = net.Socket.prototype.emit
  net.Socket.prototype.emit = function (this: Socket, event: string | symbol, ...args: unknown[]): boolean {
    if (typeof event === 'string') {
      let events = seen.get(this)
      if (events == null) seen.set(this, events = [])
      if (LIFECYCLE.has(event)) events.push([event, Math.round(performance.now())])
      else {
        const last = events.at(-1)
        if (last?.[0] === event) last[1]++
        else events.push([event, 1])
      }
    }
    return Reflect.apply(emit, this, [event, ...args]) as boolean
  } as typeof emit
}

/** One socket a transport still held, as the trace saw it. */
export interface SocketState {
  /** who holds it: the listener (inbound) or the transport's dialer (outbound) */
  held: 'listener' | 'outbound'
  remote: string
  local: string
  readyState: string
  destroyed: boolean
  closed: boolean | undefined
  connecting: boolean
  pending: boolean | undefined
  readableEnded: boolean
  writableEnded: boolean
  writableFinished: boolean
  bytesRead: number
  bytesWritten: number
  /** lifecycle events with their time (ms since start); other events as [name, count] */
  events: Array<[string, number]>
}

interface Holder { sockets?: { values?: () => Iterable<Socket> } }
interface TransportLike extends Holder { outbound?: { values?: () => Iterable<Socket> } }

/**
 * The sockets the node's TCP transport and its listeners hold right now
 * (the not-public fields both transports keep: the listeners' `sockets`,
 * rx-tcp's `outbound`), those not closed yet, with their state.
 */
export function openSockets (node: Libp2p): SocketState[] {
  const tm = (node as unknown as { components: { transportManager: { getTransports: () => TransportLike[], getListeners: () => Holder[] } } }).components.transportManager
  const held: Array<[SocketState['held'], Socket]> = []
  for (const l of tm.getListeners()) for (const s of l.sockets?.values?.() ?? []) held.push(['listener', s])
  for (const t of tm.getTransports()) for (const s of t.outbound?.values?.() ?? []) held.push(['outbound', s])
  return held.filter(([, s]) => s.closed !== true).map(([where, s]) => describeSocket(where, s))
}

export function describeSocket (held: SocketState['held'], s: Socket): SocketState {
  return {
    held,
    remote: `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`,
    local: `${s.localAddress ?? '?'}:${s.localPort ?? '?'}`,
    readyState: s.readyState,
    destroyed: s.destroyed,
    closed: s.closed,
    connecting: s.connecting,
    pending: s.pending,
    readableEnded: s.readableEnded,
    writableEnded: s.writableEnded,
    writableFinished: s.writableFinished,
    bytesRead: s.bytesRead,
    bytesWritten: s.bytesWritten,
    events: seen.get(s) ?? []
  }
}

/** one line per socket, for the progress output */
export function formatSocket (s: SocketState): string {
  const flags = Object.entries({ destroyed: s.destroyed, closed: s.closed, connecting: s.connecting, pending: s.pending, readableEnded: s.readableEnded, writableEnded: s.writableEnded, writableFinished: s.writableFinished })
    .filter(([, v]) => v === true).map(([k]) => k).join(',')
  const events = s.events.map(([e, n]) => LIFECYCLE.has(e) ? `${e}@${n}` : `${e}×${n}`).join(' ')
  return `${s.held} ${s.local}→${s.remote} ${s.readyState} [${flags}] read=${s.bytesRead} written=${s.bytesWritten} events: ${events === '' ? '(none traced)' : events}`
}

interface ServerLike { _handle?: { close?: (cb?: () => void) => void } | null, once?: (event: string, fn: () => void) => void, listening?: boolean }
interface ListenerLike extends Holder { server?: ServerLike, close: (options?: unknown) => Promise<void> }
interface StoppableTransport extends TransportLike { stop?: () => Promise<void> }

/**
 * Times the parts of one node's stop(): each listener's close() and, inside
 * it, the server's 'close' event and the moment its handle's own close
 * callback ran (libuv released it); the transport's stop(); each open
 * connection's close(). Call before stop(); the returned function gives one
 * line per part, with ms from the start.
 */
export function timeStopParts (node: Libp2p): () => string[] {
  const t0 = performance.now()
  const at = (): string => `${(performance.now() - t0).toFixed(0)}ms`
  const lines: string[] = []
  // the longest the event loop went without running a timer during the stop: a loop kept busy (noise's JS crypto on Bun, a loaded machine) shows here
  let last = t0
  let gap = 0
  const beat = setInterval(() => { const t = performance.now(); gap = Math.max(gap, t - last); last = t }, 5)
  const tm = (node as unknown as { components: { transportManager: { getTransports: () => StoppableTransport[], getListeners: () => ListenerLike[] } } }).components.transportManager
  tm.getListeners().forEach((l, i) => {
    const close = l.close.bind(l)
    l.close = async (options) => {
      lines.push(`listener ${i}: close() called at ${at()} with ${[...l.sockets?.values?.() ?? []].length} sockets, upgrades running for ${JSON.stringify(upgradesPending(node))} ms`)
      const probe = setTimeout(() => {
        const held = [...l.sockets?.values?.() ?? []]
        lines.push(`listener ${i}: at ${at()} it still holds ${held.length} sockets, upgrades running for ${JSON.stringify(upgradesPending(node))} ms`)
        for (const s of held) lines.push(`  ${formatSocket(describeSocket('listener', s))}`)
      }, 200)
      const handle = l.server?._handle
      if (handle?.close != null) {
        const handleClose = handle.close.bind(handle)
        handle.close = (cb) => { handleClose(() => { lines.push(`listener ${i}: server handle close callback at ${at()}`); cb?.() }) }
      } else {
        lines.push(`listener ${i}: server has no _handle.close (listening=${String(l.server?.listening)})`)
      }
      l.server?.once?.('close', () => { lines.push(`listener ${i}: server 'close' at ${at()}`) })
      try {
        await close(options)
      } finally {
        clearTimeout(probe)
        lines.push(`listener ${i}: close() resolved at ${at()}`)
      }
    }
  })
  for (const t of tm.getTransports()) {
    const stop = t.stop?.bind(t)
    if (stop == null) continue
    t.stop = async () => {
      lines.push(`transport: stop() called at ${at()} with ${[...t.outbound?.values?.() ?? []].length} outbound sockets`)
      try {
        await stop()
      } finally {
        lines.push(`transport: stop() resolved at ${at()}`)
      }
    }
  }
  watchConnectionManagerStop(node, lines, t0)
  // every component's stop phases (libp2p runs each phase for all components at once)
  const all = (node as unknown as { components: { components: Record<string, Record<string, unknown>> } }).components.components
  for (const [name, component] of Object.entries(all)) {
    for (const phase of ['beforeStop', 'stop', 'afterStop']) {
      const fn = component?.[phase]
      if (typeof fn !== 'function') continue
      component[phase] = async (...args: unknown[]) => {
        const began = performance.now()
        try {
          return await Reflect.apply(fn, component, args)
        } finally {
          if (performance.now() - began > 20) lines.push(`component ${name}.${phase}() from ${(began - t0).toFixed(0)}ms to ${at()}`)
        }
      }
    }
  }
  for (const c of node.getConnections()) {
    const close = c.close.bind(c)
    const now = Date.now()
    const name = `connection ${c.direction} ${c.remoteAddr.toString().split('/p2p/')[0]} (${c.status} at the start, opened ${now - c.timeline.open}ms before${c.timeline.close != null ? `, closed ${now - c.timeline.close}ms before` : ''})`
    c.addEventListener('close', () => { lines.push(`${name}: 'close' event at ${at()}`) }, { once: true })
    c.close = async (options) => {
      const began = at()
      try {
        await close(options)
      } finally {
        lines.push(`${name}: close() from ${began} to ${at()}, now ${c.status}`)
      }
    }
  }
  return () => {
    clearInterval(beat)
    // a loop busy up to the end never ran the timer at all: the last stretch counts too
    gap = Math.max(gap, performance.now() - last)
    return [...lines, `event loop: longest gap between 5 ms ticks during the stop ${gap.toFixed(0)}ms`]
  }
}

/**
 * Remembers, for each listener of the node, the inbound upgrades still
 * running (rx-tcp's `sockets.upgrading()`; `@libp2p/tcp` has no such
 * registry), so that a slow close can say which upgrade it waited for. Call
 * once the node has started.
 */
export function watchUpgrades (node: Libp2p): void {
  const tm = (node as unknown as { components: { transportManager: { getListeners: () => Array<{ sockets?: { upgrading?: (p: Promise<unknown>) => void } }> } } }).components.transportManager
  for (const l of tm.getListeners()) {
    const registry = l.sockets
    const upgrading = registry?.upgrading
    if (registry == null || typeof upgrading !== 'function') continue
    const pending = new Map<Promise<unknown>, number>()
    pendingUpgrades.set(l, pending)
    registry.upgrading = (settled) => {
      pending.set(settled, performance.now())
      void settled.finally(() => pending.delete(settled))
      upgrading.call(registry, settled)
    }
  }
}

const pendingUpgrades = new WeakMap<object, Map<Promise<unknown>, number>>()

/** the inbound upgrades still running on the node's listeners, as their age in ms */
export function upgradesPending (node: Libp2p): number[] {
  const tm = (node as unknown as { components: { transportManager: { getListeners: () => object[] } } }).components.transportManager
  const now = performance.now()
  return tm.getListeners().flatMap(l => [...(pendingUpgrades.get(l)?.values() ?? [])].map(t => Math.round(now - t)))
}

/**
 * Times when libp2p's connection manager, in its stop(), has stopped its
 * dial queue (it closes the connections it tracks only after that) and
 * which of those connections were not open any more by then: a connection
 * that closed in between has dispatched its 'close' already, and libp2p
 * 3.3.11 then waits for that event until its 500 ms timeout.
 */
export function watchConnectionManagerStop (node: Libp2p, lines: string[], t0: number): void {
  const cm = (node as unknown as { components: { connectionManager: { dialQueue?: { stop?: () => unknown }, connections?: Map<string, Array<{ status: string, direction: string, remoteAddr: { toString: () => string }, timeline: { close?: number } }>> } } }).components.connectionManager
  const queue = cm.dialQueue
  const stop = queue?.stop
  if (queue == null || typeof stop !== 'function') return
  queue.stop = (...args: unknown[]) => {
    const out = Reflect.apply(stop, queue, args)
    void Promise.resolve(out).then(() => {
      // the connection manager's loop over its connections runs after this turn
      queueMicrotask(() => {
        const tracked = [...(cm.connections?.values() ?? [])].flat()
        const gone = tracked.filter(c => c.status !== 'open')
        lines.push(`connectionManager: dial queue stopped at ${(performance.now() - t0).toFixed(0)}ms; it tracks ${tracked.length} connections, ${gone.length} not open: ${gone.map(c => `${c.direction} ${c.remoteAddr.toString().split('/p2p/')[0]} ${c.status}${c.timeline.close != null ? ` since ${Date.now() - c.timeline.close}ms` : ''}`).join(', ')}`)
      })
    })
    return out
  }
}
