import { boolean, checkOptions, checkPauseWindow, fn, integer, isObject, ms, number, object, oneOf, required } from './core/checker.ts'
import type { CloseServerOnMaxConnectionsOpts, InboundGuardOptions, TCPDialOptions, TCPOptions, TCPSocketOptions } from './index.ts'
import type { Rules } from './core/checker.ts'

/**
 * The socket options a user can set, for `dialOpts`, `listenOpts`, each
 * `dial` and each `createListener` (whose other options are libp2p's, left alone). Node takes any value for the booleans
 * (by truthiness) and any number for the delay; these are the values that
 * mean what the option says.
 */
export const SOCKET_OPTION_RULES: Rules<TCPSocketOptions> = {
  noDelay: boolean(),
  keepAlive: boolean(),
  keepAliveInitialDelay: number({ min: 0 }),
  allowHalfOpen: boolean()
}

const GUARD_RULES: Rules<InboundGuardOptions> = {
  maxUpgrading: integer({ min: 1 }),
  stalledMs: ms(),
  openingMs: ms()
}

/**
 * One rule per option of `tcp(init)`. Timeouts are ms that Node's timers
 * take (0 turns an inactivity timeout off, as in `@libp2p/tcp`); counts are
 * integers.
 */
const TCP_RULES: Rules<TCPOptions> = {
  inboundSocketInactivityTimeout: ms(),
  outboundSocketInactivityTimeout: ms(),
  maxConnections: integer({ min: 0 }),
  backlog: integer({ min: 0 }),
  closeServerOnMaxConnections: object<CloseServerOnMaxConnectionsOpts>({ listenBelow: required(integer({ min: 0 })), closeAbove: required(integer({ min: 0 })), onListenError: fn() }),
  dialOpts: object(SOCKET_OPTION_RULES),
  listenOpts: object(SOCKET_OPTION_RULES),
  closeTimeout: ms(),
  pipelineTimeout: ms(),
  inbound: fn(),
  lifetime: fn(),
  portReuse: oneOf('auto', 'always', 'never'),
  inboundGuard: { expected: 'false or an object', test: (value) => value === false || isObject(value), fields: GUARD_RULES }
}

/** The options of one `dial` that are rx-tcp's to check: the socket options and `portUse` (the rest are libp2p's, left alone) */
export const DIAL_RULES: Rules<TCPSocketOptions & Pick<TCPDialOptions, 'portUse'>> = { ...SOCKET_OPTION_RULES, portUse: oneOf('reuse', 'new') }

/**
 * Refuses a bad `tcp(init)` with an `InvalidParametersError` naming the
 * option and its value: `tcp: closeTimeout must be a number of ms from 0 to
 * 2147483647, got -5`.
 */
export function checkTcpOptions (init: TCPOptions | undefined): void {
  checkOptions('tcp', init, TCP_RULES)
  if (init?.closeServerOnMaxConnections != null) checkPauseWindow('tcp: closeServerOnMaxConnections', init.closeServerOnMaxConnections)
}

/** Socket options with `@libp2p/tcp`'s defaults for the ones not given: `noDelay` and `keepAlive` on, `allowHalfOpen` off */
export function withSocketDefaults (options: TCPSocketOptions): TCPSocketOptions {
  const { noDelay = true, keepAlive = true, keepAliveInitialDelay, allowHalfOpen = false } = options
  return { noDelay, keepAlive, keepAliveInitialDelay, allowHalfOpen }
}
