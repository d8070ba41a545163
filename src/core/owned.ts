import { SocketTable } from './socket-table.ts'
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

export function ownedSockets (onError: (err: Error) => void): OwnedSockets {
  const upgrades = new Set<Promise<unknown>>()
  const timers = new Map<Socket, ReturnType<typeof setTimeout>>()
  let waiting: Array<() => void> = []
  let stragglers = 0

  const destroy = (socket: Socket): void => {
    if (!socket.destroyed) {
      stragglers++
      socket.destroy()
    }
  }

  const open = new SocketTable<(() => void) | undefined>((socket, closed) => {
    const timer = timers.get(socket)
    if (timer != null) {
      clearTimeout(timer)
      timers.delete(socket)
    }
    closed?.()
    if (open.size === 0 && waiting.length > 0) {
      const resolve = waiting
      waiting = []
      resolve.forEach(fn => { fn() })
    }
  })

  return {
    get size () { return open.size },
    get stragglers () { return stragglers },
    add (socket) {
      if (open.add(socket, undefined)) {
        // one shared handler: an idle connection costs no closure here
        socket.on('error', onError)
      }
    },
    onClose (socket, closed) {
      open.set(socket, closed)
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
      open.sockets().forEach(destroy)
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
      return open.sockets()
    }
  }
}

/**
 * A close deadline over owned sockets: after `ms`, or at once when `signal`
 * aborts, destroys every socket still open and resolves `reached` (for
 * `drained`). `clear()` drops the timer and the signal's listener.
 */
export function closeDeadline (sockets: OwnedSockets, ms: number, signal?: AbortSignal): { reached: Promise<void>, clear(): void } {
  let reach = (): void => {}
  const reached = new Promise<void>((resolve) => { reach = resolve })
  const destroyNow = (): void => {
    reach()
    sockets.destroyAll()
  }
  const timer = setTimeout(destroyNow, ms)
  signal?.addEventListener('abort', destroyNow, { once: true })
  return {
    reached,
    clear: () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', destroyNow)
    }
  }
}
