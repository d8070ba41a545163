import type { CounterGroup, MetricGroup, Metrics } from '@libp2p/interface'

/** The values of `libp2p_tcp_listener_status_info`, as `@libp2p/tcp` reports them */
export const ListenerStatus = { INACTIVE: 0, ACTIVE: 1, PAUSED: 2 } as const
// eslint-disable-next-line @typescript-eslint/no-redeclare -- a value and its type under one name, as an enum would be
export type ListenerStatus = typeof ListenerStatus[keyof typeof ListenerStatus]

/**
 * A listener's metric groups, under the names and labels `@libp2p/tcp` uses
 * (so its dashboards keep working), each series keyed by the listener's
 * address label. Without a `Metrics` component every call is a no-op.
 */
export class ListenerMetrics {
  /** `libp2p_tcp_listener_events_total`; connections count their own events here too, under their prefix */
  readonly events?: CounterGroup
  private readonly errors?: CounterGroup
  private readonly status?: MetricGroup

  /**
   * @param metrics - the node's metrics component, if any
   * @param label - the listener's address label at the moment of the call
   * @param open - the number of sockets the listener has open at the moment of a scrape
   */
  constructor (metrics: Metrics | undefined, private readonly label: () => string, open: () => number) {
    const group = (name: string, help: string): MetricGroup | undefined => metrics?.registerMetricGroup(`libp2p_tcp_${name}`, { label: 'address', help })
    metrics?.registerMetricGroup('libp2p_tcp_inbound_connections_total', {
      label: 'address',
      help: 'Current active connections in TCP listener',
      calculate: () => ({ [label()]: open() })
    })
    this.status = group('listener_status_info', 'Current status of the TCP listener socket')
    this.errors = group('listener_errors_total', 'Total count of TCP listener errors by type')
    this.events = group('listener_events_total', 'Total count of TCP listener events by type')
  }

  /** counts `count` (default one) of the listener event `name` (`connection`, `close_stragglers`, …) */
  event (name: string, count?: number): void {
    this.events?.increment({ [`${this.label()} ${name}`]: count ?? true })
  }

  /** counts one listener error of `kind` (`listen_error`, `inbound_upgrade`, `inbound_to_connection`) */
  error (kind: string): void {
    this.errors?.increment({ [`${this.label()} ${kind}`]: true })
  }

  /** counts a socket refused by a stage of the pipeline, as `rejected_<reason>` */
  rejected (reason: string): void {
    this.event(`rejected_${reason}`)
    // @libp2p/tcp counts these under Node's 'drop': dashboards keyed on it keep working
    if (reason === 'max-connections') this.event('drop')
  }

  /** sets the listener's status series */
  setStatus (status: ListenerStatus): void {
    this.status?.update({ [this.label()]: status })
  }
}
