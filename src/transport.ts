import net from 'node:net'
import { AbortError, ConnectionFailedError, NotStartedError, serviceCapabilities, transportSymbol } from '@libp2p/interface'
import { Unix } from '@multiformats/multiaddr-matcher'
import { CustomProgressEvent } from 'progress-events'
import { isTcpOrUnix, toConnectOptions } from './addresses.ts'
import { DEFAULT_CLOSE_TIMEOUT, toMultiaddrConnection } from './connection.ts'
import { TCPListener } from './listener.ts'
import { checkSocketOptions } from './options.ts'
import { ownedSockets } from './core/owned.ts'
import type { TCPComponents, TCPCreateListenerOptions, TCPDialEvents, TCPDialOptions, TCPMetrics, TCPOptions } from './index.ts'
import type { Connection, Listener, Logger, MultiaddrConnection, Startable, Transport } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Socket } from 'node:net'

/**
 * The transport: dials sockets it owns until their `'close'`, creates
 * listeners, and takes part in the node's lifecycle. After `stop()` begins a
 * dial is refused; dials in flight are aborted; `stop()` resolves when every
 * socket it ever owned has closed and every listener it made has closed.
 */
export class TCP implements Transport<TCPDialEvents>, Startable {
  readonly [transportSymbol] = true
  readonly [Symbol.toStringTag] = '@libp2p/tcp'
  readonly [serviceCapabilities]: string[] = ['@libp2p/transport']

  private readonly init: TCPOptions
  private readonly components: TCPComponents
  private readonly log: Logger
  /** one logger for every outbound connection, as the listener has for inbound ones */
  private readonly connectionLog: Logger
  private readonly metrics?: TCPMetrics
  private readonly outbound = ownedSockets((err) => { this.log('error on an outbound socket - %e', err) })
  /** each upgraded outbound connection, by socket, for a graceful end at stop */
  private readonly upgraded = new WeakMap<Socket, MultiaddrConnection>()
  private readonly listeners = new Set<TCPListener>()
  /** the abort of every dial in flight */
  private readonly dialing = new Set<AbortController>()
  private stopping?: Promise<void>

  constructor (components: TCPComponents, init: TCPOptions = {}) {
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('libp2p:tcp')
    this.connectionLog = components.logger.forComponent('libp2p:tcp:connection')

    if (components.metrics != null) {
      this.metrics = {
        events: components.metrics.registerCounterGroup('libp2p_tcp_dialer_events_total', {
          label: 'event',
          help: 'Total count of TCP dialer events by type'
        }),
        errors: components.metrics.registerCounterGroup('libp2p_tcp_dialer_errors_total', {
          label: 'event',
          help: 'Total count of TCP dialer errors by type'
        })
      }
    }
  }

  start (): void {
    // a stopped transport starts again: dials are taken once more
    this.stopping = undefined
  }

  /**
   * Refuses new dials, aborts dials in flight, closes every listener this
   * transport created, ends upgraded outbound connections gracefully and
   * destroys whatever is still open after `closeTimeout`.
   */
  async stop (): Promise<void> {
    this.stopping ??= this.stopAll()
    await this.stopping
  }

  private async stopAll (): Promise<void> {
    const closeTimeout = this.init.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT
    const stopped = new AbortError('the TCP transport is stopping')

    this.dialing.forEach(dial => { dial.abort(stopped) })
    for (const socket of this.outbound.values()) {
      this.outbound.destroyAfter(socket, closeTimeout)
      this.upgraded.get(socket)?.close().catch(() => { socket.destroy() })
    }

    // dials in flight settle (their signal is aborted) before stop resolves, within the deadline
    let timer: ReturnType<typeof setTimeout> | undefined
    const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, closeTimeout) })
    await Promise.all([
      ...[...this.listeners].map(async listener => { await listener.close() }),
      this.outbound.drained(deadline)
    ])
    clearTimeout(timer)
    this.log('stopped, %d outbound sockets destroyed at the close deadline', this.outbound.stragglers)
  }

  async dial (ma: Multiaddr, options: TCPDialOptions): Promise<Connection> {
    if (this.stopping != null) {
      throw new NotStartedError(`cannot dial ${ma.toString()}: the TCP transport is stopped`)
    }
    checkSocketOptions(`dial to ${ma.toString()}`, options)
    if (options.signal.aborted) {
      // nothing was opened: not counted, as in @libp2p/tcp
      throw new AbortError(`dial to ${ma.toString()} was aborted before it started`)
    }

    // one controller per dial: the caller's signal, the transport's stop and
    // the peer going all abort it, and nothing of it outlives the dial
    const dial = new AbortController()
    const onAbort = (): void => { dial.abort(options.signal.reason) }
    options.signal.addEventListener('abort', onAbort, { once: true })
    this.dialing.add(dial)

    try {
      const socket = await this.connect(ma, options, dial.signal)
      return await this.upgrade(ma, socket, options, dial)
    } finally {
      options.signal.removeEventListener('abort', onAbort)
      this.dialing.delete(dial)
    }
  }

  private async upgrade (ma: Multiaddr, socket: Socket, options: TCPDialOptions, dial: AbortController): Promise<Connection> {
    let maConn
    try {
      maConn = toMultiaddrConnection({
        socket,
        remoteAddr: ma,
        direction: 'outbound',
        unix: Unix.exactMatch(ma),
        inactivityTimeout: this.init.outboundSocketInactivityTimeout,
        closeTimeout: this.init.closeTimeout,
        log: this.connectionLog,
        metrics: this.metrics?.events
      })
    } catch (err: any) {
      this.metrics?.errors.increment({ outbound_to_connection: true })
      socket.destroy()
      throw err
    }

    this.log('new outbound connection %a', ma)

    // as inbound: the upgrade sees the peer go only once it has settled, and
    // a peer that goes aborts it, with a reason that says so: nobody aborted
    // this dial, and a bare AbortError would tell the caller they had
    const peerGone = (): void => {
      dial.abort(new ConnectionFailedError(`dial to ${ma.toString()} failed: the connection closed during its upgrade`))
    }
    socket.once('close', peerGone)
    const upgrading = options.upgrader.upgradeOutbound(maConn, { ...options, signal: dial.signal })
    const settled = upgrading.then(() => {}, () => {})
    maConn.holdCloseUntil(settled)
    this.outbound.upgrading(settled)

    try {
      const connection = await upgrading
      this.upgraded.set(socket, maConn)
      return connection
    } catch (err: any) {
      this.metrics?.errors.increment({ outbound_upgrade: true })
      this.log.error('error upgrading outbound connection to %a - %e', ma, err)
      maConn.abort(err)
      throw err
    } finally {
      socket.off('close', peerGone)
    }
  }

  /** Opens a socket owned by the transport from `net.connect` until its 'close' */
  private async connect (ma: Multiaddr, options: TCPDialOptions, signal: AbortSignal): Promise<Socket> {
    const config = {
      ...toConnectOptions(ma),
      noDelay: options.noDelay ?? this.init.dialOpts?.noDelay ?? true,
      keepAlive: options.keepAlive ?? this.init.dialOpts?.keepAlive ?? true,
      keepAliveInitialDelay: options.keepAliveInitialDelay ?? this.init.dialOpts?.keepAliveInitialDelay,
      allowHalfOpen: options.allowHalfOpen ?? this.init.dialOpts?.allowHalfOpen ?? false
    }

    options.onProgress?.(new CustomProgressEvent('tcp:open-connection'))
    this.log('dialing %a', ma)

    const socket = net.connect(config)
    this.outbound.add(socket)

    try {
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error): void => {
          socket.off('connect', onConnect)
          socket.off('error', onError)
          signal.removeEventListener('abort', onAbort)
          if (err == null) {
            resolve()
          } else {
            reject(err)
          }
        }
        const onConnect = (): void => {
          this.metrics?.events.increment({ connect: true })
          this.log('connection opened %a', ma)
          done()
        }
        const onError = (err: NodeJS.ErrnoException): void => {
          this.metrics?.events.increment({ error: true })
          this.log.error('dial to %a failed - %e', ma, err)
          const failed = new ConnectionFailedError(`could not connect to ${ma.toString()}: ${err.message}`)
          Object.assign(failed, { cause: err, code: err.code })
          done(failed)
        }
        const onAbort = (): void => {
          this.metrics?.events.increment({ abort: true })
          this.log('dial to %a aborted', ma)
          done(new AbortError(`dial to ${ma.toString()} was aborted`))
        }
        socket.once('connect', onConnect)
        socket.once('error', onError)
        signal.addEventListener('abort', onAbort, { once: true })
      })
    } catch (err) {
      socket.destroy()
      throw err
    }

    return socket
  }

  createListener (options: TCPCreateListenerOptions): Listener {
    checkSocketOptions('createListener', options)
    const listener = new TCPListener({
      ...this.init.listenOpts,
      ...options,
      maxConnections: this.init.maxConnections,
      backlog: this.init.backlog,
      closeServerOnMaxConnections: this.init.closeServerOnMaxConnections,
      inactivityTimeout: this.init.inboundSocketInactivityTimeout,
      closeTimeout: this.init.closeTimeout,
      pipelineTimeout: this.init.pipelineTimeout,
      inbound: this.init.inbound,
      lifetime: this.init.lifetime,
      inboundGuard: this.init.inboundGuard,
      metrics: this.components.metrics,
      logger: this.components.logger
    })
    this.listeners.add(listener)
    listener.addEventListener('close', () => this.listeners.delete(listener), { once: true })
    return listener
  }

  /** The TCP (ip4, ip6, dns) and `/unix/` addresses among `multiaddrs` */
  listenFilter (multiaddrs: Multiaddr[]): Multiaddr[] {
    return multiaddrs.filter(isTcpOrUnix)
  }

  /** The addresses this transport can dial: the same as it can listen on */
  dialFilter (multiaddrs: Multiaddr[]): Multiaddr[] {
    return this.listenFilter(multiaddrs)
  }
}
