import net from 'node:net'
import { AlreadyStartedError, NotStartedError } from '@libp2p/interface'
import { getThinWaistAddresses } from '@libp2p/utils'
import { TypedEventEmitter } from 'main-event'
import { EMPTY, Observable, ReplaySubject, Subject, catchError, defer, filter, finalize, fromEvent, identity, ignoreElements, map, mergeMap, of, retry, share, takeUntil, tap } from 'rxjs'
import { closeListeningHandle } from './core/close-handle.ts'
import { toInboundSocket } from './core/inbound-socket.ts'
import type { ToInboundSocketOptions } from './core/inbound-socket.ts'
import { boundMultiaddr, metricAddress } from './core/addresses.ts'
import { serverIntake } from './core/server-intake.ts'
import type { ServerIntake } from './core/server-intake.ts'
import { listenError, toListenOptions } from './addresses.ts'
import { listenReusing } from './reuse.ts'
import { withSocketDefaults } from './options.ts'
import { SocketConnection, DEFAULT_CLOSE_TIMEOUT } from './connection.ts'
import { ListenerMetrics, ListenerStatus } from './listener-metrics.ts'
import { ownedSockets } from './core/owned.ts'
import { inboundGuard } from './guard.ts'
import type { TCPComponents, TCPCreateListenerOptions, TCPOptions } from './index.ts'
import type { InboundSocket } from './core/types.ts'
import type { AbortOptions, Listener, ListenerEvents, Logger, MultiaddrConnection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { AddressInfo, Socket } from 'node:net'
import type { Subscriber, TeardownLogic, Unsubscribable } from 'rxjs'

/** how long intake rests after an accept error (EMFILE and the like), or before a failed re-listen is retried */
export const INTAKE_REST = 100

/** `pipelineTimeout`'s default: libp2p's own inbound upgrade timeout */
export const DEFAULT_PIPELINE_TIMEOUT = 10_000
/** failures in a row (no socket through the `inbound` stage in between) after which the listener gives up and closes */
export const STAGE_RESTARTS = 5

/**
 * What a listener is made of: the transport's options (`tcp(init)`), its
 * components, and this listener's upgrader and socket options (over `listenOpts`)
 */
export type ListenerInit = TCPOptions & Pick<TCPComponents, 'metrics' | 'logger'> & TCPCreateListenerOptions

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
  private readonly log: Logger
  private readonly connectionLog: Logger
  private readonly server: net.Server
  private readonly sockets = ownedSockets((err) => {
    this.connectionLog('error on an inbound socket - %e', err)
  }, () => { this.limitIntake() })

  private readonly shutdown = new AbortController()
  /** emits once, when close() begins (to a late subscriber too): ends the pipeline */
  private readonly close$ = new ReplaySubject<void>(1)
  private readonly closeTimeout: number
  private readonly guard: ReturnType<typeof inboundGuard>
  /** intake is paused by closeServerOnMaxConnections */
  private maxPaused = false
  private readonly metrics: ListenerMetrics
  private listenAddr?: Multiaddr
  private accepting?: ToInboundSocketOptions
  private bound?: AddressInfo | string
  /** the bound address as metric labels take it (`host:port` or the unix path) */
  private label = 'unknown'
  /** `${label} `, the prefix of every connection's metric keys: one string, not one per connection */
  private metricPrefix = 'unknown '
  /**
   * Pauses and resumes taking sockets from the kernel, counted by reason,
   * once bound (re-listening on the bound address); each accepted socket
   * carries it as its `intake`.
   */
  private intake?: ServerIntake
  private closed?: Promise<void>
  /** a listen() binding, which close() lets settle before closing what it bound */
  private binding?: Promise<void>

  constructor (private readonly init: ListenerInit) {
    super()
    this.log = init.logger.forComponent('libp2p:tcp:listener')
    this.connectionLog = init.logger.forComponent('libp2p:tcp:connection')
    this.closeTimeout = init.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT

    this.server = net.createServer(withSocketDefaults(init))

    // maxConnections as in @libp2p/tcp: Node closes a socket over the limit
    // before handing it over, and tells of it ('drop')
    if (init.maxConnections != null) this.server.maxConnections = init.maxConnections

    this.guard = inboundGuard(init.inboundGuard)
    this.metrics = new ListenerMetrics(init.metrics, () => this.label, () => this.sockets.size)

    this.server
      .on('listening', () => {
        if (this.closed != null) {
          // close() came while binding (or re-listening): it closes the handle; nothing is announced
          return
        }
        this.bound = this.server.address() ?? undefined
        this.label = this.bound == null ? 'unknown' : metricAddress(boundMultiaddr(this.bound))
        this.metricPrefix = `${this.label} `
        this.metrics.setStatus(ListenerStatus.ACTIVE)
        this.safeDispatchEvent('listening')
      })
      .on('error', (err: NodeJS.ErrnoException) => { this.onServerError(err) })
      .on('drop', (drop?: net.DropArgument) => {
        this.metrics.event('connection')
        this.log('rejected inbound socket from %s: max-connections', drop?.remoteAddress)
        this.metrics.rejected('max-connections')
      })

    // close$ ends the pipeline, and every inner observable's teardown, synchronously: close() waits on what they began, the sockets' close
    // the pipeline's one sink, not an operator: every stage above is RxJS's or built on operate(), so a
    // throw inside them arrives here as an error of the stream; this observer only reports it and closes
    this.inbound$().subscribe({
      error: (err: Error) => {
        this.log.error('inbound pipeline of %s failed - %e', this.label, err)
        this.safeDispatchEvent('error', { detail: err })
        void this.close()
      }
    })
  }

  /**
   * The whole inbound path, top to bottom. The user's `inbound` stage is
   * supervised (docs/pipelines.md): a failure rejects what it held and
   * resubscribes it to the live source at once (nothing outside it is
   * restarted, so there is nothing to back off from, and no socket arrives
   * in between), until `STAGE_RESTARTS` failures in a row make the listener
   * give up and close with `'error'`; a stage that completes closes the
   * listener. close$ ends it with one subscription for the whole pipeline:
   * it stops intake and unsubscribes every socket's inner observable (whose
   * teardown begins the socket's end; `close()` then waits for the sockets
   * to close), so an idle connection holds no subscription to close$ of its own.
   */
  private inbound$ (): Observable<never> {
    return this.live$().pipe(
      this.init.inbound ?? identity,
      retry({ count: STAGE_RESTARTS, resetOnSuccess: true, delay: (err: Error, n) => this.stageFailed(err, n) }),
      tap({ complete: () => { this.stageCompleted() } }),
      // the listener's own defence against a flood, after the user's stage (docs/under-attack.md)
      this.guard.inbound,
      mergeMap((inbound) => this.lifetime$(inbound)),
      ignoreElements(),
      takeUntil(this.close$),
      // what a stage still held when the pipeline ended
      finalize(() => { this.sockets.rejectHeld('shutdown') })
    )
  }

  /**
   * The accepted sockets, owned and within the listener's own limits: hot,
   * and connected from the first subscription until close$, so a stage that
   * resubscribes (a restart, `retry`, `repeat`, `catchError`'s `caught`)
   * gets the sockets accepted after. A socket accepted while no stage is
   * subscribed (once the listener gave up, until it has closed) is refused
   * at once.
   */
  private live$ (): Observable<InboundSocket> {
    let live: Subject<InboundSocket> | undefined
    // every socket the moment Node hands it over (subscribed from construction until close(), which closes the listening handle first)
    return (fromEvent(this.server, 'connection') as Observable<Socket>).pipe(
      map((socket) => this.own(socket)),
      filter((inbound): inbound is InboundSocket => inbound != null),
      tap((inbound) => {
        if (live?.observed !== true) inbound.reject('no-stage')
      }),
      share({ connector: () => (live = new Subject()), resetOnError: false, resetOnComplete: false, resetOnRefCountZero: () => this.close$ })
    )
  }

  /**
   * One socket's life: the upgrade, then the open connection, until the
   * socket closes, with the user's `lifetime` operator: shared (one upgrade),
   * and its failure that socket's only. Unsubscribing aborts the upgrade and
   * destroys a socket still upgrading at once (the upgrade keeps seeing an
   * open stream until it has settled), or ends an open connection
   * gracefully, destroyed after `closeTimeout` if it has not closed by then.
   */
  private lifetime$ (inbound: InboundSocket): Observable<unknown> {
    const lifetime = this.init.lifetime
    const life$ = new Observable<MultiaddrConnection>((subscriber) => this.live(inbound, subscriber))
    if (lifetime == null) {
      return life$
    }
    return defer(() => life$.pipe(share(), lifetime(inbound))).pipe(
      catchError((err: Error) => {
        this.metrics.error('lifetime')
        inbound.reject('lifetime-error', err)
        return EMPTY
      }),
      // an operator that never subscribed: the socket goes now rather than at its deadline
      finalize(() => {
        if (this.sockets.claim(inbound.socket)) {
          inbound.reject('lifetime-unsubscribed')
          // no upgrade began, so none settles: the guard's slot is freed here
          this.guard.settled(inbound.socket)
        }
      })
    )
  }

  /**
   * The subscription of a socket's lifetime. A method of its own so that the
   * closure an open connection keeps (its teardown; the registry holds the
   * subscriber itself for the socket's close) does not keep the pipeline
   * element too: `inbound` is used here only synchronously.
   */
  private live (inbound: InboundSocket, subscriber: Subscriber<MultiaddrConnection>): TeardownLogic {
    const { socket, remoteAddr } = inbound

    // one lifetime per socket, however often it is subscribed: the first claims it
    if (!this.sockets.claim(socket) || socket.destroyed) {
      // a socket gone before its upgrade began (its deadline, its peer) holds no guard slot
      if (socket.destroyed) this.guard.settled(socket)
      subscriber.complete()
      return
    }

    const maConn = new SocketConnection({
      socket,
      remoteAddr,
      localAddr: inbound.localAddr,
      direction: 'inbound',
      inactivityTimeout: this.init.inboundSocketInactivityTimeout,
      closeTimeout: this.closeTimeout,
      log: this.connectionLog,
      metrics: this.metrics.events,
      metricPrefix: this.metricPrefix
    })

    this.log('new inbound connection %a', remoteAddr)
    const upgrade = new AbortController()
    const life = new Life(this, socket, maConn, upgrade)
    const upgraded = this.init.upgrader.upgradeInbound(maConn, { signal: upgrade.signal })
      .then(() => {
        this.log('inbound connection upgraded %a', remoteAddr)
        subscriber.next(maConn)
        return true
      }, (err: Error) => {
        this.log.error('inbound connection upgrade failed %a - %e', remoteAddr, err)
        this.metrics.error('inbound_upgrade')
        maConn.abort(err)
        return false
      })
      .finally(() => {
        life.upgrade = undefined
        this.guard.settled(socket)
      })
    // the upgrade sees the peer go only once it has settled, and close()
    // waits for it to settle (within the deadline)
    maConn.holdCloseUntil(upgraded)
    this.sockets.upgrading(upgraded)

    // the registry that owns the socket completes the lifetime at its close
    // (the teardown then aborts an upgrade still running): no listener or closure of our own
    this.sockets.onClose(socket, subscriber)
    return life
  }

  /** a lifetime's end (`Life.unsubscribe`): aborts an upgrade still running and destroys its socket, or ends an open connection gracefully */
  endLife ({ socket, maConn, upgrade }: Life): void {
    this.sockets.onClose(socket, undefined)
    const shutdown = this.shutdown.signal
    // one abort reason serves every socket at a close
    upgrade?.abort(shutdown.aborted ? shutdown.reason : undefined)
    if (socket.closed) {
      return
    }
    if (upgrade != null) {
      // the upgrade sees the stream open until it has settled
      // (holdCloseUntil), so its socket can go at once: no muxer is ever
      // built or torn down over a closed stream
      socket.destroy()
      return
    }
    // an open connection ends gracefully, within a deadline of its own:
    // at a listener close too, which is bounded by these
    this.sockets.destroyAfter(socket, this.closeTimeout)
    maConn.close().catch(() => { socket.destroy() })
  }

  /** the `inbound` stage failed for the `n`th time in a row: what it held is rejected, and it restarts at once */
  private stageFailed (err: Error, n: number): Observable<unknown> {
    this.metrics.error('inbound_stage')
    this.log.error('inbound stage of %s failed (%d of %d in a row), restarting it - %e', this.label, n, STAGE_RESTARTS, err)
    this.sockets.rejectHeld('inbound-stage-error')
    return of(n)
  }

  /** the `inbound` stage completed (`take`, `takeUntil`, …): intake has ended on purpose, so the listener closes */
  private stageCompleted (): void {
    this.log('inbound stage of %s completed, closing the listener', this.label)
    this.sockets.rejectHeld('inbound-stage-complete')
    void this.close()
  }

  /** owns and describes an accepted socket from the first moment, under its pipeline deadline; undefined if it is already gone */
  private own (socket: Socket): InboundSocket | undefined {
    try {
      this.metrics.event('connection')
      this.sockets.add(socket)
      this.limitIntake()
      const inbound = toInboundSocket(socket, this.accepting as ToInboundSocketOptions)

      if (typeof this.bound !== 'string' && socket.remoteAddress == null) {
        // the peer left before Node could read its address
        inbound.reject('no-remote-address')
        return undefined
      }

      this.sockets.hold(inbound, this.init.pipelineTimeout ?? DEFAULT_PIPELINE_TIMEOUT)
      return inbound
    } catch (err: any) {
      // one socket's failure is that socket's: intake goes on
      this.log.error('could not take an inbound socket on %s - %e', this.label, err)
      this.metrics.error('inbound_intake')
      socket.destroy()
      return undefined
    }
  }

  /**
   * closeServerOnMaxConnections, as in `@libp2p/tcp`: intake pauses at
   * `closeAbove` live sockets and resumes once fewer than `listenBelow` are
   * (run at each accept, and at each close once the registry has counted it)
   */
  private limitIntake (): void {
    const limits = this.init.closeServerOnMaxConnections
    if (limits == null) return
    if (!this.maxPaused && this.sockets.size >= limits.closeAbove) {
      this.maxPaused = true
      this.intake?.pause('max-connections')
    } else if (this.maxPaused && this.sockets.size < limits.listenBelow) {
      this.maxPaused = false
      this.intake?.resume('max-connections')
    }
  }

  /** counts and logs a rejected socket (the socket was destroyed by its `reject`, once) */
  private readonly onReject = (inbound: InboundSocket, reason: string, err?: Error): void => {
    this.log('rejected inbound socket from %a: %s%s', inbound.remoteAddr, reason, err == null ? '' : ` - ${err.message}`)
    this.metrics.rejected(reason)
  }

  private onServerError (err: NodeJS.ErrnoException): void {
    this.metrics.error('listen_error')
    this.log.error('error on %s - %e', this.label, err)

    if (err.syscall === 'accept' && !this.shutdown.signal.aborted) {
      // out of descriptors or the like: rest briefly, then take sockets again
      this.intake?.rest('accept-error', INTAKE_REST)
    }

    this.safeDispatchEvent('error', { detail: err })
  }

  async listen (ma: Multiaddr): Promise<void> {
    // a closed listener is closed for good, whether or not it ever listened
    if (this.closed != null) {
      throw new NotStartedError(`cannot listen on ${ma.toString()}: the listener has been closed`)
    }
    if (this.listenAddr != null) {
      throw new AlreadyStartedError(`listener is already listening on ${this.listenAddr.toString()}`)
    }

    const bound = listenReusing(this.server, toListenOptions(ma, { backlog: this.init.backlog, reusePort: this.init.portReuse !== 'never' }))
    this.listenAddr = ma
    this.binding = bound.then(() => {}, () => {})
    // the options it was bound with (without reusePort where the runtime could not)
    const options = await bound.catch((err: NodeJS.ErrnoException) => {
      this.listenAddr = undefined
      throw listenError(ma, err)
    })

    if (this.closed != null) {
      // close() came while binding: it closes what was bound, and nothing was announced
      throw new NotStartedError(`listener on ${ma.toString()} was closed while it was binding`)
    }
    this.log('listening on %a (%s)', ma, this.label)
    // a pause re-listens on what the kernel gave this time (port 0 stays the same port)
    this.intake = serverIntake(this.server, {
      listen: this.bound != null && typeof this.bound !== 'string' ? { ...options, port: this.bound.port } : options,
      retryAfter: INTAKE_REST,
      onPaused: (reasons) => {
        this.log('intake on %s paused: %s', this.label, reasons.join(', '))
        this.metrics.setStatus(ListenerStatus.PAUSED)
      },
      onError: (err) => {
        this.log.error('could not resume listening on %s, retrying in %dms - %e', this.label, INTAKE_REST, err)
        this.init.closeServerOnMaxConnections?.onListenError?.(err)
      }
    })
    // one options object for every socket this listener accepts (none is accepted before this: 'connection' comes from a later turn of the loop)
    this.accepting = { localAddr: ma, intake: this.intake, onReject: this.onReject, count: this.metrics.event, closed$: this.sockets.closed$ }
  }

  /** The addresses it listens on; none before `listen()` and from `close()` on, as in `@libp2p/tcp` */
  getAddrs (): Multiaddr[] {
    if (this.listenAddr == null || this.bound == null || this.closed != null) {
      return []
    }
    // a unix path as bound; a wildcard (`0.0.0.0`, `::`) as every interface of its family (the thin waist), with the port the kernel chose
    return typeof this.bound === 'string' ? [boundMultiaddr(this.bound)] : getThinWaistAddresses(this.listenAddr, this.bound.port)
  }

  /** while it listens on TCP and `portReuse` is not `'never'`, the address it is bound to: dials leave from its port where the runtime can */
  get reusableAddress (): AddressInfo | undefined {
    return this.init.portReuse !== 'never' && typeof this.bound === 'object' && this.closed == null ? this.bound : undefined
  }

  updateAnnounceAddrs (): void {}

  /**
   * Stops intake, aborts upgrades in flight and destroys their sockets, ends
   * open connections gracefully and destroys whatever is still open after
   * `closeTimeout` (or at once when `options.signal` aborts). Resolves, and
   * dispatches `'close'`, once: when the pipeline has completed, every socket
   * has closed, every upgrade has settled (or the deadline passed) and the
   * server handle has been released by libuv (not only `'close'`d), as has
   * any handle a re-listen under way at the close left (docs/close-contract.md).
   */
  async close (options?: AbortOptions): Promise<void> {
    this.closed ??= this.shutdownAll(options)
    await this.closed
  }

  private async shutdownAll (options?: AbortOptions): Promise<void> {
    this.log('closing %s with %d sockets open', this.label, this.sockets.size)
    const started = Date.now()
    // nothing resumes intake after this point; a re-listen under way settles first (and is closed again, or has failed)
    const ended = this.intake?.end()
    await this.binding
    await ended

    // 'close' once the server counts no connection, and the handle released by libuv
    const serverClosed = this.server.listening
      ? Promise.all([new Promise((resolve) => this.server.once('close', resolve)), closeListeningHandle(this.server)])
      : undefined

    this.shutdown.abort()
    this.close$.next()
    this.close$.complete()

    await Promise.all([this.sockets.drained(this.closeTimeout, options?.signal), serverClosed])
    // a handle a pause closed may still be on its way out (sockets are: their 'close' follows their release)
    await this.intake?.released

    const stragglers = this.sockets.stragglers
    this.log('closed %s after %dms, %d sockets destroyed at the close deadline', this.label, Date.now() - started, stragglers)
    if (stragglers > 0) this.metrics.event('close_stragglers', stragglers)

    if (this.bound != null) {
      // a listener that never bound has no status to end (no 'unknown' series)
      this.metrics.setStatus(ListenerStatus.INACTIVE)
    }
    this.safeDispatchEvent('close')
  }
}

/**
 * One socket's lifetime once subscribed, and its teardown: an object of
 * four fields rather than a closure over the subscription's scope, as every
 * idle connection keeps it. `upgrade` is dropped once the upgrade has
 * settled, so an idle connection keeps no controller.
 */
class Life implements Unsubscribable {
  constructor (private readonly listener: TCPListener, readonly socket: Socket, readonly maConn: SocketConnection, public upgrade?: AbortController) {}

  unsubscribe (): void {
    this.listener.endLife(this)
  }
}
