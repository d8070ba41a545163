import type { Socket } from 'node:net'

/**
 * Counts sockets by key from the moment they are added until their 'close'.
 * One instance belongs to one subscription; `dispose` detaches it from every
 * socket it still watches.
 */
export class OpenSockets {
  private readonly counts = new Map<string, number>()
  private readonly watched = new Map<Socket, () => void>()

  constructor (private readonly onClose?: () => void) {}

  get total (): number {
    return this.watched.size
  }

  count (key: string): number {
    return this.counts.get(key) ?? 0
  }

  /** Counts `socket` under `key` until it closes; a socket already closed is not counted. */
  add (key: string, socket: Socket): void {
    if (socket.closed || this.watched.has(socket)) {
      return
    }
    const closed = (): void => {
      this.watched.delete(socket)
      const left = this.count(key) - 1
      if (left > 0) {
        this.counts.set(key, left)
      } else {
        this.counts.delete(key)
      }
      this.onClose?.()
    }
    this.counts.set(key, this.count(key) + 1)
    this.watched.set(socket, closed)
    socket.once('close', closed)
  }

  dispose (): void {
    for (const [socket, closed] of this.watched) {
      socket.off('close', closed)
    }
    this.watched.clear()
    this.counts.clear()
  }
}
