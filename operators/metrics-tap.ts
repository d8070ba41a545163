import { tap } from 'rxjs'
import { metricAddress } from '../src/core/addresses.ts'
import { checkOptions, fn, withMethods } from '../src/core/check.ts'
import { forSocket } from '../src/core/for-socket.ts'
import { operate, operatorObserver } from '../src/core/operate.ts'
import type { InboundSocket, LifetimeHook } from '../src/core/types.ts'
import type { CounterGroup, Logger, MetricGroup, Metrics } from '@libp2p/interface'
import type { MonoTypeOperatorFunction } from 'rxjs'

/** The counter group `@libp2p/tcp` counts listener events in. */
export const LISTENER_EVENTS_METRIC = 'libp2p_tcp_listener_events_total'

/** The options of `metricsTap`. */
export interface MetricsTapOptions {
  /** where to register `libp2p_tcp_listener_events_total` */
  metrics?: Metrics
  /** a group already registered under that name (takes precedence over `metrics`) */
  events?: MetricGroup | CounterGroup
  /** where to log each accepted, rejected and upgraded socket */
  log?: Logger
}

/**
 * The two halves of a metrics and log tap: `inbound` counts accepted and
 * rejected sockets, `lifetime` counts upgraded ones.
 */
export interface MetricsTap {
  /** counts and logs every accepted and every rejected socket */
  inbound: MonoTypeOperatorFunction<InboundSocket>
  /** counts and logs every socket whose upgrade succeeded */
  lifetime: LifetimeHook
}

/**
 * Counts and logs what happens to sockets, under the listener's metric
 * names: `${addr} accepted` for every socket entering the pipeline,
 * `${addr} rejected_${reason}` for every one refused, by any later stage,
 * `${addr} upgraded` for every upgrade, in `libp2p_tcp_listener_events_total`
 * (`addr` is `host:port` of the listening address).
 *
 *   sockets:   --a--b--c--|
 *   result:    --a'-b'-c'-|      (same sockets, their reject counted and logged;
 *                                 accepted +3)
 *
 * Put `inbound` first so it sees every socket, and `lifetime` on the
 * lifetime hook. Each socket leaves `inbound` as a copy whose `reject`
 * reports, so stages after it and the lifetime hook must use that copy.
 * rx-tcp's listener counts these events itself: the tap is for pipelines of
 * your own (`acceptSockets`), or a second registry. A registry or a logger
 * that throws for one socket rejects that socket alone (`'stage-error'`).
 *
 * @example
 * const tapped = metricsTap({ metrics, log })
 * acceptSockets(server)
 *   .pipe(tapped.inbound, denyCidr(blocked), mergeMap((socket) => session$(socket).pipe(tapped.lifetime(socket))))
 *   .subscribe()
 *
 * @param options - the metrics registry or group, and the logger
 * @returns the inbound and lifetime operators of the tap
 */
export function metricsTap (options: MetricsTapOptions = {}): MetricsTap {
  checkOptions('metricsTap', options, {
    metrics: withMethods('a libp2p Metrics component', 'registerMetricGroup'),
    events: withMethods('a metric group (with increment())', 'increment'),
    log: fn()
  })
  const { log } = options
  const events = options.events ?? options.metrics?.registerMetricGroup(LISTENER_EVENTS_METRIC, {
    label: 'address',
    help: 'Total count of TCP listener events by type'
  })
  const count = (inbound: InboundSocket, event: string): void => {
    events?.increment({ [`${metricAddress(inbound.localAddr)} ${event}`]: true })
  }

  // each socket goes on as a copy whose reject counts and logs
  const tapped = (accepted: InboundSocket): InboundSocket => {
    const counted: InboundSocket = {
      ...accepted,
      // what later stages count (proxyProtocol's proxy_v2_found…) goes to the tap's group too
      count: (event) => {
        accepted.count?.(event)
        count(counted, event)
      },
      reject: (reason, err) => {
        const first = accepted.reject(reason, err)
        if (first) {
          count(counted, `rejected_${reason}`)
          log?.('rejected %a: %s%s', accepted.remoteAddr, reason, err === undefined ? '' : ` (${err.message})`)
        }
        return first
      }
    }
    return counted
  }

  const inbound = operate<InboundSocket, InboundSocket>((source, subscriber) => source.subscribe(operatorObserver(subscriber, (accepted) => {
    const counted = tapped(accepted)
    // a registry or a logger that throws for one socket rejects that socket alone
    if (forSocket(counted, () => {
      count(counted, 'accepted')
      log?.('accepted %a on %a', accepted.remoteAddr, accepted.localAddr)
    })) {
      subscriber.next(counted)
    }
  })))

  // a lifetime emits its connection once: each value is one upgrade
  const lifetime: LifetimeHook = (upgraded) => (lifetime$) => lifetime$.pipe(tap(() => {
    count(upgraded, 'upgraded')
    log?.('upgraded %a', upgraded.remoteAddr)
  }))

  return { inbound, lifetime }
}
