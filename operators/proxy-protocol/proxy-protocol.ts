import { InvalidMessageError, TimeoutError } from '@libp2p/interface'
import { asyncScheduler, Observable } from 'rxjs'
import { cidrMatcher } from '../internal/cidr.ts'
import { markProxied } from './peer-address.ts'
import { proxyEventReporter } from './events.ts'
import { completeSignatureVersion, scanProxyHeader, signatureVersion, V1_MAX_BYTES } from './header.ts'
import { UntrustedPeek } from './untrusted-peek.ts'
import { tcpMultiaddr } from '../../src/core/inbound-socket.ts'
import { boolean, checkOptions, cidr, fn, integer, invalidOption, list, ms, object, oneOf, required, scheduler as schedulerLike, text } from '../../src/core/check.ts'
import type { ProxyEventOptions, ProxyProtocolEvent } from './events.ts'
import type { ProxiedClient, ProxyHeader } from './header.ts'
import type { InboundSocket } from '../../src/core/types.ts'
import type { Socket } from 'node:net'
import type { MonoTypeOperatorFunction, SchedulerLike, Subscription } from 'rxjs'

/** How long a trusted socket may take to deliver its header when no `timeout` is given */
export const DEFAULT_PROXY_HEADER_TIMEOUT = 5_000

/** The longest header, TLVs included, accepted when no `maxHeaderBytes` is given */
export const DEFAULT_MAX_PROXY_HEADER_BYTES = 4_096

/** The options of `proxyProtocol`. */
export interface ProxyProtocolOptions extends ProxyEventOptions {
  /** CIDR blocks (IPv4 or IPv6) of the balancers whose headers are believed; sockets from anywhere else pass unchanged */
  trusted: readonly string[]
  /** how long, in ms, a trusted socket has to deliver its whole header (default 5000) */
  timeout?: number
  /** let a trusted socket that sends no header through with its own address (default false: rejected `'proxy-missing'`) */
  optional?: boolean
  /** the longest header accepted, TLVs included; at least 107 (default 4096; a v1 line is never longer than 107 bytes) */
  maxHeaderBytes?: number
  /** the reason sockets still waiting for their header are rejected with when the source completes or the operator is unsubscribed (default `'shutdown'`) */
  shutdownReason?: string
  /** the clock of the timeout (default `asyncScheduler`) */
  scheduler?: SchedulerLike
  /**
   * what a socket from outside `trusted` gets: `'pass'` (default) hands it on
   * at once, unread, a header it sends being bytes for the upgrade to
   * refuse; `'reject'` judges its first bytes (12 at most, within `timeout`,
   * all it read put back)
   * and rejects it `'proxy-untrusted'` if they are a PROXY signature. Only
   * for protocols whose client speaks first: a silent untrusted peer is held
   * until `timeout`, then passed
   */
  untrusted?: 'pass' | 'reject'
  /** the versions accepted from trusted peers (default both); a header of another is rejected `'proxy-version'` at its first byte */
  versions?: ReadonlyArray<1 | 2>
  /**
   * what the socket's own `remoteAddress`, `remotePort` and `remoteFamily`
   * give once a header named a client, and so those of a TLSSocket, an HTTP
   * or HTTP/2 request over it (default `'client'`; `'balancer'` leaves the
   * socket as Node made it). `balancerAddress(socket)` gives the balancer's
   * either way.
   */
  socketPeer?: 'client' | 'balancer'
}

/**
 * Reads the PROXY protocol header (v1 text or v2 binary) that a load
 * balancer such as HAProxy sends before the client's bytes, and passes the
 * socket on with the client's address as its `remoteAddr`, so that every
 * later stage (CIDR rules, per-subnet limits), the libp2p `Connection`, its
 * gater and identify see the client instead of the balancer. The socket
 * itself reads the client as its peer too (unless `socketPeer:
 * 'balancer'`): its `remoteAddress`, `remotePort` and `remoteFamily`, those
 * of a TLSSocket over it, and so `req.socket` of an `http`, `https` or
 * `http2` server behind `guardServer`; `balancerAddress(socket)` gives the
 * balancer's.
 *
 * Headers are read only from sockets whose peer is in `trusted`; any other
 * socket passes at once and untouched, and a header it sends is just bytes
 * for the upgrade to refuse, so no client can claim an address. The bytes
 * after the header stay in the socket for the upgrade, even when they
 * arrived with it. A `LOCAL` header (a balancer's health check), v1
 * `UNKNOWN` and v2 `UNSPEC` keep the socket's own address. What the header
 * said is the `proxy` of the socket handed on: version, command, addresses
 * and the v2 TLVs decoded (`ProxyTlvs`: ALPN, authority, unique ID, SSL and
 * its sub-TLVs, netns, AWS, Azure and GCP private-link IDs, the raw list);
 * a CRC32C TLV is checked, NOOP padding skipped. The socket's byte path is
 * left as it was: once the header is read the operator holds no listener
 * on it.
 *
 *   sockets:   --a--b--c--d------------------|     (a, c, d from the balancer, b from elsewhere)
 *   bytes:     ----A-----C-------------------      (A: header + payload, C: garbage, d sends nothing)
 *   timeout 15:
 *   result:    ----ab------------------------|     (a with the client's address, its payload left in
 *                                                   the socket; c rejected at C, 'proxy-missing';
 *                                                   d rejected at 26, 'proxy-timeout')
 *
 * Rejections: `'proxy-malformed'` for a header that is broken (a CRC32C
 * mismatch included) or longer than `maxHeaderBytes`, `'proxy-timeout'` for
 * one not complete within `timeout`, `'proxy-version'` for a version left
 * out of `versions`, `'proxy-untrusted'` for a header from outside
 * `trusted` under `untrusted: 'reject'`,
 * `'proxy-missing'` for a trusted socket whose bytes do not start with a
 * PROXY signature or that ends before sending any (unless `optional`), and
 * `shutdownReason` for sockets still waiting when the source completes or
 * the operator is unsubscribed (a listener closing does both). A socket that
 * closes while it waits is forgotten.
 *
 * Each header found, missing, malformed or timed out is an event
 * (`ProxyProtocolEvent`), counted per version (`proxy_v2_found`,
 * `proxy_v1_malformed`…) in the socket's listener
 * (`libp2p_tcp_listener_events_total` of an rx-tcp node), in `metrics` or
 * `events` when given, and told to `onEvent`.
 *
 * v2 headers are decoded here entirely; v1 lines are parsed by
 * `proxy-protocol-js`, framed and checked here.
 *
 * @example
 * // HAProxy on 10.0.0.5: server node1 10.0.0.11:4001 send-proxy-v2
 * tcp({ inbound: pipe(proxyProtocol({ trusted: ['10.0.0.5/32'] }), perSubnetLimit({ max: 8 })) })
 *
 * @param options - the trusted balancers, the deadline, whether the header is optional, the size bound, the policy, where to count
 * @returns an operator that replaces the balancer's address by the client's
 * @throws InvalidParametersError when a trusted block does not parse or a bound is out of range
 */
export function proxyProtocol (options: ProxyProtocolOptions): MonoTypeOperatorFunction<InboundSocket> {
  checkOptions('proxyProtocol', options, {
    trusted: required(list(cidr())),
    timeout: ms(),
    optional: boolean(),
    maxHeaderBytes: integer({ min: V1_MAX_BYTES }),
    shutdownReason: text(),
    scheduler: schedulerLike(),
    untrusted: oneOf('pass', 'reject'),
    versions: list(oneOf(1, 2)),
    socketPeer: oneOf('client', 'balancer'),
    metrics: object(),
    events: object(),
    onEvent: fn()
  })
  const {
    timeout = DEFAULT_PROXY_HEADER_TIMEOUT,
    optional = false,
    maxHeaderBytes = DEFAULT_MAX_PROXY_HEADER_BYTES,
    shutdownReason = 'shutdown',
    scheduler = asyncScheduler,
    untrusted = 'pass',
    versions = [1, 2],
    socketPeer = 'client'
  } = options
  if (versions.length === 0) {
    throw invalidOption('proxyProtocol', 'versions must list 1, 2 or both, got []')
  }
  const trusts = cidrMatcher(options.trusted)
  const report = proxyEventReporter(options)
  const settings: HeaderSettings = { timeout, optional, maxHeaderBytes, scheduler, versions: new Set(versions), report, socketPeer }

  return (source) => new Observable<InboundSocket>((subscriber) => {
    const reading = new Map<Socket, HeaderRead>()
    const peeking = new Map<Socket, UntrustedPeek>()

    const settled = (read: HeaderRead, passed?: InboundSocket): void => {
      reading.delete(read.inbound.socket)
      if (passed !== undefined) {
        subscriber.next(passed)
      }
    }
    const peeked = (peek: UntrustedPeek, header?: 1 | 2): void => {
      peeking.delete(peek.inbound.socket)
      if (header === undefined) {
        if (!peek.inbound.socket.destroyed) subscriber.next(peek.inbound)
        return
      }
      report({ kind: 'untrusted', version: header }, peek.inbound)
      peek.inbound.reject('proxy-untrusted', new InvalidMessageError(`PROXY v${header} header from ${peek.inbound.remoteAddr.toString()}, which is not a trusted balancer`))
    }
    const cancelAll = (): void => {
      for (const read of [...reading.values()]) {
        read.cancel(shutdownReason)
      }
      reading.clear()
      for (const peek of [...peeking.values()]) {
        peek.stop()
        peek.inbound.reject(shutdownReason)
      }
      peeking.clear()
    }

    const subscription = source.subscribe({
      next: (arrived) => {
        if (arrived.socket.closed) {
          subscriber.next(arrived)
          return
        }
        if (trusts(arrived.remoteAddr) !== true) {
          if (untrusted === 'reject') {
            peeking.set(arrived.socket, new UntrustedPeek(arrived, timeout, scheduler, peeked, peeked))
          } else {
            subscriber.next(arrived)
          }
          return
        }
        reading.set(arrived.socket, new HeaderRead(arrived, settings, settled))
      },
      error: (err) => { subscriber.error(err) },
      // a listener's source completes when it closes: a header still on its way would come too late
      complete: () => {
        cancelAll()
        subscriber.complete()
      }
    })

    return () => {
      subscription.unsubscribe()
      cancelAll()
    }
  })
}

interface HeaderSettings {
  timeout: number
  optional: boolean
  maxHeaderBytes: number
  scheduler: SchedulerLike
  versions: ReadonlySet<number>
  report: (event: ProxyProtocolEvent, inbound: InboundSocket) => void
  socketPeer: 'client' | 'balancer'
}

/**
 * One trusted socket waiting for its header: paused-mode reads through
 * 'readable' (no 'data' listener, so no byte can flow past), the bytes after
 * the header unshifted back, every listener and the timer removed when it
 * settles.
 */
class HeaderRead {
  private received: Buffer = Buffer.alloc(0)
  private readonly timer: Subscription

  constructor (
    readonly inbound: InboundSocket,
    private readonly settings: HeaderSettings,
    private readonly settled: (read: HeaderRead, passed?: InboundSocket) => void
  ) {
    const { socket } = inbound
    socket.on('readable', this.onReadable)
    socket.once('end', this.onEnd)
    socket.once('close', this.onClose)
    this.timer = settings.scheduler.schedule(() => {
      this.report({ kind: 'timeout', version: signatureVersion(this.received) })
      this.fail('proxy-timeout', new TimeoutError(`no complete PROXY header from ${this.peer} within ${settings.timeout}ms`))
    }, settings.timeout)
  }

  private get peer (): string {
    return this.inbound.remoteAddr.toString()
  }

  private report (event: ProxyProtocolEvent): void {
    this.settings.report(event, this.inbound)
  }

  private readonly onReadable = (): void => {
    const { socket } = this.inbound
    let chunk: Buffer | null
    while ((chunk = socket.read()) !== null) {
      this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk])
    }
    // judged on the whole signature, so that the outcome does not depend on how the bytes were split
    const version = completeSignatureVersion(this.received)
    if (version !== undefined && !this.settings.versions.has(version)) {
      this.report({ kind: 'disallowed', version })
      this.fail('proxy-version', new InvalidMessageError(`PROXY v${version} header from ${this.peer}, a version not accepted`))
      return
    }
    const scan = scanProxyHeader(this.received, this.settings.maxHeaderBytes)
    switch (scan.kind) {
      case 'partial':
        return
      case 'header':
        this.report({ kind: 'found', version: scan.version, header: scan.header })
        this.pass(scan.length, scan.header, scan.client)
        return
      case 'none':
        this.report({ kind: 'missing' })
        if (this.settings.optional) {
          this.pass(0)
        } else {
          this.fail('proxy-missing', new InvalidMessageError(`no PROXY header from ${this.peer}: its first bytes are not a PROXY signature`))
        }
        return
      case 'malformed':
        this.report({ kind: 'malformed', version: scan.version, why: scan.why })
        this.fail('proxy-malformed', new InvalidMessageError(`malformed PROXY header from ${this.peer}: ${scan.why}`))
    }
  }

  private readonly onEnd = (): void => {
    const version = signatureVersion(this.received)
    if (version !== undefined) {
      this.report({ kind: 'malformed', version, why: 'the connection ended inside it' })
      this.fail('proxy-malformed', new InvalidMessageError(`malformed PROXY header from ${this.peer}: the connection ended inside it`))
      return
    }
    this.report({ kind: 'missing' })
    if (this.settings.optional) {
      this.pass(0)
    } else {
      this.fail('proxy-missing', new InvalidMessageError(`no PROXY header from ${this.peer}: the connection ended first`))
    }
  }

  private readonly onClose = (): void => {
    this.stop()
    this.settled(this)
  }

  private pass (length: number, header?: ProxyHeader, client?: ProxiedClient): void {
    this.stop()
    const rest = this.received.subarray(length)
    if (rest.length > 0) {
      this.inbound.socket.unshift(rest)
    }
    this.settled(this, header === undefined ? this.inbound : proxied(this.inbound, header, client, this.settings.socketPeer === 'client'))
  }

  private fail (reason: string, err: Error): void {
    this.stop()
    this.inbound.reject(reason, err)
    this.settled(this)
  }

  cancel (reason: string): void {
    this.stop()
    this.inbound.reject(reason)
  }

  private stop (): void {
    const { socket } = this.inbound
    this.timer.unsubscribe()
    socket.off('readable', this.onReadable)
    socket.off('end', this.onEnd)
    socket.off('close', this.onClose)
  }
}

/**
 * The same socket with the client's address: a plain element of own fields,
 * so later stages may copy it with `{ ...inbound }`, and rejecting it rejects
 * the original. The socket itself is marked with the client (and, with
 * `expose`, reads it as its own peer: `internal/peer-address.ts`), so the
 * listener's log names the client when the original is rejected.
 */
function proxied (inbound: InboundSocket, header: ProxyHeader, client: ProxiedClient | undefined, expose: boolean): InboundSocket {
  const remoteAddr = client === undefined ? inbound.remoteAddr : tcpMultiaddr(client.ip, client.port)
  if (client !== undefined) {
    markProxied(inbound.socket, client.ip, client.port, remoteAddr, { expose })
  }
  return {
    socket: inbound.socket,
    remoteAddr,
    localAddr: inbound.localAddr,
    intake: inbound.intake,
    reject: (reason, err) => inbound.reject(reason, err),
    count: inbound.count,
    proxy: header
  }
}
