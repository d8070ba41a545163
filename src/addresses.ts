import { InvalidParametersError, ListenError } from '@libp2p/interface'
import { getThinWaistAddresses, tryGetNetConfig } from '@libp2p/utils'
import { CODE_UNIX, multiaddr } from '@multiformats/multiaddr'
import { TCP, Unix } from '@multiformats/multiaddr-matcher'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { IpcSocketConnectOpts, ListenOptions, TcpSocketConnectOpts } from 'node:net'

/** `net.connect` options for one multiaddr */
export type ConnectConfig = (TcpSocketConnectOpts & { path?: undefined }) | IpcSocketConnectOpts

/**
 * True for the addresses this transport listens on and dials: TCP over
 * ip4/ip6/dns (optionally with a `/p2p/` suffix) and `/unix/` paths.
 */
export function isTcpOrUnix (ma: Multiaddr): boolean {
  return TCP.exactMatch(ma) || Unix.exactMatch(ma)
}

/** Parses a multiaddr given as a string or a Multiaddr, naming it when it is malformed */
export function toMultiaddr (addr: Multiaddr | string): Multiaddr {
  try {
    return typeof addr === 'string' ? multiaddr(addr) : addr
  } catch (err: any) {
    throw new InvalidParametersError(`malformed multiaddr ${String(addr)}: ${err?.message ?? err}`)
  }
}

/**
 * The `net` options of a multiaddr: `{ path }` for `/unix/…`, else the host
 * and port, with `ipv6Only` for an ip6 address so that `/ip4/0.0.0.0` and
 * `/ip6/::` can share a port; refused with an `InvalidParametersError` that
 * says what could not be done (`verb`) with which address.
 */
function netOptions (ma: Multiaddr, verb: string): ListenOptions {
  if (Unix.exactMatch(ma)) {
    const path = ma.getComponents().find(c => c.code === CODE_UNIX)?.value
    if (path == null || path === '') throw new InvalidParametersError(`cannot ${verb} ${ma.toString()}: no unix path`)
    return { path }
  }
  const config = TCP.exactMatch(ma) ? tryGetNetConfig(ma) : null
  if (config?.port == null || !(config.port >= 0 && config.port <= 65535)) {
    throw new InvalidParametersError(`cannot ${verb} ${ma.toString()}: not a TCP or unix multiaddr`)
  }
  return { host: config.host, port: config.port, ipv6Only: config.type === 'ip6' }
}

/** `server.listen` options for a multiaddr (`reusePort` for TCP only: a unix path has no port to share) */
export function toListenOptions (ma: Multiaddr, extra: Pick<ListenOptions, 'backlog' | 'reusePort'> = {}): ListenOptions {
  const options = netOptions(ma, 'listen on')
  return options.path != null ? { ...options, backlog: extra.backlog } : { ...options, ...extra }
}

/** `net.connect` options for a multiaddr */
export function toConnectOptions (ma: Multiaddr): ConnectConfig {
  const { path, host, port = 0 } = netOptions(ma, 'dial')
  if (path != null) return { path }
  if (port === 0) throw new InvalidParametersError(`cannot dial ${ma.toString()}: port 0`)
  return { host, port }
}

/**
 * The addresses a listener reports: a unix path as bound, a wildcard
 * (`0.0.0.0`, `::`) expanded to every interface of its family (the thin
 * waist), anything else as bound, with the port the kernel chose.
 */
export function boundAddresses (listenAddr: Multiaddr, bound: Multiaddr): Multiaddr[] {
  const port = tryGetNetConfig(bound)?.port
  return port == null ? [bound] : getThinWaistAddresses(listenAddr, port)
}

/**
 * The error of a failed `listen` on `ma`, naming the address. Node's errno
 * stays on it as `code` and the original error as `cause`, as in
 * `@libp2p/tcp`: a retry on another port checks `code`.
 */
export function listenError (ma: Multiaddr, err: NodeJS.ErrnoException): ListenError {
  const described = { EADDRINUSE: 'address in use', EACCES: 'permission denied', EADDRNOTAVAIL: 'address not available' }[err.code ?? ''] ?? err.message
  return Object.assign(new ListenError(`could not listen on ${ma.toString()}: ${described}`), { cause: err, code: err.code })
}
