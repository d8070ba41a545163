import type { Socket } from 'node:net'

/**
 * The sockets a listener or a dialer owns, from the moment it has them until
 * their own `'close'`. Closing waits on `drained()`; the close deadline goes
 * through `destroyAfter` / `destroyAll`, which count the sockets they had to
 * destroy (`stragglers`).
 */
export interface OwnedSockets {
  readonly size: number
  readonly stragglers: number
  /** owns the socket until its 'close'; `onError` keeps a socket error from ever reaching the process */
  add(socket: Socket, onError: (err: Error) => void): void
  /** destroys the socket after `ms` unless it has closed by then */
  destroyAfter(socket: Socket, ms: number): void
  /** destroys every socket still open */
  destroyAll(): void
  /** resolves when no socket is left open */
  drained(): Promise<void>
  /** a snapshot of the sockets still open */
  values(): Socket[]
}

export function ownedSockets (): OwnedSockets {
  const open = new Set<Socket>()
  const timers = new Map<Socket, ReturnType<typeof setTimeout>>()
  let waiting: Array<() => void> = []
  let stragglers = 0

  const destroy = (socket: Socket): void => {
    if (!socket.destroyed) {
      stragglers++
      socket.destroy()
    }
  }

  return {
    get size () { return open.size },
    get stragglers () { return stragglers },
    add (socket, onError) {
      open.add(socket)
      socket.on('error', onError)
      socket.once('close', () => {
        open.delete(socket)
        clearTimeout(timers.get(socket))
        timers.delete(socket)
        if (open.size === 0 && waiting.length > 0) {
          const resolve = waiting
          waiting = []
          resolve.forEach(fn => { fn() })
        }
      })
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
    async drained () {
      if (open.size === 0) {
        return
      }
      await new Promise<void>((resolve) => { waiting.push(resolve) })
    },
    values () {
      return [...open]
    }
  }
}
