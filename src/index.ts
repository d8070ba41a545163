/**
 * @packageDocumentation
 *
 * rx-tcp: a TCP transport for libp2p, a drop-in for `@libp2p/tcp`, whose
 * inbound path is an RxJS pipeline and whose shutdown cannot hang.
 *
 * @example
 *
 * ```TypeScript
 * import { createLibp2p } from 'libp2p'
 * import { tcp } from 'rx-tcp'
 *
 * const node = await createLibp2p({
 *   addresses: { listen: ['/ip4/0.0.0.0/tcp/0'] },
 *   transports: [tcp()]
 * })
 * ```
 */

import { checkTcpOptions } from './options.ts'
import { TCP } from './transport.ts'
import type { InboundOperator, LifetimeOperator } from './core/types.ts'
import type { ComponentLogger, Connection, CounterGroup, CreateListenerOptions, DialTransportOptions, Metrics, OutboundConnectionUpgradeEvents, PeerId, Transport } from '@libp2p/interface'
import type { ProgressEvent } from 'progress-events'

export type { InboundOperator, InboundSocket, Intake, LifetimeOperator } from './core/types.ts'

/** When to pause and resume intake by the number of live sockets, as in `@libp2p/tcp`. */
export interface CloseServerOnMaxConnectionsOpts {
  /** Intake resumes once the live socket count is below this. */
  listenBelow: number
  /** Intake pauses (the listening handle is closed, sockets stay) once the live socket count reaches this. */
  closeAbove: number
  /**
   * Called when listening again after a pause fails (for example the port was taken meanwhile); it is retried
   * 100 ms later. A re-listen under way when `close()` begins is not retried, and its failure is still reported
   * here, before `close()` resolves.
   */
  onListenError?(err: Error): void
}

/**
 * The options of `tcp(init)`: `@libp2p/tcp`'s, with the same defaults, and
 * three of rx-tcp's own. `tcp()` checks them where they are given: timeouts
 * are ms from 0 to 2147483647 (what Node's timers take), counts are integers
 * from 0 up, flags are booleans and hooks are functions; anything else is
 * refused with an `InvalidParametersError` naming the option and the value.
 */
export interface TCPOptions {
  /** Inactivity in ms after which an inbound socket is aborted with a `TimeoutError`. 0 turns it off. Default: 120000 (2 minutes). */
  inboundSocketInactivityTimeout?: number
  /** Inactivity in ms after which an outbound socket is aborted with a `TimeoutError`. 0 turns it off. Default: 120000 (2 minutes). */
  outboundSocketInactivityTimeout?: number
  /** A socket accepted while this many are open is closed at once (reason `max-connections`). Default: no limit. */
  maxConnections?: number
  /** Length of the kernel's queue of pending connections (`server.listen` backlog). Default: Node's (511). */
  backlog?: number
  /** Pause intake at `closeAbove` live sockets and resume below `listenBelow`. Default: off. */
  closeServerOnMaxConnections?: CloseServerOnMaxConnectionsOpts
  /** Socket options for every dial; per-dial options win. Defaults: `noDelay` true, `keepAlive` true, `allowHalfOpen` false. */
  dialOpts?: TCPSocketOptions
  /** Socket options for every listener's accepted sockets. Defaults: `noDelay` true, `keepAlive` true, `allowHalfOpen` false. */
  listenOpts?: TCPSocketOptions
  /**
   * rx-tcp only. How long in ms `close()`/`stop()` lets upgrades settle and
   * connections end gracefully before destroying what is left; also the
   * graceful-close deadline of each connection. Default: 500 (as `@libp2p/tcp`'s `CLOSE_TIMEOUT`).
   */
  closeTimeout?: number
  /**
   * rx-tcp only. How long in ms an accepted socket may take to pass `inbound`
   * and reach its lifetime (its upgrade); one still short of it then
   * (filtered, dropped, held) is rejected, reason `pipeline-timeout`.
   * Default: 10000 (libp2p's inbound upgrade timeout).
   */
  pipelineTimeout?: number
  /**
   * rx-tcp only. An RxJS operator applied to accepted sockets before their
   * upgrade (see `rx-tcp/operators`). Default: none, every socket is upgraded.
   * Any RxJS is safe here (docs/pipelines.md): a socket it drops is rejected
   * at `pipelineTimeout`; a stage that errors rejects what it held and is
   * restarted on the live source (5 failures in a row close the listener
   * with `'error'`); a stage that completes closes the listener.
   */
  inbound?: InboundOperator
  /**
   * rx-tcp only. An operator applied to each socket's lifetime observable, for
   * per-connection concerns such as an upgrade deadline. Default: none.
   * The lifetime is shared (subscribed twice, one upgrade); a throw or an
   * error rejects that socket only; a socket whose lifetime is never
   * subscribed is rejected (docs/pipelines.md).
   */
  lifetime?: LifetimeOperator
  /**
   * rx-tcp only. Which dials leave from a listen port (the port a listener of
   * the same family and scope is bound to), as go-libp2p's and rust-libp2p's
   * TCP transports do, so that what peers observe is the listen port's NAT
   * mapping and a hole punch (`@libp2p/dcutr`) can meet. Where the runtime
   * can (`net.BoundSocket`: Node 24.19+, 26.4+), listeners then bind with
   * `SO_REUSEPORT`; elsewhere dials take an ephemeral port, counted as
   * `reuse_fallback`. `'auto'`: every dial except a direct dial to a peer
   * reached only through relays, unless it is the hole punch itself (why:
   * docs/port-reuse.md); `'always'`: every dial, as go-libp2p; `'never'`:
   * none, and listeners bind as `@libp2p/tcp`'s. A dial's `portUse` wins.
   * Default: `'auto'`.
   */
  portReuse?: PortReuse
  /**
   * rx-tcp only. The listener's defence against a connection flood, after
   * `inbound`: it changes nothing until `maxUpgrading` sockets are in
   * upgrade; then a new socket is upgraded once it has sent
   * multistream-select's header, and the upgrade that has gone longest
   * without a byte makes room for it (docs/under-attack.md). `false` turns it
   * off. Default: on, `{ maxUpgrading: 8, stalledMs: 1000, openingMs: 10000 }`.
   */
  inboundGuard?: false | InboundGuardOptions
}

/** The options of the listener's `inboundGuard`. */
export interface InboundGuardOptions {
  /** sockets in upgrade at once, and the pressure point; keep it below libp2p's `maxIncomingPendingConnections` (10). Default: 8 */
  maxUpgrading?: number
  /** under pressure, how long an upgrade may go without receiving a byte before it makes room, ms. Default: 1000 */
  stalledMs?: number
  /** under pressure, how long a new socket may take to send multistream-select's header, ms (it shrinks towards 1 s as more wait). Default: 10000 */
  openingMs?: number
}

/** rx-tcp only: the `portReuse` policy, which dials leave from a listen port */
export type PortReuse = 'auto' | 'always' | 'never'

/** rx-tcp only, as rust-libp2p's `PortUse`: one dial from a listen port (`'reuse'`) or from an ephemeral one (`'new'`) */
export type PortUse = 'reuse' | 'new'

/** The subset of `net` socket options a user can set */
export interface TCPSocketOptions {
  /** Disable Nagle's algorithm. */
  noDelay?: boolean
  /** Enable TCP keep-alive probes. */
  keepAlive?: boolean
  /** Delay in ms before the first keep-alive probe. */
  keepAliveInitialDelay?: number
  /** Keep the writable side open after the peer has ended its side. */
  allowHalfOpen?: boolean
}

/** The progress events a dial emits through `onProgress`: the upgrade's, and `tcp:open-connection` once the socket is open. */
export type TCPDialEvents = OutboundConnectionUpgradeEvents | ProgressEvent<'tcp:open-connection'>

/** The options of one dial: the transport's dial options and the socket options that override `dialOpts`. */
export interface TCPDialOptions extends DialTransportOptions<TCPDialEvents>, TCPSocketOptions {
  /** rx-tcp only. Leave from a listen port (`'reuse'`) or an ephemeral one (`'new'`) whatever `portReuse` says. Default: as `portReuse` decides. */
  portUse?: PortUse
  /** the dial queue's priority, passed on by libp2p: `@libp2p/dcutr`'s hole punch dials at 100 */
  priority?: number
  /** the peer dialed, passed on by libp2p's dial queue */
  peerId?: PeerId
}

/** The options of `createListener`: the upgrader and the socket options that override `listenOpts`. */
export interface TCPCreateListenerOptions extends CreateListenerOptions, TCPSocketOptions {}

/** What the transport takes from the libp2p node. */
export interface TCPComponents {
  /** where the `libp2p_tcp_*` metrics are registered; none are kept without it */
  metrics?: Metrics
  /** the node's loggers; the transport logs as `libp2p:tcp`, `libp2p:tcp:listener` and `libp2p:tcp:connection` */
  logger: ComponentLogger
  /** the node's connections, which `portReuse: 'auto'` asks whether a peer is reached only through relays */
  connectionManager?: {
    /** the node's open connections to `peerId` */
    getConnections(peerId?: PeerId): Connection[]
  }
}

/** The dial-side counters, under `@libp2p/tcp`'s names. */
export interface TCPMetrics {
  /** `libp2p_tcp_dialer_events_total`: dials that connected, failed, timed out or were aborted, and (rx-tcp) dials meant to leave from a listen port that took an ephemeral one (`reuse_fallback`) */
  events: CounterGroup<'error' | 'timeout' | 'connect' | 'abort' | 'reuse_fallback'>
  /** `libp2p_tcp_dialer_errors_total`: where a dial failed after the socket opened */
  errors: CounterGroup<'outbound_to_connection' | 'outbound_upgrade'>
}

/**
 * Creates the transport factory, exactly as `@libp2p/tcp`'s `tcp()`:
 * `createLibp2p({ transports: [tcp()] })`.
 *
 * @throws InvalidParametersError when an option is out of its bounds, naming the option and the value (`tcp: closeTimeout must be a number of ms from 0 to 2147483647, got -5`)
 */
export function tcp (init: TCPOptions = {}): (components: TCPComponents) => Transport {
  checkTcpOptions(init)
  return (components: TCPComponents) => new TCP(components, init)
}
