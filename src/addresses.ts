import { InvalidParametersError, ListenError } from '@libp2p/interface'
import { getThinWaistAddresses } from '@libp2p/utils'
import { CODE_UNIX, multiaddr } from '@multiformats/multiaddr'
import { TCP, Unix } from '@multiformats/multiaddr-matcher'
import { boundMultiaddr } from './core/addresses.ts'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { AddressInfo, IpcSocketConnectOpts, ListenOptions, TcpSocketConnectOpts } from 'node:net'

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
  if (typeof addr !== 'string') {
    return addr
  }

  try {
    return multiaddr(addr)
  } catch (err: any) {
    throw new InvalidParametersError(`malformed multiaddr ${addr}: ${err?.message ?? err}`)
  }
}

function unixPath (ma: Multiaddr): string {
  const path = ma.getComponents().find(c => c.code === CODE_UNIX)?.value

  if (path == null || path === '') {
    throw new InvalidParametersError(`${ma.toString()} has no unix path`)
  }

  return path
}

function hostAndPort (ma: Multiaddr, verb: string): { host: string, port: number, ip6: boolean } {
  if (!TCP.exactMatch(ma)) {
    throw new InvalidParametersError(`cannot ${verb} ${ma.toString()}: not a TCP or unix multiaddr`)
  }

  const components = ma.getComponents()
  const hostPart = components.find(c => c.name === 'ip4' || c.name === 'ip6' || c.name === 'dns' || c.name === 'dns4' || c.name === 'dns6')
  const portPart = components.find(c => c.name === 'tcp')
  const port = Number(portPart?.value)

  if (hostPart?.value == null || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidParametersError(`cannot ${verb} ${ma.toString()}: no usable host and port`)
  }

  return { host: hostPart.value, port, ip6: hostPart.name === 'ip6' }
}

/**
 * `server.listen` options for a multiaddr. An ip6 address listens with
 * `ipv6Only` so that `/ip4/0.0.0.0` and `/ip6/::` can share a port.
 */
export function toListenOptions (ma: Multiaddr, extra: Pick<ListenOptions, 'backlog'> = {}): ListenOptions {
  if (Unix.exactMatch(ma)) {
    return { path: unixPath(ma), ...extra }
  }

  const { host, port, ip6 } = hostAndPort(ma, 'listen on')
  return { host, port, ipv6Only: ip6, ...extra }
}

/** `net.connect` options for a multiaddr */
export function toConnectOptions (ma: Multiaddr): ConnectConfig {
  if (Unix.exactMatch(ma)) {
    return { path: unixPath(ma) }
  }

  const { host, port } = hostAndPort(ma, 'dial')

  if (port === 0) {
    throw new InvalidParametersError(`cannot dial ${ma.toString()}: port 0`)
  }

  return { host, port }
}

/**
 * The addresses a listener reports: a unix path as `/unix/…`, a wildcard
 * (`0.0.0.0`, `::`) expanded to every interface of its family (the thin
 * waist), anything else as bound, with the port the kernel chose.
 */
export function boundAddresses (listenAddr: Multiaddr, bound: AddressInfo | string): Multiaddr[] {
  if (typeof bound === 'string') {
    return [boundMultiaddr(bound)]
  }

  return getThinWaistAddresses(listenAddr, bound.port)
}

/** A short text for a net address, as used in metric labels: `host:port` or the unix path */
export function addressLabel (bound: AddressInfo | string | null): string {
  if (bound == null) {
    return 'unknown'
  }

  return typeof bound === 'string' ? bound : `${bound.address}:${bound.port}`
}

/**
 * The error of a failed `listen` on `ma`, naming the address. Node's errno
 * stays on it as `code` and the original error as `cause`, as in
 * `@libp2p/tcp`: a retry on another port checks `code`.
 */
export function listenError (ma: Multiaddr, err: NodeJS.ErrnoException): ListenError {
  return Object.assign(new ListenError(`could not listen on ${ma.toString()}: ${describeListenError(err)}`), { cause: err, code: err.code })
}

function describeListenError (err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE': return 'address in use'
    case 'EACCES': return 'permission denied'
    case 'EADDRNOTAVAIL': return 'address not available'
    default: return err.message
  }
}
