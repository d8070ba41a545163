import { InvalidParametersError, ListenError } from '@libp2p/interface'
import { tryGetNetConfig } from '@libp2p/utils'
import { CODE_UNIX } from '@multiformats/multiaddr'
import { TCP, Unix } from '@multiformats/multiaddr-matcher'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { ListenOptions } from 'node:net'

/** `net.connect` options for one multiaddr: a host and port, or a unix path */
export type ConnectConfig = { host: string, port: number, path?: undefined } | { path: string }

/**
 * The `net` options of a multiaddr: `{ path }` for `/unix/…`, else the host
 * and port, with `ipv6Only` for an ip6 address so that `/ip4/0.0.0.0` and
 * `/ip6/::` can share a port; refused with an `InvalidParametersError` that
 * says what could not be done (`verb`) with which address.
 */
function netOptions (ma: Multiaddr, verb: string): { path: string } | { host: string, port: number, ipv6Only: boolean, path?: undefined } {
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
  const options = netOptions(ma, 'dial')
  if (options.path != null) return options
  if (options.port === 0) throw new InvalidParametersError(`cannot dial ${ma.toString()}: port 0`)
  return { host: options.host, port: options.port }
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
