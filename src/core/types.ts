/**
 * The types of an inbound pipeline: what flows through it (`InboundSocket`),
 * the control it gives (`Intake`) and the hooks that compose it. They live
 * with the operators, which use them first; the transport in `src/` imports
 * them from here.
 *
 * @module
 */
import type { MultiaddrConnection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Socket } from 'node:net'
import type { MonoTypeOperatorFunction, Observable, OperatorFunction, SchedulerLike } from 'rxjs'

/**
 * Stops and restarts taking sockets from the kernel. Each caller pauses for a
 * reason of its own; intake runs again once every reason has been resumed.
 * The transport's listener implements it by closing and re-opening its
 * listening handle on the same address (sockets already accepted stay open).
 */
export interface Intake {
  /** stops taking sockets from the kernel (the listening handle is closed, open sockets stay) until every `reason` that paused it has resumed */
  pause(reason: string): void
  /** takes back one pause given under `reason`; intake resumes once no reason holds it */
  resume(reason: string): void
}

/**
 * One accepted socket on its way through the inbound pipeline, before its
 * upgrade. It is tracked by its listener from the moment Node hands it over.
 */
export interface InboundSocket {
  /** the accepted socket itself, owned by the listener until the pipeline rejects or upgrades it */
  readonly socket: Socket
  /** the peer's address, `/ip4/…/tcp/…`, `/ip6/…/tcp/…`, or the listen address for unix sockets */
  readonly remoteAddr: Multiaddr
  /** the address the socket was accepted on */
  readonly localAddr: Multiaddr
  /** the pause/resume control of the listener that accepted the socket */
  readonly intake: Intake
  /**
   * Refuses the socket: destroys it, counts it under `reason` in the
   * listener's metrics and logs it, exactly once whatever the number of calls.
   * Returns false when the socket had already been rejected.
   */
  reject(reason: string, err?: Error): boolean
  /**
   * Emits once and completes when the socket has closed (at once for a
   * socket already closed), whoever closed it. Made once by the socket's
   * owner: in a listener it is driven by the listener's own 'close' listener
   * on the socket, and costs nothing until subscribed, so a stage that
   * follows a socket to its end (an open-socket count) subscribes here rather
   * than adding a 'close' listener or keeping a table of its own. Copies of
   * the element keep it.
   *
   * @example
   * mergeMap((inbound) => inbound.closed$.pipe(map(() => inbound.remoteAddr)))
   */
  readonly closed$: Observable<void>
  /**
   * Counts `event` for this socket where its listener counts events (an
   * rx-tcp listener's `libp2p_tcp_listener_events_total`, as
   * `${host:port} ${event}`, or a `metricsTap`'s); absent where nothing
   * counts. Stages use it for what is not a rejection, such as
   * `proxyProtocol`'s `proxy_v2_found` or a dry run's `dry_run_<reason>`.
   * Copies of the element keep it.
   */
  readonly count?: (event: string) => void
}

/**
 * The hook applied to the stream of accepted sockets before they are
 * upgraded. Sockets it lets through are upgraded. A socket it refuses is
 * best refused with `reject` (closed at once, counted under its reason); one
 * it drops or holds is rejected by the listener when its `pipelineTimeout`
 * passes, or at once when the stage errors (it is restarted) or completes
 * (the listener closes). See docs/pipelines.md.
 */
export type InboundOperator = OperatorFunction<InboundSocket, InboundSocket>

/**
 * The hook applied to each socket's own lifetime observable: it emits the
 * socket's `MultiaddrConnection` once, when its upgrade has succeeded (the
 * upgrader hands the `Connection` to the node itself), and completes when the
 * socket has closed.
 * Unsubscribing from it aborts the upgrade and destroys the socket. Used for
 * per-connection concerns such as an upgrade deadline. In a listener the
 * lifetime upgrades once however often it is subscribed, and a throw or an
 * error of the operator rejects that socket only.
 */
export type LifetimeOperator = (inbound: InboundSocket) => MonoTypeOperatorFunction<MultiaddrConnection>

/**
 * A per-socket operator for the lifetime observable of an accepted socket.
 * It is generic in what the lifetime emits, so the same operator serves the
 * transport (where it is a `LifetimeOperator` over `Connection`) and
 * applications that upgrade sockets into anything else.
 */
export type LifetimeHook = (inbound: InboundSocket) => <T>(lifetime$: Observable<T>) => Observable<T>

/**
 * Called once for each socket refused by any stage, after it was destroyed.
 */
export type RejectListener = (inbound: InboundSocket, reason: string, err?: Error) => void

/** The options of `openingBytes` (`rx-tcp/operators`), which are the core's `opening`'s. */
export interface OpeningBytesOptions {
  /**
   * the bytes every good peer opens with; a socket whose first bytes differ
   * is rejected as soon as they do (`'opening-mismatch'`). Default: none,
   * any first byte lets the socket through
   */
  prefix?: Uint8Array
  /** how long a socket may take to send them, ms (default 10000, libp2p's inbound upgrade timeout) */
  ms?: number
  /** how many sockets may wait before each newcomer sheds the longest-waiting one (default 64) */
  maxWaiting?: number
  /** how long a socket waits at least before it may be shed, ms (default 1000: a peer 300 ms away sends its first bytes 150 ms after the accept) */
  minMs?: number
  /** the reason sockets still waiting are rejected with when the operator is unsubscribed (default `'shutdown'`) */
  shutdownReason?: string
  /** the clock (default `asyncScheduler`) */
  scheduler?: SchedulerLike
}

/** The options of `shedStalled` (`rx-tcp/operators`), which are the core's `upgradeSlots`'s. */
export interface ShedStalledOptions {
  /** how many sockets may be in upgrade at once */
  max: number
  /** how long a socket in upgrade may go without receiving a byte before, under pressure, it makes room (default 1000 ms: more than three round trips of a peer 300 ms away) */
  stalledMs?: number
  /** how many bytes a socket must receive to count as progress: a peer that drips a byte at a time stalls all the same (default 8, less than any libp2p handshake message) */
  progressBytes?: number
  /** how many sockets may wait for a slot; past it the longest-waiting is rejected (default 256) */
  maxWaiting?: number
  /** how often, under pressure, stalls are measured, ms (default 250) */
  every?: number
  /** the reason a stalled upgrade is rejected with (default `'upgrade-stalled'`) */
  reason?: string
  /** the reason a socket is rejected with when too many wait (default `'upgrade-queue-full'`) */
  queueReason?: string
  /** the reason waiting sockets are rejected with when the operator is unsubscribed (default `'shutdown'`) */
  shutdownReason?: string
  /** the clock (default `asyncScheduler`) */
  scheduler?: SchedulerLike
}
