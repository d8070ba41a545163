import { Observable } from 'rxjs'
import { SocketConnection } from './connection.ts'
import type { ListenerMetrics } from './listener-metrics.ts'
import type { OwnedSockets } from './core/owned.ts'
import type { InboundSocket } from './core/types.ts'
import type { Logger, MultiaddrConnection, Upgrader } from '@libp2p/interface'
import type { Subscriber, TeardownLogic } from 'rxjs'

export interface SocketLifetimesInit {
  upgrader: Upgrader
  /** the listener's registry of the sockets it owns */
  sockets: OwnedSockets
  /** aborted when the listener closes */
  shutdown: AbortSignal
  closeTimeout: number
  inactivityTimeout?: number
  metrics: ListenerMetrics
  log: Logger
  connectionLog: Logger
}

/**
 * The inner observables of a listener's pipeline: one per accepted socket,
 * for its whole life (the upgrade, then the open connection, until the
 * socket's `'close'`). One instance per listener; `bind` tells it what the
 * listener was bound to.
 */
export class SocketLifetimes {
  /** `${label} `, the prefix of every connection's metric keys: one string, not one per connection */
  private metricPrefix = 'unknown '

  constructor (private readonly init: SocketLifetimesInit) {}

  /** the listener is bound (again) under this address label */
  bind (label: string): void {
    this.metricPrefix = `${label} `
  }

  /**
   * One socket's life: the upgrade, then the open connection, until the
   * socket closes. Unsubscribing aborts the upgrade and destroys a socket
   * still upgrading at once (the upgrade keeps seeing an open stream until it
   * has settled), or ends an open connection gracefully, destroyed after
   * `closeTimeout` if it has not closed by then.
   */
  lifetime$ (inbound: InboundSocket): Observable<MultiaddrConnection> {
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

    // one lifetime per socket, however often it is subscribed: the first claims it
    if (!this.init.sockets.claim(socket) || socket.destroyed) {
      subscriber.complete()
      return
    }

    const maConn = new SocketConnection({
      socket,
      remoteAddr,
      localAddr: inbound.localAddr,
      direction: 'inbound',
      inactivityTimeout: this.init.inactivityTimeout,
      closeTimeout: this.init.closeTimeout,
      log: this.init.connectionLog,
      metrics: this.init.metrics.events,
      metricPrefix: this.metricPrefix
    })

    this.init.log('new inbound connection %a', remoteAddr)
    // dropped once the upgrade has settled: an idle connection keeps no controller
    let upgrade: AbortController | undefined = new AbortController()
    const upgraded = this.init.upgrader.upgradeInbound(maConn, { signal: upgrade.signal })
      .then(() => {
        this.init.log('inbound connection upgraded %a', remoteAddr)
        subscriber.next(maConn)
        return true
      }, (err: Error) => {
        this.init.log.error('inbound connection upgrade failed %a - %e', remoteAddr, err)
        this.init.metrics.error('inbound_upgrade')
        maConn.abort(err)
        return false
      })
      .finally(() => { upgrade = undefined })
    // the upgrade sees the peer go only once it has settled, and close()
    // waits for it to settle (within the deadline)
    maConn.holdCloseUntil(upgraded)
    this.init.sockets.upgrading(upgraded)

    // the registry that owns the socket tells of its close: no listener of our own
    this.init.sockets.onClose(socket, () => {
      upgrade?.abort()
      subscriber.complete()
    })

    return () => {
      this.init.sockets.onClose(socket, undefined)
      const shutdown = this.init.shutdown
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
      // an open connection ends gracefully, within a deadline of its own:
      // at a listener close too, which is bounded by these
      this.init.sockets.destroyAfter(socket, this.init.closeTimeout)
      maConn.close().catch(() => { socket.destroy() })
    }
  }
}
