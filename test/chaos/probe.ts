import { createHook } from 'node:async_hooks'
import dc from 'node:diagnostics_channel'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import type { Socket } from 'node:net'

/**
 * Resource types that must be back to their baseline after a round: TCP and
 * pipe handles (sockets, servers, unix sockets) and ref'd timers.
 */
export const WATCHED_RESOURCES = ['TCPSocketWrap', 'TCPServerWrap', 'PipeWrap', 'PipeServerWrap', 'Timeout', 'TCPConnectWrap', 'PipeConnectWrap', 'ShutdownWrap'] as const

export type ResourceCounts = Record<string, number>

export function snapshotResources (): ResourceCounts {
  const counts: ResourceCounts = {}
  for (const name of process.getActiveResourcesInfo()) {
    if ((WATCHED_RESOURCES as readonly string[]).includes(name)) {
      counts[name] = (counts[name] ?? 0) + 1
    }
  }
  return counts
}

/** resource types whose count is above the baseline, with the excess */
export function resourcesAbove (baseline: ResourceCounts, now: ResourceCounts = snapshotResources()): ResourceCounts {
  const above: ResourceCounts = {}
  for (const [name, count] of Object.entries(now)) {
    const excess = count - (baseline[name] ?? 0)
    if (excess > 0) above[name] = excess
  }
  return above
}

const nextTurn = async (): Promise<void> => { await new Promise<void>(resolve => setImmediate(resolve)) }

/**
 * Waits, turn by turn of the event loop, until no watched resource is above
 * the baseline, for at most `ms`. Returns what is still above it (empty when
 * clean). Handles are released by libuv in the turn their close callback
 * runs, so this usually returns after a turn or two.
 */
export async function settleResources (baseline: ResourceCounts, ms: number): Promise<ResourceCounts> {
  const deadline = performance.now() + ms
  let above = resourcesAbove(baseline)
  while (Object.keys(above).length > 0 && performance.now() < deadline) {
    await nextTurn()
    above = resourcesAbove(baseline)
  }
  return above
}

export interface TrackedSocket {
  readonly socket: Socket
  readonly side: 'client' | 'server'
  readonly createdAt: number
  closedAt?: number
  /** resolves at the socket's 'close' */
  readonly closed: Promise<void>
}

/**
 * Whether this runtime publishes `net.connect()` sockets on the
 * `net.client.socket` diagnostics channel (Node and Deno do, synchronously;
 * Bun does not). Asked once, with a connect to a unix path that does not
 * exist, destroyed at once, so no network is touched.
 */
export const NET_CHANNELS_PUBLISH = ((): boolean => {
  let published = false
  const seen = (): void => { published = true }
  dc.subscribe('net.client.socket', seen)
  try {
    const probe = net.connect(path.join(os.tmpdir(), `rx-tcp-no-such-${process.pid}.sock`))
    probe.on('error', () => {})
    probe.destroy()
  } finally {
    dc.unsubscribe('net.client.socket', seen)
  }
  return published
})()

/** the trackers started where the channels publish nothing, fed by the prototype hooks below */
const hooked = new Set<SocketTracker>()
let unhook: (() => void) | undefined

/**
 * Where the diagnostics channels publish nothing, the same two moments through
 * `net`'s prototypes: `Socket.prototype.connect` (every client socket, also
 * those of `net.connect()`) and a `Server`'s emit of `'connection'` (every
 * accepted socket, before any listener of it runs).
 */
function hook (tracker: SocketTracker): void {
  hooked.add(tracker)
  if (unhook != null) return
  const connect = net.Socket.prototype.connect
  const emit = net.Server.prototype.emit
  const clients = new WeakSet<Socket>()
  net.Socket.prototype.connect = function (this: Socket, ...args: unknown[]) {
    if (!clients.has(this)) {
      clients.add(this)
      for (const t of hooked) t.seen(this, 'client')
    }
    return (connect as (...a: unknown[]) => Socket).apply(this, args)
  } as typeof connect
  net.Server.prototype.emit = function (this: net.Server, event: string | symbol, ...args: unknown[]) {
    if (event === 'connection') for (const t of hooked) t.seen(args[0] as Socket, 'server')
    return (emit as (this: net.Server, e: string | symbol, ...a: unknown[]) => boolean).call(this, event, ...args)
  } as typeof emit
  unhook = () => {
    net.Socket.prototype.connect = connect
    net.Server.prototype.emit = emit
    unhook = undefined
  }
}

function unhookTracker (tracker: SocketTracker): void {
  hooked.delete(tracker)
  if (hooked.size === 0) unhook?.()
}

/**
 * Sees every socket the runtime creates while it is active, whoever creates it: the
 * `net.client.socket` channel publishes each `net.connect()` socket (raw
 * clients and libp2p dialers alike) and `net.server.socket` each accepted
 * one, before any listener code runs. Where the channels publish nothing
 * (Bun), prototype hooks on `net.Socket` and `net.Server` see the same sockets.
 */
export class SocketTracker {
  readonly sockets: TrackedSocket[] = []
  /** how many sockets servers have accepted so far */
  accepted = 0
  private readonly onClient = (msg: unknown): void => { this.track((msg as { socket: Socket }).socket, 'client') }
  private readonly onServer = (msg: unknown): void => { this.track((msg as { socket: Socket }).socket, 'server') }

  start (): this {
    if (NET_CHANNELS_PUBLISH) {
      dc.subscribe('net.client.socket', this.onClient)
      dc.subscribe('net.server.socket', this.onServer)
    } else {
      hook(this)
    }
    return this
  }

  stop (): void {
    if (NET_CHANNELS_PUBLISH) {
      dc.unsubscribe('net.client.socket', this.onClient)
      dc.unsubscribe('net.server.socket', this.onServer)
    } else {
      unhookTracker(this)
    }
  }

  /** a socket the prototype hooks saw (where the channels publish nothing) */
  seen (socket: Socket, side: 'client' | 'server'): void {
    this.track(socket, side)
  }

  private readonly waiters: Array<{ count: number, resolve: () => void }> = []

  /** resolves once `count` sockets have been accepted by any server */
  async acceptedAtLeast (count: number): Promise<void> {
    if (this.accepted >= count) return
    await new Promise<void>(resolve => this.waiters.push({ count, resolve }))
  }

  private track (socket: Socket, side: 'client' | 'server'): void {
    const entry: TrackedSocket = {
      socket,
      side,
      createdAt: performance.now(),
      closed: new Promise<void>(resolve => {
        socket.once('close', () => {
          entry.closedAt = performance.now()
          resolve()
        })
      })
    }
    this.sockets.push(entry)
    if (side === 'server') {
      const accepted = ++this.accepted
      if (this.waiters.length === 0) return
      for (const w of this.waiters.filter(w => w.count <= accepted)) {
        this.waiters.splice(this.waiters.indexOf(w), 1)
        w.resolve()
      }
    }
  }

  get clients (): TrackedSocket[] { return this.sockets.filter(s => s.side === 'client') }
  get servers (): TrackedSocket[] { return this.sockets.filter(s => s.side === 'server') }
  open (side?: 'client' | 'server'): TrackedSocket[] {
    return this.sockets.filter(s => s.closedAt == null && (side == null || s.side === side))
  }
}

export interface TrappedError {
  kind: 'uncaughtException' | 'unhandledRejection'
  error: unknown
  /** what the round was doing when it was thrown */
  phase: string
}

/** Collects uncaught exceptions and unhandled rejections while installed. */
export class ErrorTrap {
  readonly errors: TrappedError[] = []
  /** set by the round as it goes, so each error says when it came */
  phase = 'setup'
  private readonly onException = (error: unknown): void => { this.errors.push({ kind: 'uncaughtException', error, phase: this.phase }) }
  private readonly onRejection = (error: unknown): void => { this.errors.push({ kind: 'unhandledRejection', error, phase: this.phase }) }

  install (): this {
    process.on('uncaughtException', this.onException)
    process.on('unhandledRejection', this.onRejection)
    return this
  }

  uninstall (): void {
    process.off('uncaughtException', this.onException)
    process.off('unhandledRejection', this.onRejection)
  }

  /** errors trapped since `mark` (an earlier `errors.length`) */
  since (mark: number): TrappedError[] { return this.errors.slice(mark) }
}

export type Bounded<T> = { ok: true, value: T, ms: number } | { ok: false, error?: unknown, ms: number, timedOut: boolean }

/**
 * Awaits `promise` for at most `ms`, clearing its own timer either way so
 * that the bound itself leaves no handle behind.
 */
export async function within<T> (promise: Promise<T>, ms: number): Promise<Bounded<T>> {
  const start = performance.now()
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<'timeout'>(resolve => { timer = setTimeout(() => { resolve('timeout') }, ms) })
  try {
    const result = await Promise.race([promise.then(value => ({ value }), error => ({ error })), timeout])
    const elapsed = performance.now() - start
    if (result === 'timeout') return { ok: false, ms: elapsed, timedOut: true }
    if ('error' in result) return { ok: false, error: result.error, ms: elapsed, timedOut: false }
    return { ok: true, value: result.value, ms: elapsed }
  } finally {
    clearTimeout(timer)
  }
}

export function describeError (err: unknown): string {
  const depth = Number(process.env.CHAOS_STACK ?? 7)
  if (err instanceof Error) return `${err.name}: ${err.message}${err.stack != null ? `\n${err.stack.split('\n').slice(1, depth + 1).join('\n')}` : ''}`
  return String(err)
}

/**
 * With CHAOS_TRACE=1, remembers where each live timer and TCP handle was
 * created, so a leak report can say whose it is. Off by default: it is slow.
 */
const origins = new Map<number, { type: string, stack: string, resource: WeakRef<object> }>()
if (process.env.CHAOS_TRACE != null) {
  createHook({
    init (id, type, _trigger, resource) {
      if ((WATCHED_RESOURCES as readonly string[]).includes(type)) origins.set(id, { type, resource: new WeakRef(resource), stack: new Error().stack?.split('\n').slice(5, 16).join('\n') ?? '' })
    },
    destroy (id) { origins.delete(id) }
  }).enable()
}

export function traceOrigins (types: string[]): string {
  const live = (o: { resource: WeakRef<object> }): boolean => {
    const r = o.resource.deref() as { hasRef?: () => boolean } | undefined
    return r != null && (typeof r.hasRef !== 'function' || r.hasRef())
  }
  return [...origins.values()].filter(o => types.includes(o.type) && live(o)).map(o => {
    const t = o.resource.deref() as { _idleTimeout?: number, _destroyed?: boolean, _idleStart?: number } | undefined
    return `${o.type} (timeout ${t?._idleTimeout}ms, started ${t?._idleStart}, destroyed ${t?._destroyed}, now ${Math.round(performance.now())}) created\n${o.stack}`
  }).join('\n---\n')
}
