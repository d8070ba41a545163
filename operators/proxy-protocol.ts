import { InvalidMessageError, InvalidParametersError, TimeoutError } from '@libp2p/interface'
import { asyncScheduler, Observable } from 'rxjs'
import { cidrMatcher } from './internal/cidr.ts'
import { scanProxyHeader, V1_MAX_BYTES } from './internal/proxy-header.ts'
import { tcpMultiaddr } from './to-inbound-socket.ts'
import type { ProxiedClient } from './internal/proxy-header.ts'
import type { InboundSocket } from './types.ts'
import type { Socket } from 'node:net'
import type { MonoTypeOperatorFunction, SchedulerLike, Subscription } from 'rxjs'

/** How long a trusted socket may take to deliver its header when no `timeout` is given */
export const DEFAULT_PROXY_HEADER_TIMEOUT = 5_000

/** The longest header, TLVs included, accepted when no `maxHeaderBytes` is given */
export const DEFAULT_MAX_PROXY_HEADER_BYTES = 4_096

/** The options of `proxyProtocol`. */
export interface ProxyProtocolOptions {
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
}

/**
 * Reads the PROXY protocol header (v1 text or v2 binary) that a load
 * balancer such as HAProxy sends before the client's bytes, and passes the
 * socket on with the client's address as its `remoteAddr`, so that every
 * later stage (CIDR rules, per-subnet limits), the libp2p `Connection`, its
 * gater and identify see the client instead of the balancer.
 *
 * Headers are read only from sockets whose peer is in `trusted`; any other
 * socket passes at once and untouched, and a header it sends is just bytes
 * for the upgrade to refuse, so no client can claim an address. The bytes
 * after the header stay in the socket for the upgrade, even when they
 * arrived with it. A `LOCAL` header (a balancer's health check), v1
 * `UNKNOWN` and v2 `UNSPEC` keep the socket's own address; TLVs are skipped.
 * The socket's byte path is left as it was: once the header is read the
 * operator holds no listener on it.
 *
 *   sockets:   --a--b--c--d------------------|     (a, c, d from the balancer, b from elsewhere)
 *   bytes:     ----A-----C-------------------      (A: header + payload, C: garbage, d sends nothing)
 *   timeout 15:
 *   result:    ----ab------------------------|     (a with the client's address, its payload left in
 *                                                   the socket; c rejected at C, 'proxy-missing';
 *                                                   d rejected at 26, 'proxy-timeout')
 *
 * Rejections: `'proxy-malformed'` for a header that is broken or longer than
 * `maxHeaderBytes`, `'proxy-timeout'` for one not complete within `timeout`,
 * `'proxy-missing'` for a trusted socket whose bytes do not start with a
 * PROXY signature or that ends before sending any (unless `optional`), and
 * `shutdownReason` for sockets still waiting when the source completes or
 * the operator is unsubscribed (a listener closing does both). A socket that
 * closes while it waits is forgotten.
 *
 * Headers are parsed by `proxy-protocol-js`; framing and the checks on
 * addresses and ports are done here.
 *
 * @example
 * // HAProxy on 10.0.0.5: server node1 10.0.0.11:4001 send-proxy-v2
 * tcp({ inbound: pipe(proxyProtocol({ trusted: ['10.0.0.5/32'] }), perSubnetLimit({ max: 8 })) })
 *
 * @param options - the trusted balancers, the deadline, whether the header is optional, the size bound
 * @returns an operator that replaces the balancer's address by the client's
 * @throws InvalidParametersError when a trusted block does not parse or a bound is out of range
 */
export function proxyProtocol (options: ProxyProtocolOptions): MonoTypeOperatorFunction<InboundSocket> {
  const {
    timeout = DEFAULT_PROXY_HEADER_TIMEOUT,
    optional = false,
    maxHeaderBytes = DEFAULT_MAX_PROXY_HEADER_BYTES,
    shutdownReason = 'shutdown',
    scheduler = asyncScheduler
  } = options
  if (!(timeout >= 0) || !(maxHeaderBytes >= V1_MAX_BYTES)) {
    throw new InvalidParametersError(`proxyProtocol: timeout must not be negative and maxHeaderBytes must be at least ${V1_MAX_BYTES}`)
  }
  const trusts = cidrMatcher(options.trusted)
  const settings: HeaderSettings = { timeout, optional, maxHeaderBytes, scheduler }

  return (source) => new Observable<InboundSocket>((subscriber) => {
    const reading = new Map<Socket, HeaderRead>()

    const settled = (read: HeaderRead, passed?: InboundSocket): void => {
      reading.delete(read.inbound.socket)
      if (passed !== undefined) {
        subscriber.next(passed)
      }
    }
    const cancelAll = (): void => {
      for (const read of [...reading.values()]) {
        read.cancel(shutdownReason)
      }
      reading.clear()
    }

    const subscription = source.subscribe({
      next: (arrived) => {
        if (arrived.socket.closed || trusts(arrived.remoteAddr) !== true) {
          subscriber.next(arrived)
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
      this.fail('proxy-timeout', new TimeoutError(`no complete PROXY header from ${this.peer} within ${settings.timeout}ms`))
    }, settings.timeout)
  }

  private get peer (): string {
    return this.inbound.remoteAddr.toString()
  }

  private readonly onReadable = (): void => {
    const { socket } = this.inbound
    let chunk: Buffer | null
    while ((chunk = socket.read()) !== null) {
      this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk])
    }
    const scan = scanProxyHeader(this.received, this.settings.maxHeaderBytes)
    switch (scan.kind) {
      case 'partial':
        return
      case 'header':
        this.pass(scan.length, scan.client)
        return
      case 'none':
        if (this.settings.optional) {
          this.pass(0)
        } else {
          this.fail('proxy-missing', new InvalidMessageError(`no PROXY header from ${this.peer}: its first bytes are not a PROXY signature`))
        }
        return
      case 'malformed':
        this.fail('proxy-malformed', new InvalidMessageError(`malformed PROXY header from ${this.peer}: ${scan.why}`))
    }
  }

  private readonly onEnd = (): void => {
    if (this.received.length > 0) {
      this.fail('proxy-malformed', new InvalidMessageError(`malformed PROXY header from ${this.peer}: the connection ended inside it`))
    } else if (this.settings.optional) {
      this.pass(0)
    } else {
      this.fail('proxy-missing', new InvalidMessageError(`no PROXY header from ${this.peer}: the connection ended first`))
    }
  }

  private readonly onClose = (): void => {
    this.stop()
    this.settled(this)
  }

  private pass (length: number, client?: ProxiedClient): void {
    this.stop()
    const rest = this.received.subarray(length)
    if (rest.length > 0) {
      this.inbound.socket.unshift(rest)
    }
    this.settled(this, client === undefined ? this.inbound : proxied(this.inbound, client))
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
 * the original (the listener's log and metrics count it there, under the
 * address the socket came from).
 */
function proxied (inbound: InboundSocket, client: ProxiedClient): InboundSocket {
  return {
    socket: inbound.socket,
    remoteAddr: tcpMultiaddr(client.ip, client.port),
    localAddr: inbound.localAddr,
    intake: inbound.intake,
    reject: (reason, err) => inbound.reject(reason, err)
  }
}
