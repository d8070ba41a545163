import { TimeoutError } from '@libp2p/interface'
import { AbstractMultiaddrConnection } from '@libp2p/utils'
import { TypedEventEmitter } from 'main-event'
import type { AbortOptions, CounterGroup, Logger, MessageStreamDirection, MultiaddrConnection } from '@libp2p/interface'
import type { EventHandler } from 'main-event'
import type { SendResult } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Socket } from 'node:net'

/** the byte list the message stream hands to `sendData` (uint8arraylist 3, as @libp2p/utils uses) */
type SendList = Parameters<AbstractMultiaddrConnection['sendData']>[0]

/** each socket's connection, for the handlers all sockets share */
const connections = new WeakMap<Socket, SocketConnection>()

const nativeAdd = EventTarget.prototype.addEventListener
const nativeRemove = EventTarget.prototype.removeEventListener

/** Inactivity timeout when none is configured, as in `@libp2p/tcp` */
export const DEFAULT_INACTIVITY_TIMEOUT = 2 * 60_000

/** How long a graceful close may take before the socket is destroyed, as in `@libp2p/tcp` */
export const DEFAULT_CLOSE_TIMEOUT = 500

export interface SocketConnectionInit {
  socket: Socket
  remoteAddr: Multiaddr
  localAddr?: Multiaddr
  direction: MessageStreamDirection
  /** the socket is a unix domain socket (no RST exists there) */
  unix: boolean
  inactivityTimeout?: number
  closeTimeout?: number
  log: Logger
  metrics?: CounterGroup
  metricPrefix?: string
  /**
   * Keep plain listeners on the native `EventTarget` (see `nativeListenersWork`).
   * Default: what the probe found on this runtime. Tests force `false`.
   */
  nativeListeners?: boolean
}

/**
 * A `net.Socket` as a `MultiaddrConnection`. Bytes go from socket events
 * straight into the message stream and from `sendData` straight into
 * `socket.write`: nothing on this path allocates per chunk beyond what the
 * socket itself does.
 */
class SocketConnection extends AbstractMultiaddrConnection {
  private readonly socket: Socket
  private readonly unix: boolean
  private readonly closeTimeout: number

  constructor (init: SocketConnectionInit) {
    super({ ...init, remoteAddr: init.remoteAddr })

    const { socket } = init
    this.socket = socket
    this.unix = init.unix
    this.closeTimeout = init.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT

    // the same handlers for every socket, which find their connection by
    // socket: an idle connection pays for no closure and no `once` wrapper
    // (end, close and timeout come once per socket, or are harmless again)
    connections.set(socket, this)
    socket.on('data', SocketConnection.onSocketData)
    socket.on('drain', SocketConnection.onSocketDrain)
    socket.on('error', SocketConnection.onSocketError)
    socket.on('end', SocketConnection.onSocketEnd)
    socket.on('close', SocketConnection.onSocketClose)
    socket.on('timeout', SocketConnection.onSocketTimeout)
    socket.setTimeout(init.inactivityTimeout ?? DEFAULT_INACTIVITY_TIMEOUT)
  }

  private static onSocketData (this: Socket, buf: Buffer): void {
    connections.get(this)?.onData(buf)
  }

  private static onSocketDrain (this: Socket): void {
    connections.get(this)?.safeDispatchEvent('drain')
  }

  private static onSocketError (this: Socket, err: Error): void {
    const conn = connections.get(this)
    if (conn == null) {
      return
    }
    conn.log('socket error on %a - %e', conn.remoteAddr, err)
    conn.transportEnded(err)
  }

  // the remote sent FIN: with allowHalfOpen off Node answers with its own
  // FIN and 'close' follows, so only the readable end is reported here
  private static onSocketEnd (this: Socket): void {
    connections.get(this)?.transportEnded()
  }

  private static onSocketClose (this: Socket, hadError: boolean): void {
    const conn = connections.get(this)
    if (conn == null) {
      return
    }
    conn.transportEnded(hadError ? new Error(`connection to ${conn.remoteAddr.toString()} closed with a transmission error`) : undefined)
  }

  private static onSocketTimeout (this: Socket): void {
    const conn = connections.get(this)
    if (conn == null) {
      return
    }
    conn.log('inactivity timeout on %a', conn.remoteAddr)
    conn.abort(new TimeoutError(`connection to ${conn.remoteAddr.toString()} was inactive for ${this.timeout}ms`))
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
    this.hold = settled
    void settled.finally(() => {
      this.hold = undefined
      this.releaseClose?.()
    })
  }

  private hold?: Promise<unknown>
  private releaseClose?: () => void

  private transportEnded (err?: Error): void {
    const deliver = (): void => {
      if (err != null) {
        this.abort(err)
      } else {
        this.onTransportClosed()
      }
    }

    if (this.hold == null) {
      deliver()
      return
    }
    if (this.releaseClose != null) {
      // the first event of the end is the one delivered
      return
    }
    const timer = setTimeout(() => { this.releaseClose?.() }, this.closeTimeout)
    timer.unref()
    this.releaseClose = () => {
      clearTimeout(timer)
      this.releaseClose = undefined
      this.hold = undefined
      deliver()
    }
  }

  sendData (data: SendList): SendResult {
    const socket = this.socket
    let canSendMore = true

    // several buffers (a frame's header and body) leave corked, as one
    // writev; a lone buffer is written plainly, corking it only costs
    let first: Uint8Array | undefined
    let corked = false
    for (const buf of data) {
      if (first === undefined) {
        first = buf
        continue
      }
      if (!corked) {
        corked = true
        socket.cork()
        socket.write(first)
      }
      canSendMore = socket.write(buf)
    }
    if (corked) {
      socket.uncork()
    } else if (first !== undefined) {
      canSendMore = socket.write(first)
    }

    return { sentBytes: data.byteLength, canSendMore }
  }

  async sendClose (options?: AbortOptions): Promise<void> {
    const socket = this.socket

    if (socket.closed) {
      return
    }

    await new Promise<void>((resolve) => {
      const deadline = setTimeout(() => { socket.destroy() }, this.closeTimeout)
      const onAbort = (): void => { socket.destroy() }
      options?.signal?.addEventListener('abort', onAbort, { once: true })
      socket.once('close', () => {
        clearTimeout(deadline)
        options?.signal?.removeEventListener('abort', onAbort)
        resolve()
      })
      endThenDestroy(socket)
    })
  }

  sendReset (): void {
    const socket = this.socket

    // a reset cannot follow a graceful end that has begun (uv_shutdown and
    // uv_tcp_close_reset do not mix), and unix sockets have no RST at all
    if (socket.destroyed || socket.writableEnded || this.unix || socket.connecting) {
      socket.destroy()
      return
    }

    try {
      socket.resetAndDestroy()
    } catch {
      socket.destroy()
    }
  }

  sendPause (): void {
    this.socket.pause()
  }

  sendResume (): void {
    this.socket.resume()
  }
}

/**
 * A `SocketConnection` whose plain listeners skip main-event's bookkeeping.
 * Used where `nativeListenersWork()` holds; elsewhere `SocketConnection` keeps
 * every listener through main-event, the public path, at its memory cost.
 */
class PlainListenerConnection extends SocketConnection {
  /**
   * The listeners a connection keeps for its whole life (its own stream's,
   * noise's, the muxer's, libp2p's `Connection`'s: eight in a node) go
   * straight to the native `EventTarget` as they are, as (type, listener)
   * pairs here, instead of through main-event's bookkeeping, which gives each
   * one a wrapper, an abort hook, an options object and an entry (about
   * 0.25 KiB per listener, 2 KiB per idle connection). Listeners with
   * options (`once`, `signal`, `capture`, `passive`) still go through it.
   * No initializer: the base class's constructor adds listeners before this
   * class's fields would be set.
   */
  private declare plainListeners?: unknown[]

  override addEventListener (type: string, listener: EventHandler<any> | null, options?: boolean | AddEventListenerOptions): void {
    if (listener == null || !isPlain(options)) {
      super.addEventListener(type, listener as EventHandler<Event>, options)
      return
    }
    if (this.plainIndex(type, listener) >= 0) {
      return
    }
    this.plainListeners ??= []
    this.plainListeners.push(type, listener)
    nativeAdd.call(this, type, listener)
    // as AbstractMessageStream does: bytes that came before the first reader go to it
    if (type === 'message' && this.readBufferLength > 0) {
      queueMicrotask(() => { this.dispatchReadBuffer() })
    }
  }

  override removeEventListener (type: string, listener?: EventHandler<any> | null, options?: boolean | EventListenerOptions): void {
    const i = listener == null || flag(options, 'capture') ? -1 : this.plainIndex(type, listener)
    if (i < 0) {
      super.removeEventListener(type as 'close', listener as EventHandler<any>, options)
      return
    }
    this.plainListeners?.splice(i, 2)
    nativeRemove.call(this, type, listener as EventHandler<Event>)
  }

  override listenerCount (type: string): number {
    let count = super.listenerCount(type)
    const plain = this.plainListeners ?? []
    for (let i = 0; i < plain.length; i += 2) {
      if (plain[i] === type) {
        count++
      }
    }
    return count
  }

  private plainIndex (type: string, listener: EventHandler<any>): number {
    const plain = this.plainListeners ?? []
    for (let i = 0; i < plain.length; i += 2) {
      if (plain[i] === type && plain[i + 1] === listener) {
        return i
      }
    }
    return -1
  }
}

/**
 * Whether this runtime's `EventTarget` behaves as the plain-listener path of
 * the connection assumes: a listener that `EventTarget.prototype.addEventListener`
 * adds to a main-event `TypedEventEmitter` is called once per dispatch however
 * often it was added, goes with `removeEventListener`, and is not counted by
 * main-event's own `listenerCount` (the path counts it itself). Node, Bun and
 * Deno all pass; a runtime, polyfill or main-event release that does not gets
 * the public path instead.
 */
export function nativeListenersWork (): boolean {
  try {
    const target = new TypedEventEmitter<Record<string, Event>>()
    let calls = 0
    const listener = (): void => { calls++ }
    nativeAdd.call(target, 'probe', listener)
    nativeAdd.call(target, 'probe', listener)
    const counted = target.listenerCount('probe')
    target.dispatchEvent(new Event('probe'))
    nativeRemove.call(target, 'probe', listener)
    target.dispatchEvent(new Event('probe'))
    return calls === 1 && counted === 0
  } catch {
    return false
  }
}

/** probed once per process: the answer cannot change while it runs */
const NATIVE_LISTENERS = nativeListenersWork()

/** A socket's `MultiaddrConnection`, with the hold its owner puts on it during the upgrade */
export type SocketMultiaddrConnection = MultiaddrConnection & Pick<SocketConnection, 'holdCloseUntil'>

/** Wraps a connected socket as a `MultiaddrConnection` */
export function toMultiaddrConnection (init: SocketConnectionInit): SocketMultiaddrConnection {
  return (init.nativeListeners ?? NATIVE_LISTENERS) ? new PlainListenerConnection(init) : new SocketConnection(init)
}

/**
 * FIN after the queued bytes, then destroy once they have left: what Node's
 * `socket.destroySoon()` does. That method is undocumented (Node, Bun and Deno
 * have it); where a runtime lacks it, the same steps through the public API.
 */
export function endThenDestroy (socket: Socket): void {
  const destroySoon = (socket as Partial<Pick<Socket, 'destroySoon'>>).destroySoon
  if (typeof destroySoon === 'function') {
    destroySoon.call(socket)
    return
  }
  if (socket.writable) {
    socket.end()
  }
  if (socket.writableFinished) {
    socket.destroy()
  } else {
    socket.once('finish', () => { socket.destroy() })
  }
}

/** no option that needs main-event's bookkeeping (false, `{}` and `{ once: false }` need none) */
function isPlain (options?: boolean | AddEventListenerOptions): boolean {
  return !flag(options, 'capture') && !flag(options, 'once') && !flag(options, 'passive') && (typeof options !== 'object' || options.signal == null)
}

function flag (options: boolean | AddEventListenerOptions | undefined, name: 'capture' | 'once' | 'passive'): boolean {
  return typeof options === 'object' ? options[name] === true : name === 'capture' && options === true
}
