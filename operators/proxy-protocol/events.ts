import { metricAddress } from '../../src/core/addresses.ts'
import type { ProxyHeader } from './header.ts'
import type { InboundSocket } from '../../src/core/types.ts'
import type { CounterGroup, MetricGroup, Metrics } from '@libp2p/interface'

/**
 * What `proxyProtocol` saw on one socket, as its `onEvent` hook is told and
 * as it is counted:
 * - `found`: a complete, valid header (`header` is what it said; a LOCAL one is also counted as `proxy_v2_local`);
 * - `malformed`: bytes that began like a header of `version` and were not one (`why`), or a header past `maxHeaderBytes`;
 * - `timeout`: no complete header within the timeout (`version` when part of one had arrived);
 * - `missing`: a trusted socket whose first bytes are no PROXY signature, or that ended before sending any (passed on with `optional`);
 * - `disallowed`: a header of a version left out of `versions`;
 * - `untrusted`: a header from a peer outside `trusted`, refused under `untrusted: 'reject'`.
 */
export type ProxyProtocolEvent = ProxyHeaderFound | ProxyHeaderMalformed | ProxyHeaderTimeout | ProxyHeaderMissing | ProxyHeaderRefused

/** The event of a valid header. */
export interface ProxyHeaderFound {
  /** a valid header */
  readonly kind: 'found'
  /** its version */
  readonly version: 1 | 2
  /** what it said */
  readonly header: ProxyHeader
}

/** The event of a broken header. */
export interface ProxyHeaderMalformed {
  /** a broken header, or one past `maxHeaderBytes` */
  readonly kind: 'malformed'
  /** the version its first byte begins (`P`: 1, `\r`: 2) */
  readonly version: 1 | 2
  /** what was wrong */
  readonly why: string
}

/** The event of a header that did not complete in time. */
export interface ProxyHeaderTimeout {
  /** no complete header within `timeout` */
  readonly kind: 'timeout'
  /** the version of the part that had arrived, if any had */
  readonly version?: 1 | 2
}

/** The event of a trusted socket without a header. */
export interface ProxyHeaderMissing {
  /** bytes that are no signature, or the end before any byte */
  readonly kind: 'missing'
}

/** The event of a header refused by the policy. */
export interface ProxyHeaderRefused {
  /** `disallowed`: a version left out of `versions`; `untrusted`: from outside `trusted`, under `untrusted: 'reject'` */
  readonly kind: 'disallowed' | 'untrusted'
  /** the version of its signature */
  readonly version: 1 | 2
}

/**
 * The keys an event is counted under in `libp2p_tcp_listener_events_total`,
 * after the listener's `host:port `: `proxy_v1_found`, `proxy_v2_found` (and
 * `proxy_v2_local`), `proxy_v1_malformed`, `proxy_v2_malformed`,
 * `proxy_v1_timeout`, `proxy_v2_timeout`, `proxy_timeout` (nothing had
 * arrived), `proxy_missing`, `proxy_v1_disallowed`, `proxy_v2_disallowed`,
 * `proxy_v1_untrusted`, `proxy_v2_untrusted`.
 */
export function proxyEventKeys (event: ProxyProtocolEvent): string[] {
  switch (event.kind) {
    case 'found':
      return event.header.command === 'local' ? ['proxy_v2_found', 'proxy_v2_local'] : [`proxy_v${event.version}_found`]
    case 'timeout':
      return [event.version === undefined ? 'proxy_timeout' : `proxy_v${event.version}_timeout`]
    case 'missing':
      return ['proxy_missing']
    default:
      return [`proxy_v${event.version}_${event.kind}`]
  }
}

/** Where `proxyProtocol` reports its events: besides the socket's own `count` (an rx-tcp listener's), a group and a hook. */
export interface ProxyEventOptions {
  /** where to register `libp2p_tcp_listener_events_total` and count the events (for a `guardServer` or `acceptSockets` pipeline; an rx-tcp listener counts them itself) */
  metrics?: Metrics
  /** a group already registered under that name (takes precedence over `metrics`) */
  events?: MetricGroup | CounterGroup
  /** told about every event, with the socket it happened to */
  onEvent?: (event: ProxyProtocolEvent, inbound: InboundSocket) => void
}

/** The reporter of an operator: counts each event on the socket, in the group, and tells the hook. */
export function proxyEventReporter (options: ProxyEventOptions): (event: ProxyProtocolEvent, inbound: InboundSocket) => void {
  const { onEvent } = options
  const events = options.events ?? options.metrics?.registerMetricGroup('libp2p_tcp_listener_events_total', {
    label: 'address',
    help: 'Total count of TCP listener events by type'
  })
  return (event, inbound) => {
    for (const key of proxyEventKeys(event)) {
      inbound.count?.(key)
      events?.increment({ [`${metricAddress(inbound.localAddr)} ${key}`]: true })
    }
    onEvent?.(event, inbound)
  }
}
