import { Observable } from 'rxjs'
import type { InboundSocket } from './types.ts'
import type { Socket } from 'node:net'
import type { Observer } from 'rxjs'

/** what the registry needs of a socket it holds to a deadline */
export type Held = Pick<InboundSocket, 'socket' | 'reject'>

/**
 * The sockets a listener or a dialer owns, from the moment it has them until
 * their own `'close'`, and the upgrades still running on them. Closing waits
 * on `drained()`, under its deadline; the sockets it or `destroyAfter` had
 * to destroy are counted (`stragglers`).
 */
export type OwnedSockets = ReturnType<typeof ownedSockets>

/**
 * A registry of owned sockets ({@link OwnedSockets}); `onError` hears every
 * error of a socket, so none reaches the process, and `closed` each close of
 * an owned socket, once the registry has counted it (`size` is the sockets
 * still open)
 */
export function ownedSockets (onError: (err: Error) => void, closed?: () => void) {
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
  const waiting: Array<() => void> = []
  let stragglers = 0

  const destroy = (socket: Socket): void => {
    if (!socket.destroyed) {
      stragglers++
      socket.destroy()
    }
  }

  // the sockets owned until their own 'close', each with the lifetime its
  // 'close' completes: one 'close' handler serves them all (Node calls it
  // with the socket as `this`), so owning a socket costs a map entry and a
  // slot in its listener list, no closure and no `once` wrapper of its own
  const open = new Map<Socket, Pick<Observer<unknown>, 'complete'> | undefined>()
  // the closed$ subscribers of the sockets someone watches
  const watchers = new Map<Socket, Array<Observer<void>>>()
  const onClose = function (this: Socket): void {
    if (!open.has(this)) return
    const lifetime = open.get(this)
    const watching = watchers.get(this) ?? []
    open.delete(this)
    watchers.delete(this)
    clearTimeout(timers.get(this))
    timers.delete(this)
    release(this)
    lifetime?.complete()
    for (const watcher of watching) {
      watcher.next()
      watcher.complete()
    }
    closed?.()
    if (open.size === 0) waiting.splice(0).forEach(fn => { fn() })
  }

  return {
    get size (): number { return open.size },
    get stragglers (): number { return stragglers },
    /** owns the socket until its 'close'; a socket error is logged, never left to reach the process */
    add (socket: Socket): void {
      if (open.has(socket)) {
        return
      }
      // one shared handler: an idle connection costs no closure here. Even a
      // socket already closed gets it: a connect that failed at once (a
      // taken 4-tuple) emits its error on the next tick
      socket.on('error', onError)
      if (!socket.closed) {
        open.set(socket, undefined)
        socket.on('close', onClose)
      }
    },
    /**
     * Completes `lifetime` when the owned socket closes (replacing the one
     * set before; undefined: none). The owner of the socket's lifetime hears
     * of its end from the registry's own 'close' listener: no listener of its own.
     */
    onClose (socket: Socket, lifetime: Pick<Observer<unknown>, 'complete'> | undefined): void {
      if (open.has(socket)) open.set(socket, lifetime)
    },
    /**
     * The socket's closed signal (`InboundSocket.closed$`): emits once and
     * completes when the socket has closed, at once for a socket already
     * closed. Driven by the registry's own 'close' listener, through a list
     * of subscribers per socket made only once someone subscribes: a socket
     * nobody watches pays for nothing. A socket the registry does not own
     * counts as closed: the listener owns each socket from its accept, so
     * one it no longer owns has closed.
     */
    closed$: (socket: Socket) => new Observable<void>((subscriber) => {
      if (!open.has(socket)) {
        subscriber.next()
        subscriber.complete()
        return
      }
      const watching = watchers.get(socket)
      if (watching === undefined) watchers.set(socket, [subscriber])
      else watching.push(subscriber)
      return () => {
        // gone once the socket has closed; while it is open, it holds this subscriber
        const watching = watchers.get(socket)
        const at = watching?.indexOf(subscriber) ?? -1
        if (watching === undefined || at < 0) return
        watching.splice(at, 1)
        if (watching.length === 0) watchers.delete(socket)
      }
    }),
    /**
     * The socket sets out through the pipeline: `inbound` is rejected with
     * `'pipeline-timeout'` after `ms` unless it is claimed (or closes) first.
     */
    hold (inbound: Held, ms: number): void {
      if (open.has(inbound.socket)) {
        const timer = setTimeout(() => { release(inbound.socket)?.reject('pipeline-timeout') }, ms)
        held.set(inbound.socket, { inbound, timer })
      }
    },
    /**
     * The socket reaches its lifetime: ends its pipeline deadline. True the
     * first time; false for a socket claimed before, or never held.
     */
    claim: (socket: Socket): boolean => release(socket) !== undefined,
    /** rejects with `reason` every socket held and not yet claimed (the stage that held them has ended) */
    rejectHeld (reason: string): void {
      // a snapshot: each rejection closes its socket
      for (const socket of [...held.keys()]) {
        release(socket)?.reject(reason)
      }
    },
    /** an upgrade running on an owned socket: `drained()` waits for it to settle too */
    upgrading (settled: Promise<unknown>): void {
      upgrades.add(settled)
      void settled.finally(() => upgrades.delete(settled))
    },
    /** destroys the socket after `ms` unless it has closed by then */
    destroyAfter (socket: Socket, ms: number): void {
      if (socket.closed || timers.has(socket)) {
        return
      }
      timers.set(socket, setTimeout(() => { destroy(socket) }, ms))
    },
    /**
     * Resolves when no socket is left open and no upgrade is left running,
     * within a close deadline: after `ms` every socket still open is
     * destroyed and an upgrade that ignores its signal is no longer waited
     * for, and `signal`'s abort (before the call too) does both at once.
     * The sockets are normally ended sooner by their owner (at a close each
     * one's teardown destroys it, or ends it gracefully under its own
     * `destroyAfter`); the deadline bounds a socket whose teardown never
     * runs, such as one whose user `lifetime` keeps its source subscribed.
     * Leaves no timer and no listener behind.
     */
    async drained (ms: number, signal?: AbortSignal): Promise<void> {
      let giveUp = (): void => {}
      const deadline = new Promise<void>((resolve) => { giveUp = resolve })
      const destroyAll = (): void => {
        giveUp()
        for (const socket of [...open.keys()]) destroy(socket)
      }
      // the bound when a socket's own teardown never comes (a user's lifetime that keeps its source subscribed)
      const timer = setTimeout(destroyAll, ms)
      if (signal?.aborted === true) destroyAll()
      signal?.addEventListener('abort', destroyAll, { once: true })
      try {
        if (open.size > 0) await new Promise<void>((resolve) => { waiting.push(resolve) })
        if (upgrades.size > 0) await Promise.race([Promise.all(upgrades), deadline])
      } finally {
        clearTimeout(timer)
        signal?.removeEventListener('abort', destroyAll)
      }
    },
    /** a snapshot of the sockets still open */
    values: (): Socket[] => [...open.keys()]
  }
}
