import { SocketTable } from '../../src/core/socket-table.ts'
import type { Socket } from 'node:net'

/**
 * Counts sockets by key from the moment they are added until their 'close'.
 * One instance belongs to one subscription; `dispose` detaches it from every
 * socket it still watches.
 */
export class OpenSockets {
  private readonly counts = new Map<string, number>()
  private readonly table: SocketTable<string>

  constructor (onClose?: () => void) {
    this.table = new SocketTable((_socket, key) => {
      const left = this.count(key) - 1
      if (left > 0) {
        this.counts.set(key, left)
      } else {
        this.counts.delete(key)
      }
      onClose?.()
    })
  }

  get total (): number {
    return this.table.size
  }

  count (key: string): number {
    return this.counts.get(key) ?? 0
  }

  /** Counts `socket` under `key` until it closes; a socket already closed is not counted. */
  add (key: string, socket: Socket): void {
    if (this.table.add(socket, key)) {
      this.counts.set(key, this.count(key) + 1)
    }
  }

  dispose (): void {
    this.table.clear()
    this.counts.clear()
  }
}
