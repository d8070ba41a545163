import { TimeoutError } from '@libp2p/interface'
import { AbstractMultiaddrConnection } from '@libp2p/utils'
import type { AbortOptions } from '@libp2p/interface'
import type { AbstractMultiaddrConnectionInit, SendResult } from '@libp2p/utils'
import type { Socket } from 'node:net'

/** How long a graceful close may take before the socket is destroyed, as in `@libp2p/tcp` */
export const DEFAULT_CLOSE_TIMEOUT = 500

/** How long a connection may go without traffic before it is aborted, as in `@libp2p/tcp` (2 minutes) */
const DEFAULT_INACTIVITY_TIMEOUT = 120_000

export interface SocketConnectionInit extends AbstractMultiaddrConnectionInit {
  /** a connected socket whose owner listens for its 'error' (the listener's and the dialer's registries do) */
  socket: Socket
  /** ms without traffic after which the connection is aborted with a `TimeoutError` (0: never; default 2 minutes, as in `@libp2p/tcp`) */
  inactivityTimeout?: number
  /** how long a graceful close may take before the socket is destroyed (default 500 ms) */
  closeTimeout?: number
}

/**
 * A `net.Socket` as a `MultiaddrConnection`, on `@libp2p/utils`'
 * `AbstractMultiaddrConnection` as `@libp2p/tcp`'s is. Bytes go from socket
 * events straight into the message stream and from `sendData` straight into
 * `socket.write`.
 */
export class SocketConnection extends AbstractMultiaddrConnection {
  private readonly socket: Socket
  private readonly closeTimeout: number
  /** an upgrade is settling: the socket's end waits for it (`holdCloseUntil`) */
  private holding = false
  /** delivers the socket's end that waited, once */
  private release?: () => void

  constructor (init: SocketConnectionInit) {
    super(init)
    const { socket, remoteAddr } = init
    this.socket = socket
    this.closeTimeout = init.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT

    // `on` rather than `once`: end, close and timeout come once per socket
    // (or are harmless again), and an idle connection keeps no once-wrappers.
    // No 'error' listener of its own: the socket's owner has one (the
    // listener's and the dialer's registries), and the error that closed the
    // socket is read from `socket.errored` at its 'close'
    socket.on('data', (buf: Buffer) => { this.onData(buf) })
    socket.on('drain', () => { this.safeDispatchEvent('drain') })
    socket.on('end', () => { this.transportEnded() })
    socket.on('close', (hadError: boolean) => {
      const err = hadError ? socket.errored ?? new Error(`connection to ${remoteAddr.toString()} closed with a transmission error`) : undefined
      if (err != null) this.log('socket error on %a - %e', remoteAddr, err)
      this.transportEnded(err)
    })
    socket.on('timeout', () => {
      this.log('inactivity timeout on %a', remoteAddr)
      this.abort(new TimeoutError(`connection to ${remoteAddr.toString()} was inactive for ${socket.timeout ?? 0}ms`))
    })
    socket.setTimeout(init.inactivityTimeout ?? DEFAULT_INACTIVITY_TIMEOUT)
  }

  /**
   * Keeps the socket's end, error or close from the layers above until
   * `settled` has settled (or `closeTimeout` after the socket ended). An
   * upgrade that is still running when the peer goes (waiting on a slow
   * connection gater, say) then finishes over a stream that is still open
   * instead of building a muxer over a closed one, whose abort path would
   * throw outside any promise; the close arrives right after.
   */
  holdCloseUntil (settled: Promise<unknown>): void {
    this.holding = true
    void settled.finally(() => {
      this.holding = false
      this.release?.()
    })
  }

  private transportEnded (err?: Error): void {
    const deliver = (): void => { err != null ? this.abort(err) : this.onTransportClosed() }
    if (!this.holding) {
      deliver()
    } else if (this.release == null) {
      // the first event of the end is the one delivered
      const timer = setTimeout(() => { this.release?.() }, this.closeTimeout).unref()
      this.release = () => {
        clearTimeout(timer)
        this.release = undefined
        this.holding = false
        deliver()
      }
    }
  }

  sendData (data: Parameters<AbstractMultiaddrConnection['sendData']>[0]): SendResult {
    // several buffers (a frame's header and body) leave corked, as one
    // writev; a lone buffer is written plainly, corking it only costs
    let corked = false
    let canSendMore = true
    for (const buf of data) {
      if (!corked && buf.byteLength < data.byteLength) {
        corked = true
        this.socket.cork()
      }
      canSendMore = this.socket.write(buf)
    }
    if (corked) this.socket.uncork()
    return { sentBytes: data.byteLength, canSendMore }
  }

  /** FIN after the queued bytes, then destroy; destroyed at once on abort, or at `closeTimeout` */
  async sendClose (options?: AbortOptions): Promise<void> {
    const socket = this.socket
    if (socket.closed) return
    const destroy = (): void => { socket.destroy() }
    const deadline = setTimeout(destroy, this.closeTimeout)
    options?.signal?.addEventListener('abort', destroy, { once: true })
    await new Promise<void>((resolve) => {
      socket.once('close', resolve)
      socket.end(destroy)
    })
    clearTimeout(deadline)
    options?.signal?.removeEventListener('abort', destroy)
  }

  sendReset (): void {
    // a reset cannot follow a graceful end that has begun (uv_shutdown and
    // uv_tcp_close_reset do not mix), and a unix socket (no peer address) has no RST at all
    if (this.socket.destroyed || this.socket.writableEnded || this.socket.connecting || this.socket.remoteAddress === undefined) {
      this.socket.destroy()
      return
    }
    try {
      this.socket.resetAndDestroy()
    } catch {
      this.socket.destroy()
    }
  }

  sendPause (): void {
    this.socket.pause()
  }

  sendResume (): void {
    this.socket.resume()
  }
}
