import net from 'node:net'
import { AlreadyStartedError, InvalidParametersError, ListenError, NotStartedError } from '@libp2p/interface'
import { TypedEventEmitter } from 'main-event'
import { Observable, filter, finalize, identity, ignoreElements, map, mergeMap, pipe, takeUntil } from 'rxjs'
import { maxConnections } from '../operators/max-connections.ts'
import { pauseOnMaxConnections } from '../operators/pause-on-max-connections.ts'
import { closeListeningHandle } from '../operators/internal/close-handle.ts'
import { serverIntake } from '../operators/server-intake.ts'
import type { ServerIntake } from '../operators/server-intake.ts'
import { toInboundSocket } from '../operators/to-inbound-socket.ts'
import type { ToInboundSocketOptions } from '../operators/to-inbound-socket.ts'
import { addressLabel, boundAddresses, toListenOptions } from './addresses.ts'
import { DEFAULT_CLOSE_TIMEOUT, toMultiaddrConnection } from './connection.ts'
import type { SocketMultiaddrConnection } from './connection.ts'
import { ownedSockets } from './owned.ts'
import type { CloseServerOnMaxConnectionsOpts, TCPCreateListenerOptions } from './index.ts'
import type { InboundOperator, InboundSocket, Intake, LifetimeOperator } from './inbound.ts'
import type { MonoTypeOperatorFunction, Subscriber, TeardownLogic } from 'rxjs'
import type { AbortOptions, ComponentLogger, CounterGroup, Listener, ListenerEvents, Logger, MetricGroup, Metrics, MultiaddrConnection, Upgrader } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { AddressInfo, ListenOptions, Socket } from 'node:net'

export interface ListenerInit extends TCPCreateListenerOptions {
  upgrader: Upgrader
  logger: ComponentLogger
  metrics?: Metrics
  inactivityTimeout?: number
  closeTimeout?: number
  maxConnections?: number
  backlog?: number
  closeServerOnMaxConnections?: CloseServerOnMaxConnectionsOpts
  inbound?: InboundOperator
  lifetime?: LifetimeOperator
}

/** the values of `libp2p_tcp_listener_status_info` */
const enum Status { INACTIVE = 0, ACTIVE = 1, PAUSED = 2 }

/** how long intake rests after an accept error (EMFILE and the like), or before a failed re-listen is retried */
const INTAKE_REST = 100

/**
 * A TCP listener whose inbound path is one RxJS pipeline: accepted sockets
 * enter `accepted$` the moment Node hands them over, pass the inbound
 * operators, and live in one `mergeMap` inner observable each (upgrade, then
 * open connection) until their own `'close'`. `close$` stops intake and
 * cancels every inner one; `close()` resolves when the pipeline has
 * completed, every socket is closed, every upgrade has settled and the
 * server handle has been released by libuv.
 */
export class TCPListener extends TypedEventEmitter<ListenerEvents> implements Listener {
  private readonly init: ListenerInit
  private readonly log: Logger
  private readonly connectionLog: Logger
  private readonly server: net.Server
  private readonly sockets = ownedSockets((err) => {
    this.connectionLog('error on an inbound socket - %e', err)
  })

  private readonly shutdown = new AbortController()
  private readonly close$: Observable<void>
  private readonly closeTimeout: number
  private readonly pipelineDone: Promise<void>
  private readonly limits: MonoTypeOperatorFunction<InboundSocket>
  private readonly events?: CounterGroup
  private readonly errors?: CounterGroup
  private readonly status?: MetricGroup
  private listenAddr?: Multiaddr
  private serverIntake?: ServerIntake
  private accepting?: ToInboundSocketOptions
  private bound?: AddressInfo | string
  /** `${label} `, the prefix of every connection's metric keys: one string, not one per connection */
  private metricPrefix = 'unknown '
  private closed?: Promise<void>
  private restTimer?: ReturnType<typeof setTimeout>

  constructor (init: ListenerInit) {
    super()
    this.init = init
    this.log = init.logger.forComponent('libp2p:tcp:listener')
    this.connectionLog = init.logger.forComponent('libp2p:tcp:connection')
    this.closeTimeout = init.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT

    const limits = init.closeServerOnMaxConnections
    if (limits != null && limits.closeAbove < limits.listenBelow) {
      throw new InvalidParametersError(`closeServerOnMaxConnections: closeAbove (${limits.closeAbove}) must be >= listenBelow (${limits.listenBelow})`)
    }

    this.server = net.createServer({
      noDelay: init.noDelay ?? true,
      keepAlive: init.keepAlive ?? true,
      keepAliveInitialDelay: init.keepAliveInitialDelay,
      allowHalfOpen: init.allowHalfOpen ?? false
    })

    // the listener's own limits are operators from rx-tcp/operators, like an app's
    this.limits = pipe(
      init.maxConnections != null ? maxConnections({ max: init.maxConnections }) : identity,
      limits != null ? pauseOnMaxConnections(limits) : identity
    )

    init.metrics?.registerMetricGroup('libp2p_tcp_inbound_connections_total', {
      label: 'address',
      help: 'Current active connections in TCP listener',
      calculate: () => ({ [this.label]: this.sockets.size })
    })
    this.status = init.metrics?.registerMetricGroup('libp2p_tcp_listener_status_info', {
      label: 'address',
      help: 'Current status of the TCP listener socket'
    })
    this.errors = init.metrics?.registerMetricGroup('libp2p_tcp_listener_errors_total', {
      label: 'address',
      help: 'Total count of TCP listener errors by type'
    })
    this.events = init.metrics?.registerMetricGroup('libp2p_tcp_listener_events_total', {
      label: 'address',
      help: 'Total count of TCP listener events by type'
    })

    this.server
      .on('listening', () => {
        this.bound = this.server.address() ?? undefined
        this.metricPrefix = `${this.label} `
        this.status?.update({ [this.label]: Status.ACTIVE })
        this.safeDispatchEvent('listening')
      })
      .on('error', (err: NodeJS.ErrnoException) => { this.onServerError(err) })

    this.close$ = aborted$(this.shutdown.signal)

    this.pipelineDone = new Promise<void>((resolve) => {
      this.inbound$().pipe(
        // after every inner observable's teardown, whether close$ ended the pipeline or an error did
        finalize(resolve)
      ).subscribe({
        error: (err: Error) => {
          this.log.error('inbound pipeline of %s failed - %e', this.label, err)
          this.safeDispatchEvent('error', { detail: err })
          void this.close()
        }
      })
    })
  }

  /**
   * The whole inbound path, top to bottom. close$ ends it with one
   * subscription for the whole pipeline: it stops intake and unsubscribes
   * every socket's inner observable (whose teardown begins the socket's end;
   * `close()` then waits for the sockets to close), so an idle connection
   * holds no subscription to close$ of its own.
   */
  private inbound$ (): Observable<never> {
    return this.accepted$().pipe(
      this.limits,
      this.init.inbound ?? identity,
      mergeMap((inbound) => this.lifetime$(inbound).pipe(this.init.lifetime?.(inbound) ?? identity)),
      ignoreElements(),
      takeUntil(this.close$)
    )
  }

  /** Every socket the server accepts, owned and described from the first moment */
  private accepted$ (): Observable<InboundSocket> {
    return new Observable<Socket>((subscriber) => {
      const next = (socket: Socket): void => { subscriber.next(socket) }
      this.server.on('connection', next)
      return () => {
        this.server.off('connection', next)
        // nothing accepted after this point has a pipeline to go to
        this.server.on('connection', (socket: Socket) => socket.destroy())
      }
    }).pipe(
      map((socket) => this.own(socket)),
      filter((inbound): inbound is InboundSocket => inbound != null)
    )
  }

  private own (socket: Socket): InboundSocket | undefined {
    this.events?.increment({ [`${this.label} connection`]: true })
    this.sockets.add(socket)
    const inbound = toInboundSocket(socket, this.accepting as ToInboundSocketOptions)

    if (typeof this.bound !== 'string' && socket.remoteAddress == null) {
      // the peer left before Node could read its address
      inbound.reject('no-remote-address')
      return undefined
    }

    return inbound
  }

  /** counts an event a stage reports for one of the listener's sockets (`InboundSocket.count`) */
  private readonly countEvent = (event: string): void => {
    this.events?.increment({ [`${this.label} ${event}`]: true })
  }

  /** counts and logs a rejected socket (the socket was destroyed by its `reject`, once) */
  private readonly onReject = (inbound: InboundSocket, reason: string, err?: Error): void => {
    this.log('rejected inbound socket from %a: %s%s', inbound.remoteAddr, reason, err == null ? '' : ` - ${err.message}`)
    this.events?.increment({ [`${this.label} rejected_${reason}`]: true })
    if (reason === 'max-connections') {
      // @libp2p/tcp counts these under Node's 'drop': dashboards keyed on it keep working
      this.events?.increment({ [`${this.label} drop`]: true })
    }
  }

  /**
   * One socket's life: the upgrade, then the open connection, until the
   * socket closes. Unsubscribing aborts the upgrade and destroys a socket
   * still upgrading at once (the upgrade keeps seeing an open stream until it
   * has settled), or ends an open connection gracefully, destroyed after
   * `closeTimeout` if it has not closed by then.
   */
  private lifetime$ (inbound: InboundSocket): Observable<MultiaddrConnection> {
    return new Observable<MultiaddrConnection>((subscriber) => this.live(inbound, subscriber))
  }

  /**
   * The subscription of `lifetime$`. A method of its own so that the
   * closures an open connection keeps (its teardown and its close callback)
   * do not keep the pipeline element too: `inbound` is used here only
   * synchronously.
   */
  private live (inbound: InboundSocket, subscriber: Subscriber<MultiaddrConnection>): TeardownLogic {
    const { socket, remoteAddr } = inbound

    if (socket.destroyed) {
      subscriber.complete()
      return
    }

    let maConn: SocketMultiaddrConnection
    try {
      maConn = toMultiaddrConnection({
        socket,
        remoteAddr,
        localAddr: inbound.localAddr,
        direction: 'inbound',
        unix: typeof this.bound === 'string',
        inactivityTimeout: this.init.inactivityTimeout,
        closeTimeout: this.closeTimeout,
        log: this.connectionLog,
        metrics: this.events,
        metricPrefix: this.metricPrefix
      })
    } catch (err: any) {
      this.errors?.increment({ [`${this.label} inbound_to_connection`]: true })
      inbound.reject('inbound_to_connection', err)
      subscriber.complete()
      return
    }

    this.log('new inbound connection %a', remoteAddr)
    // dropped once the upgrade has settled: an idle connection keeps no controller
    let upgrade: AbortController | undefined = new AbortController()
    const upgraded = this.init.upgrader.upgradeInbound(maConn, { signal: upgrade.signal })
      .then(() => {
        this.log('inbound connection upgraded %a', remoteAddr)
        subscriber.next(maConn)
        return true
      }, (err: Error) => {
        this.log.error('inbound connection upgrade failed %a - %e', remoteAddr, err)
        this.errors?.increment({ [`${this.label} inbound_upgrade`]: true })
        maConn.abort(err)
        return false
      })
      .finally(() => { upgrade = undefined })
    // the upgrade sees the peer go only once it has settled, and close()
    // waits for it to settle (within the deadline)
    maConn.holdCloseUntil(upgraded)
    this.sockets.upgrading(upgraded)

    // the registry that owns the socket tells of its close: no listener of our own
    this.sockets.onClose(socket, () => {
      upgrade?.abort()
      subscriber.complete()
    })

    return () => {
      this.sockets.onClose(socket, undefined)
      const shutdown = this.shutdown.signal
      const upgrading = upgrade != null
      // one abort reason serves every socket at a close
      upgrade?.abort(shutdown.aborted ? shutdown.reason : undefined)
      if (socket.closed) {
        return
      }
      if (upgrading) {
        // the upgrade sees the stream open until it has settled
        // (holdCloseUntil), so its socket can go at once: no muxer is ever
        // built or torn down over a closed stream
        socket.destroy()
        return
      }
      // an open connection ends gracefully; at a listener close its own
      // deadline covers every socket, otherwise a timer of its own does
      if (!shutdown.aborted) {
        this.sockets.destroyAfter(socket, this.closeTimeout)
      }
      maConn.close().catch(() => { socket.destroy() })
    }
  }

  /**
   * Pauses and resumes taking sockets from the kernel, counted by reason:
   * `serverIntake` from rx-tcp/operators, set up once the listener is bound
   * (it re-listens on the bound address, and retries a failed re-listen).
   */
  readonly intake: Intake = {
    pause: (reason) => {
      this.serverIntake?.pause(reason)
      if (this.serverIntake?.holding === true && !this.server.listening) {
        this.log('intake on %s paused: %s', this.label, reason)
        this.status?.update({ [this.label]: Status.PAUSED })
      }
    },
    resume: (reason) => { this.serverIntake?.resume(reason) }
  }

  private onServerError (err: NodeJS.ErrnoException): void {
    this.errors?.increment({ [`${this.label} listen_error`]: true })
    this.log.error('error on %s - %e', this.label, err)

    if (err.syscall === 'accept' && !this.shutdown.signal.aborted) {
      // out of descriptors or the like: rest briefly, then take sockets again
      this.intake.pause('accept-error')
      clearTimeout(this.restTimer)
      this.restTimer = setTimeout(() => { this.intake.resume('accept-error') }, INTAKE_REST)
    }

    this.safeDispatchEvent('error', { detail: err })
  }

  private async bind (options: ListenOptions): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => { reject(err) }
      this.server.once('error', onError)
      this.server.listen(options, () => {
        this.server.off('error', onError)
        resolve()
      })
    })
  }

  private get label (): string {
    return addressLabel(this.bound ?? null)
  }

  async listen (ma: Multiaddr): Promise<void> {
    // a closed listener is closed for good, whether or not it ever listened
    if (this.shutdown.signal.aborted) {
      throw new NotStartedError(`cannot listen on ${ma.toString()}: the listener has been closed`)
    }
    if (this.listenAddr != null) {
      throw new AlreadyStartedError(`listener is already listening on ${this.listenAddr.toString()}`)
    }

    const options = toListenOptions(ma, { backlog: this.init.backlog })

    try {
      this.listenAddr = ma
      // one options object for every socket this listener accepts
      this.accepting = { localAddr: ma, intake: this.intake, onReject: this.onReject, count: this.countEvent }
      await this.bind(options)
    } catch (err: any) {
      this.listenAddr = undefined
      this.accepting = undefined
      // Node's errno stays on it, as in @libp2p/tcp: a retry on another port checks `code`
      throw Object.assign(new ListenError(`could not listen on ${ma.toString()}: ${describe(err)}`), { cause: err, code: err.code })
    }

    this.log('listening on %a (%s)', ma, this.label)
    // a pause re-listens on what the kernel gave this time (port 0 stays the same port)
    const again = { ...options }
    if (this.bound != null && typeof this.bound !== 'string') {
      again.port = this.bound.port
    }
    this.serverIntake = serverIntake(this.server, {
      listen: again,
      retryAfter: INTAKE_REST,
      onError: (err) => {
        this.log.error('could not resume listening on %s, retrying in %dms - %e', this.label, INTAKE_REST, err)
        this.init.closeServerOnMaxConnections?.onListenError?.(err)
      }
    })
    if (this.shutdown.signal.aborted) {
      this.server.close()
    }
  }

  /** The addresses it listens on; none before `listen()` and from `close()` on, as in `@libp2p/tcp` */
  getAddrs (): Multiaddr[] {
    if (this.listenAddr == null || this.bound == null || this.shutdown.signal.aborted) {
      return []
    }
    return boundAddresses(this.listenAddr, this.bound)
  }

  updateAnnounceAddrs (): void {}

  /**
   * Stops intake, aborts upgrades in flight and destroys their sockets, ends
   * open connections gracefully and destroys whatever is still open after
   * `closeTimeout` (or at once when `options.signal` aborts). Resolves, and
   * dispatches `'close'`, once: when the pipeline has completed, every socket
   * has closed, every upgrade has settled (or the deadline passed) and the
   * server handle has been released by libuv (not only `'close'`d).
   */
  async close (options?: AbortOptions): Promise<void> {
    this.closed ??= this.shutdownAll(options)
    await this.closed
  }

  private async shutdownAll (options?: AbortOptions): Promise<void> {
    this.log('closing %s with %d sockets open', this.label, this.sockets.size)
    const started = Date.now()
    clearTimeout(this.restTimer)
    // nothing resumes intake after this point
    this.serverIntake?.end()

    // 'close' once the server counts no connection, and the handle released by libuv
    const serverClosed = this.server.listening
      ? Promise.all([new Promise((resolve) => this.server.once('close', resolve)), closeListeningHandle(this.server)])
      : undefined

    this.shutdown.abort()

    let deadlineReached = (): void => {}
    const deadline = new Promise<void>((resolve) => { deadlineReached = resolve })
    const destroyNow = (): void => {
      deadlineReached()
      this.sockets.destroyAll()
    }
    const timer = setTimeout(destroyNow, this.closeTimeout)
    options?.signal?.addEventListener('abort', destroyNow, { once: true })

    try {
      await Promise.all([this.pipelineDone, this.sockets.drained(deadline), serverClosed])
      // a handle a pause closed may still be on its way out (sockets are: their 'close' follows their release)
      await this.serverIntake?.released
    } finally {
      clearTimeout(timer)
      options?.signal?.removeEventListener('abort', destroyNow)
    }

    const stragglers = this.sockets.stragglers
    if (stragglers > 0) {
      this.log('closed %s after %dms, destroying %d sockets that outlived the close deadline', this.label, Date.now() - started, stragglers)
      this.events?.increment({ [`${this.label} close_stragglers`]: stragglers })
    } else {
      this.log('closed %s after %dms', this.label, Date.now() - started)
    }

    if (this.bound != null) {
      // a listener that never bound has no status to end (no 'unknown' series)
      this.status?.update({ [this.label]: Status.INACTIVE })
    }
    this.safeDispatchEvent('close')
  }
}

/** Emits once and completes when the signal aborts (at once if it has) */
function aborted$ (signal: AbortSignal): Observable<void> {
  return new Observable<void>((subscriber) => {
    const fire = (): void => {
      subscriber.next()
      subscriber.complete()
    }
    if (signal.aborted) {
      fire()
      return
    }
    signal.addEventListener('abort', fire, { once: true })
    return () => { signal.removeEventListener('abort', fire) }
  })
}

function describe (err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE': return 'address in use'
    case 'EACCES': return 'permission denied'
    case 'EADDRNOTAVAIL': return 'address not available'
    default: return err.message
  }
}
