import { once } from 'node:events'
import net from 'node:net'
import { AbortError, ConnectionFailedError, NotStartedError, serviceCapabilities, transportSymbol } from '@libp2p/interface'
import { CustomProgressEvent } from 'progress-events'
import { TCP as TCPMatcher, Unix } from '@multiformats/multiaddr-matcher'
import { toConnectOptions } from './addresses.ts'
import type { ConnectConfig } from './addresses.ts'
import { DEFAULT_CLOSE_TIMEOUT, SocketConnection } from './connection.ts'
import { TCPListener } from './listener.ts'
import { DIAL_RULES, SOCKET_OPTION_RULES, withSocketDefaults } from './options.ts'
import { checkOptions } from './core/checker.ts'
import { ownedSockets } from './core/owned.ts'
import { boundSocket, isListenPortError, listenPortFor, wantsListenPort } from './reuse.ts'
import type { TCPComponents, TCPCreateListenerOptions, TCPDialEvents, TCPDialOptions, TCPMetrics, TCPOptions } from './index.ts'
import type { Connection, CounterGroup, Listener, Logger, MultiaddrConnection, Startable, Transport } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { AddressInfo, Socket } from 'node:net'

/** the address family of a multiaddr's first component: none for `/dns/`, `/ip6zone/` or `/unix/` */
const FAMILIES: Partial<Record<string, 4 | 6>> = { ip4: 4, dns4: 4, ip6: 6, dns6: 6 }

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

  private readonly log: Logger
  /** one logger for every outbound connection, as the listener has for inbound ones */
  private readonly connectionLog: Logger
  private readonly events?: TCPMetrics['events']
  private readonly errors?: TCPMetrics['errors']
  private readonly outbound = ownedSockets((err) => { this.log('error on an outbound socket - %e', err) })
  /** each upgraded outbound connection, by socket, for a graceful end at stop */
  private readonly upgraded = new WeakMap<Socket, MultiaddrConnection>()
  private readonly listeners = new Set<TCPListener>()
  /** the outbound connections that left from a listen port (for `tcpObservedAddresses`) */
  private readonly fromListenPort = new WeakSet<Connection>()
  /** the abort of every dial in flight */
  private readonly dialing = new Set<AbortController>()
  private stopping?: Promise<void>

  constructor (private readonly components: TCPComponents, private readonly init: TCPOptions = {}) {
    this.log = components.logger.forComponent('libp2p:tcp')
    this.connectionLog = components.logger.forComponent('libp2p:tcp:connection')

    const group = (name: string, help: string): CounterGroup | undefined => components.metrics?.registerCounterGroup(`libp2p_tcp_dialer_${name}_total`, { label: 'event', help })
    this.events = group('events', 'Total count of TCP dialer events by type')
    this.errors = group('errors', 'Total count of TCP dialer errors by type')
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
    await Promise.all([
      ...[...this.listeners].map(async listener => { await listener.close() }),
      this.outbound.drained(closeTimeout)
    ])
    this.log('stopped, %d outbound sockets destroyed at the close deadline', this.outbound.stragglers)
  }

  async dial (ma: Multiaddr, options: TCPDialOptions): Promise<Connection> {
    if (this.stopping != null) {
      throw new NotStartedError(`cannot dial ${ma.toString()}: the TCP transport is stopped`)
    }
    checkOptions(`dial to ${ma.toString()}`, options, DIAL_RULES)
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
    const maConn = new SocketConnection({
      socket,
      remoteAddr: ma,
      direction: 'outbound',
      inactivityTimeout: this.init.outboundSocketInactivityTimeout,
      closeTimeout: this.init.closeTimeout,
      log: this.connectionLog,
      metrics: this.events
    })
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
      if ([...this.listeners].some(l => l.reusableAddress?.port === socket.localPort)) this.fromListenPort.add(connection)
      return connection
    } catch (err: any) {
      this.errors?.increment({ outbound_upgrade: true })
      this.log.error('error upgrading outbound connection to %a - %e', ma, err)
      maConn.abort(err)
      throw err
    } finally {
      socket.off('close', peerGone)
    }
  }

  /**
   * Opens a socket owned by the transport until its 'close': from a listen
   * port where the policy and the runtime allow (`portReuse`, `portUse`),
   * else, or when that port is taken for this peer, from an ephemeral one.
   * Rejects with an `AbortError`, or a `ConnectionFailedError` with Node's
   * error as `cause` and its `code`.
   */
  private async connect (ma: Multiaddr, options: TCPDialOptions, signal: AbortSignal): Promise<Socket> {
    // the dial's socket options over `dialOpts`, as `createListener`'s over `listenOpts`
    const config = { ...toConnectOptions(ma), ...withSocketDefaults({ ...this.init.dialOpts, ...options }) }

    options.onProgress?.(new CustomProgressEvent('tcp:open-connection'))
    this.log('dialing %a', ma)

    const source = this.listenPortFor(ma, config, options)
    try {
      if (source != null) {
        try {
          return await this.open(signal, () => boundSocket(source, config).connect({ ...config, family: source.family === 'IPv6' ? 6 : 4 }))
        } catch (err: any) {
          // no failure of the dial: it goes on from an ephemeral port
          if (!isListenPortError(err)) throw err
          this.events?.increment({ reuse_fallback: true })
          this.log('dial to %a from listen port %d fell back to an ephemeral port - %e', ma, source.port, err)
        }
      }
      return await this.open(signal, () => net.connect(config))
    } catch (err: any) {
      if (err?.name === 'AbortError') {
        this.events?.increment({ abort: true })
        this.log('dial to %a aborted', ma)
        throw new AbortError(`dial to ${ma.toString()} was aborted`)
      }
      this.events?.increment({ error: true })
      this.log.error('dial to %a failed - %e', ma, err)
      throw Object.assign(new ConnectionFailedError(`could not connect to ${ma.toString()}: ${err.message}`), { cause: err, code: err.code })
    }
  }

  /** the listen address this dial leaves from, or undefined for an ephemeral port */
  private listenPortFor (ma: Multiaddr, config: ConnectConfig, options: TCPDialOptions): AddressInfo | undefined {
    const family = FAMILIES[ma.getComponents()[0].name]
    if (family == null || config.path != null || !wantsListenPort(this.init.portReuse ?? 'auto', options, peer => this.components.connectionManager?.getConnections(peer) ?? [])) {
      return undefined
    }
    // a listener with `portReuse: 'never'` offers no address
    return listenPortFor(config.host, config.port, family, [...this.listeners].flatMap(l => l.reusableAddress ?? []))
  }

  /** Opens one socket, owned from its creation: its 'error' or the signal's abort, whichever comes first, rejects it and destroys it */
  private async open (signal: AbortSignal, create: () => Socket): Promise<Socket> {
    let socket: Socket | undefined
    try {
      socket = create()
      this.outbound.add(socket)
      await once(socket, 'connect', { signal })
    } catch (err) {
      socket?.destroy()
      throw err
    }
    this.events?.increment({ connect: true })
    return socket
  }

  /** rx-tcp: whether this transport dialed `connection` from one of its listen ports */
  dialedFromListenPort (connection: Connection): boolean {
    return this.fromListenPort.has(connection)
  }

  createListener (options: TCPCreateListenerOptions): Listener {
    checkOptions('createListener', options, SOCKET_OPTION_RULES)
    // the components by name: libp2p hands them over as a Proxy, which has nothing to spread
    const { metrics, logger } = this.components
    const listener = new TCPListener({ ...this.init, ...this.init.listenOpts, ...options, metrics, logger })
    this.listeners.add(listener)
    listener.addEventListener('close', () => this.listeners.delete(listener), { once: true })
    return listener
  }

  /** The TCP (ip4, ip6, dns, optionally with a `/p2p/` suffix) and `/unix/` addresses among `multiaddrs` */
  listenFilter (multiaddrs: Multiaddr[]): Multiaddr[] {
    return multiaddrs.filter(ma => TCPMatcher.exactMatch(ma) || Unix.exactMatch(ma))
  }

  /** The addresses this transport can dial: the same as it can listen on */
  dialFilter (multiaddrs: Multiaddr[]): Multiaddr[] {
    return this.listenFilter(multiaddrs)
  }
}
