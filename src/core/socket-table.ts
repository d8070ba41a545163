import type { Socket } from 'node:net'

/**
 * Sockets followed from the moment they are added until their own
 * `'close'`, each with a value of the follower's (a group key, a callback).
 * One `'close'` handler serves every socket of a table (Node calls it with
 * the socket as `this`), so following a socket costs one map entry and one
 * slot in its listener list: no closure, no `once` wrapper of its own. The
 * owner is told about each close through the `closed` given at construction.
 *
 * It is the one registry behind the listener's and the dialer's owned
 * sockets (`src/core/owned.ts`), which drives each socket's `closed$`:
 * operators follow a socket to its end there, with no table of their own.
 */
export class SocketTable<V> {
  private readonly entries = new Map<Socket, V>()
  private readonly onClose: (this: Socket) => void

  constructor (closed: (socket: Socket, value: V) => void) {
    const entries = this.entries
    this.onClose = function (this: Socket): void {
      // a socket added while already closed, or forgotten, was never (or is no longer) listened to
      if (!entries.has(this)) {
        return
      }
      const value = entries.get(this) as V
      entries.delete(this)
      closed(this, value)
    }
  }

  /** how many sockets are followed (open, as far as this table has seen) */
  get size (): number {
    return this.entries.size
  }

  has (socket: Socket): boolean {
    return this.entries.has(socket)
  }

  get (socket: Socket): V | undefined {
    return this.entries.get(socket)
  }

  /**
   * Follows `socket` with `value` until its `'close'`. A socket that has
   * already closed, or that this table already follows, is left as it is
   * (returns false).
   */
  add (socket: Socket, value: V): boolean {
    if (socket.closed || this.entries.has(socket)) {
      return false
    }
    this.entries.set(socket, value)
    socket.on('close', this.onClose)
    return true
  }

  /** replaces the value of a socket this table follows */
  set (socket: Socket, value: V): void {
    if (this.entries.has(socket)) {
      this.entries.set(socket, value)
    }
  }

  /** stops following `socket` without telling the owner */
  forget (socket: Socket): void {
    if (this.entries.delete(socket)) {
      socket.off('close', this.onClose)
    }
  }

  /** a snapshot of the sockets followed */
  sockets (): Socket[] {
    return [...this.entries.keys()]
  }

  /** stops following every socket, without telling the owner */
  clear (): void {
    for (const socket of this.entries.keys()) {
      socket.off('close', this.onClose)
    }
    this.entries.clear()
  }
}
