import { Observable, Subject } from 'rxjs'
import { socketClosed$ } from './inbound-socket.ts'
import type { InboundSocket } from './types.ts'
import type { Socket } from 'node:net'

/**
 * The sockets a listener or a dialer owns, from the moment it has them until
 * their own `'close'`, and the upgrades still running on them. Closing waits
 * on `drained()`; the close deadline goes through `destroyAfter` /
 * `destroyAll`, which count the sockets they had to destroy (`stragglers`).
 */
export interface OwnedSockets {
  readonly size: number
  readonly stragglers: number
  /** owns the socket until its 'close'; a socket error is logged, never left to reach the process */
  add(socket: Socket): void
  /**
   * Calls `closed` when the owned socket closes (replacing the one set
   * before; undefined: none). The owner of the socket's lifetime hears of
   * its end from the registry's own 'close' listener: no listener of its own.
   */
  onClose(socket: Socket, closed: (() => void) | undefined): void
  /**
   * The socket's closed signal (`InboundSocket.closed$`): emits once and
   * completes when the socket has closed, at once for a socket already
   * closed. Driven by the registry's own 'close' listener, and only once
   * someone subscribes: a socket nobody watches pays for nothing. A socket
   * the registry does not own is watched through its own 'close' event.
   */
  closed$(socket: Socket): Observable<void>
  /**
   * The socket sets out through the pipeline: `inbound` is rejected with
   * `'pipeline-timeout'` after `ms` unless it is claimed (or closes) first.
   */
  hold(inbound: Held, ms: number): void
  /**
   * The socket reaches its lifetime: ends its pipeline deadline. True the
   * first time; false for a socket claimed before, or never held.
   */
  claim(socket: Socket): boolean
  /** rejects with `reason` every socket held and not yet claimed (the stage that held them has ended) */
  rejectHeld(reason: string): void
  /** an upgrade running on an owned socket: `drained()` waits for it to settle too */
  upgrading(settled: Promise<unknown>): void
  /** destroys the socket after `ms` unless it has closed by then */
  destroyAfter(socket: Socket, ms: number): void
  /** destroys every socket still open */
  destroyAll(): void
  /**
   * Resolves when no socket is left open and no upgrade is left running, or,
   * for the upgrades, when `giveUp` resolves first (an upgrade that ignores
   * its signal is not waited for past the close deadline).
   */
  drained(giveUp: Promise<void>): Promise<void>
  /** a snapshot of the sockets still open */
  values(): Socket[]
}

/** what the registry needs of a socket it holds to a deadline */
export type Held = Pick<InboundSocket, 'socket' | 'reject'>

/** a socket's slot once its closed signal is watched: the owner's close callback, and the signal */
class Watched {
  readonly signal = new Subject<void>()
  constructor (public closed: (() => void) | undefined) {}
}

export function ownedSockets (onError: (err: Error) => void): OwnedSockets {
  const upgrades = new Set<Promise<unknown>>()
  const timers = new Map<Socket, ReturnType<typeof setTimeout>>()
  // the sockets on their way through the pipeline, each with its deadline
  const held = new Map<Socket, { inbound: Held, timer: ReturnType<typeof setTimeout> }>()
  const release = (socket: Socket): Held | undefined => {
    const entry = held.get(socket)
    clearTimeout(entry?.timer)
    held.delete(socket)
    return entry?.inbound
  }
  let waiting: Array<() => void> = []
  let stragglers = 0

  const destroy = (socket: Socket): void => {
    if (!socket.destroyed) {
      stragglers++
      socket.destroy()
    }
  }

  // an unwatched socket holds its owner's callback only: no Subject until someone watches
  // the sockets owned until their own 'close', each with its slot: one
  // 'close' handler serves them all (Node calls it with the socket as
  // `this`), so owning a socket costs a map entry and a slot in its listener
  // list, no closure and no `once` wrapper of its own
  const open = new Map<Socket, Watched | (() => void) | undefined>()
  const onClose = function (this: Socket): void {
    if (!open.has(this)) return
    const slot = open.get(this)
    open.delete(this)
    const timer = timers.get(this)
    if (timer != null) {
      clearTimeout(timer)
      timers.delete(this)
    }
    release(this)
    if (slot instanceof Watched) {
      slot.closed?.()
      slot.signal.next()
      slot.signal.complete()
    } else {
      slot?.()
    }
    if (open.size === 0 && waiting.length > 0) {
      const resolve = waiting
      waiting = []
      resolve.forEach(fn => { fn() })
    }
  }

  return {
    get size () { return open.size },
    get stragglers () { return stragglers },
    add (socket) {
      if (!socket.closed && !open.has(socket)) {
        open.set(socket, undefined)
        socket.on('close', onClose)
        // one shared handler: an idle connection costs no closure here
        socket.on('error', onError)
      }
    },
    onClose (socket, closed) {
      const slot = open.get(socket)
      if (slot instanceof Watched) {
        slot.closed = closed
      } else if (open.has(socket)) {
        open.set(socket, closed)
      }
    },
    closed$: (socket) => new Observable<void>((subscriber) => {
      if (!open.has(socket)) {
        return socketClosed$(socket).subscribe(subscriber)
      }
      let slot = open.get(socket)
      if (!(slot instanceof Watched)) {
        slot = new Watched(slot)
        open.set(socket, slot)
      }
      return slot.signal.subscribe(subscriber)
    }),
    hold (inbound, ms) {
      if (open.has(inbound.socket)) {
        const timer = setTimeout(() => { release(inbound.socket)?.reject('pipeline-timeout') }, ms)
        held.set(inbound.socket, { inbound, timer })
      }
    },
    claim: (socket) => release(socket) !== undefined,
    rejectHeld (reason) {
      // a snapshot: each rejection closes its socket
      for (const socket of [...held.keys()]) {
        release(socket)?.reject(reason)
      }
    },
    upgrading (settled) {
      upgrades.add(settled)
      void settled.finally(() => upgrades.delete(settled))
    },
    destroyAfter (socket, ms) {
      if (socket.closed || timers.has(socket)) {
        return
      }
      timers.set(socket, setTimeout(() => { destroy(socket) }, ms))
    },
    destroyAll () {
      [...open.keys()].forEach(destroy)
    },
    async drained (giveUp) {
      if (open.size > 0) {
        await new Promise<void>((resolve) => { waiting.push(resolve) })
      }
      if (upgrades.size > 0) {
        await Promise.race([Promise.all(upgrades), giveUp])
      }
    },
    values () {
      return [...open.keys()]
    }
  }
}

/**
 * A close deadline over what the sockets' own teardown cannot bound: the
 * upgrades that ignore their signal (`drained` stops waiting for them once
 * `reached` resolves, after `ms`), and a caller's `signal`, whose abort
 * destroys every socket still open at once. The sockets themselves are
 * bounded by the stream: at a close each one's teardown destroys it, or ends
 * it gracefully under its own `destroyAfter`. `clear()` drops the timer and
 * the signal's listener.
 */
export function closeDeadline (sockets: OwnedSockets, ms: number, signal?: AbortSignal): { reached: Promise<void>, clear(): void } {
  let reach = (): void => {}
  const reached = new Promise<void>((resolve) => { reach = resolve })
  const destroyNow = (): void => {
    reach()
    sockets.destroyAll()
  }
  const timer = setTimeout(reach, ms)
  signal?.addEventListener('abort', destroyNow, { once: true })
  return {
    reached,
    clear: () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', destroyNow)
    }
  }
}
