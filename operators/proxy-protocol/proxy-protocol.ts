import { InvalidMessageError, TimeoutError } from '@libp2p/interface'
import { asyncScheduler } from 'rxjs'
import { cidrMatcher } from '../internal/cidr.ts'
import { FirstBytesReader } from '../../src/core/first-bytes.ts'
import { markProxied } from './peer-address.ts'
import { proxyEventReporter } from './events.ts'
import { completeSignatureVersion, scanProxyHeader, signatureVersion, startsLikeSignature, V1_MAX_BYTES } from './header.ts'
import { tcpMultiaddr } from '../../src/core/addresses.ts'
import { forSocket } from '../../src/core/for-socket.ts'
import { operate, operatorObserver } from '../../src/core/operate.ts'
import { boolean, checkOptions, cidr, fn, integer, invalidOption, list, ms, object, oneOf, required, scheduler as schedulerLike, text } from '../../src/core/check.ts'
import type { ProxyEventOptions, ProxyProtocolEvent } from './events.ts'
import type { FirstBytesJudge, FirstBytesVerdict } from '../../src/core/first-bytes.ts'
import type { ProxiedClient, ProxyHeader } from './header.ts'
import type { InboundSocket } from '../../src/core/types.ts'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { MonoTypeOperatorFunction, SchedulerLike } from 'rxjs'

/** How long a trusted socket may take to deliver its header when no `timeout` is given */
export const DEFAULT_PROXY_HEADER_TIMEOUT = 5_000

/** The longest header, TLVs included, accepted when no `maxHeaderBytes` is given */
const DEFAULT_MAX_PROXY_HEADER_BYTES = 4_096

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
   * give once a header named a client, and so those of an HTTP or HTTP/2
   * request over it, and of the TLSSocket a `guardServer`ed TLS server makes
   * over it (default `'client'`, as own getters of the socket instance;
   * `'balancer'` leaves the socket as Node made it). `balancerAddress(socket)`
   * and `clientAddress(socket)` answer either way.
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
 * said is `proxyHeader(socket)`: version, command, addresses and the v2
 * TLVs decoded (`ProxyTlvs`: ALPN, authority, unique ID, SSL and
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
 * A throw in `onEvent` (or in the metrics given) rejects that socket alone,
 * `'stage-error'`.
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
  const settings: HeaderSettings = { optional, maxHeaderBytes, versions: new Set(versions), report, expose: socketPeer === 'client', timeout }

  return operate<InboundSocket, InboundSocket>((source, subscriber) => {
    // the sockets whose first bytes are being read: rejected with shutdownReason if the stream ends first
    const waiting = new Map<InboundSocket, FirstBytesReader<InboundSocket>>()
    const forget = (inbound: InboundSocket): void => { waiting.delete(inbound) }
    const outcomes: Outcomes = {
      settle: (inbound, consumed, then) => ({
        consumed,
        then: () => {
          waiting.delete(inbound)
          // the work of a verdict is for one socket: a throw in it (a user's onEvent) rejects that socket alone
          forSocket(inbound, then)
        }
      }),
      pass: (inbound) => {
        if (!inbound.socket.destroyed) subscriber.next(inbound)
      }
    }
    // one judge of each path per subscription, shared by its sockets: a waiting socket costs its reader alone
    const judgeHeader = headerJudge(settings, outcomes)
    const judgeUntrusted = untrustedJudge(report, outcomes)
    const read = (inbound: InboundSocket, judge: FirstBytesJudge<InboundSocket>): void => {
      waiting.set(inbound, new FirstBytesReader(inbound, timeout, scheduler, judge, forget))
    }
    const cancelAll = (): void => {
      for (const [inbound, reader] of [...waiting]) {
        reader.stop()
        inbound.reject(shutdownReason)
      }
      waiting.clear()
    }
    const subscription = source.subscribe(operatorObserver(subscriber, (arrived) => {
      if (arrived.socket.closed) {
        subscriber.next(arrived)
      } else if (trusts(arrived.remoteAddr) === true) {
        read(arrived, judgeHeader)
      } else if (untrusted === 'reject') {
        read(arrived, judgeUntrusted)
      } else {
        subscriber.next(arrived)
      }
    }, () => {
      // a listener's source completes when it closes: a header still on its way would come too late
      cancelAll()
      subscriber.complete()
    }))
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
  versions: ReadonlySet<number>
  report: (event: ProxyProtocolEvent, inbound: InboundSocket) => void
  expose: boolean
}

/** What a judge does with a socket, given by the operator's subscription. */
interface Outcomes {
  /** a verdict: the bytes consumed, and the work for the socket once the reader has let go of it */
  settle: (inbound: InboundSocket, consumed: number, then: () => void) => FirstBytesVerdict
  /** hands the socket on */
  pass: (inbound: InboundSocket) => void
}

/**
 * A trusted socket's first bytes: its header, judged on the whole signature
 * (so that the outcome does not depend on how the bytes were split), then
 * framed and decoded; the bytes after it go back for the upgrade.
 */
function headerJudge (settings: HeaderSettings, { settle, pass }: Outcomes): FirstBytesJudge<InboundSocket> {
  const { optional, maxHeaderBytes, versions, report, expose, timeout } = settings
  const fail = (inbound: InboundSocket, reason: string, err: Error, event: ProxyProtocolEvent): FirstBytesVerdict => settle(inbound, 0, () => {
    report(event, inbound)
    inbound.reject(reason, err)
  })
  const malformed = (inbound: InboundSocket, version: 1 | 2, why: string): FirstBytesVerdict =>
    fail(inbound, 'proxy-malformed', new InvalidMessageError(`malformed PROXY header from ${inbound.remoteAddr.toString()}: ${why}`), { kind: 'malformed', version, why })
  const missing = (inbound: InboundSocket, why: string): FirstBytesVerdict => optional
    ? settle(inbound, 0, () => { report({ kind: 'missing' }, inbound); pass(inbound) })
    : fail(inbound, 'proxy-missing', new InvalidMessageError(`no PROXY header from ${inbound.remoteAddr.toString()}: ${why}`), { kind: 'missing' })
  return (inbound, received, event) => {
    if (event === 'timeout') {
      return fail(inbound, 'proxy-timeout', new TimeoutError(`no complete PROXY header from ${inbound.remoteAddr.toString()} within ${timeout}ms`), { kind: 'timeout', version: signatureVersion(received) })
    }
    if (event === 'end') {
      const version = signatureVersion(received)
      return version === undefined ? missing(inbound, 'the connection ended first') : malformed(inbound, version, 'the connection ended inside it')
    }
    const version = completeSignatureVersion(received)
    if (version !== undefined && !versions.has(version)) {
      return fail(inbound, 'proxy-version', new InvalidMessageError(`PROXY v${version} header from ${inbound.remoteAddr.toString()}, a version not accepted`), { kind: 'disallowed', version })
    }
    const scan = scanProxyHeader(received, maxHeaderBytes)
    switch (scan.kind) {
      case 'partial':
        return undefined
      case 'none':
        return missing(inbound, 'its first bytes are not a PROXY signature')
      case 'malformed':
        return malformed(inbound, scan.version, scan.why)
      case 'header':
        return settle(inbound, scan.length, () => {
          report({ kind: 'found', version: scan.version, header: scan.header }, inbound)
          pass(proxied(inbound, scan.header, scan.client, expose))
        })
    }
  }
}

/**
 * An untrusted socket's first bytes under `untrusted: 'reject'`, read only
 * as far as telling whether they open with a PROXY signature (12 bytes at
 * most): rejected `'proxy-untrusted'` when they do; passed, every byte put
 * back, as soon as they do not, or when it ends or stays silent until the
 * timeout (a peer that waits for the server to speak first).
 */
function untrustedJudge (report: (event: ProxyProtocolEvent, inbound: InboundSocket) => void, { settle, pass }: Outcomes): FirstBytesJudge<InboundSocket> {
  return (inbound, received, event) => {
    const version = completeSignatureVersion(received)
    if (version !== undefined) {
      return settle(inbound, 0, () => {
        report({ kind: 'untrusted', version }, inbound)
        inbound.reject('proxy-untrusted', new InvalidMessageError(`PROXY v${version} header from ${inbound.remoteAddr.toString()}, which is not a trusted balancer`))
      })
    }
    return event !== 'bytes' || (received.length > 0 && !startsLikeSignature(received))
      ? settle(inbound, 0, () => { pass(inbound) })
      : undefined
  }
}

/**
 * The same socket with the client's address: a plain element of own fields,
 * so later stages may copy it with `{ ...inbound }`. Rejecting it rejects
 * the original, which an rx-tcp listener or `acceptSockets` names by the
 * socket's peer as it reads then: the client, unless `socketPeer:
 * 'balancer'`. The socket is marked with the header (`proxyHeader`, `balancerAddress`,
 * `clientAddress`) and, with `expose`, reads the client as its own peer.
 */
function proxied (inbound: InboundSocket, header: ProxyHeader, client: ProxiedClient | undefined, expose: boolean): InboundSocket {
  const remoteAddr = client === undefined ? inbound.remoteAddr : tcpMultiaddr(client.ip, client.port)
  markProxied(inbound.socket, header, client === undefined ? undefined : canonicalIp(client.ip, remoteAddr), expose)
  if (client === undefined) {
    return inbound
  }
  return {
    socket: inbound.socket,
    remoteAddr,
    localAddr: inbound.localAddr,
    intake: inbound.intake,
    reject: (reason, err) => inbound.reject(reason, err),
    count: inbound.count,
    closed$: inbound.closed$
  }
}

/**
 * The client's IP as Node would have written it had it connected directly:
 * an IPv6 address in canonical form (a header may spell it
 * `2001:db8:0:0:1:0:0:2`), taken from the multiaddr that parsed it; IPv4
 * and IPv4-mapped addresses as the header gave them.
 */
function canonicalIp (ip: string, remoteAddr: Multiaddr): string {
  const components = remoteAddr.getComponents()
  const ip6 = components.find(({ name }) => name === 'ip6')?.value
  const zone = components.find(({ name }) => name === 'ip6zone')?.value
  return ip6 === undefined ? ip : zone === undefined ? ip6 : `${ip6}%${zone}`
}
