import { Observable } from 'rxjs'
import type { Socket } from 'node:net'

/**
 * A socket's closed signal when no registry owns the socket (`acceptSockets`,
 * test fixtures): emits once and completes on the socket's 'close' (at once
 * if it has closed), with a 'close' listener of its own per subscriber. The
 * transport does not use it: its listener's registry drives the signal.
 */
export function socketClosed$ (socket: Socket): Observable<void> {
  return new Observable<void>((subscriber) => {
    const closed = (): void => {
      subscriber.next()
      subscriber.complete()
    }
    if (socket.closed) {
      closed()
      return
    }
    socket.once('close', closed)
    return () => { socket.off('close', closed) }
  })
}

/** an 'error' listener for a socket that has none: the socket closes after an error, and its 'close' is what the pipeline follows */
export function ignoreSocketError (): void {}
