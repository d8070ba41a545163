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
  const open = new Set<Socket>()
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

  // one handler for every socket (Node calls it with the socket as `this`):
  // an idle connection costs no closure of its own here
  function onClose (this: Socket): void {
    open.delete(this)
    const timer = timers.get(this)
    if (timer != null) {
      clearTimeout(timer)
      timers.delete(this)
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
      open.add(socket)
      socket.on('error', onError)
      socket.once('close', onClose)
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
      open.forEach(destroy)
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
      return [...open]
    }
  }
}
