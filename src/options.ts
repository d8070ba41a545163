import { boolean, checkOptions, fn, integer, invalidOption, ms, number, object, required } from './core/check.ts'
import type { CloseServerOnMaxConnectionsOpts, InboundGuardOptions, TCPOptions, TCPSocketOptions } from './index.ts'
import type { Rules } from './core/check.ts'

/**
 * The socket options a user can set, for `dialOpts`, `listenOpts`, each
 * `dial` and each `createListener`. Node takes any value for the booleans
 * (by truthiness) and any number for the delay; these are the values that
 * mean what the option says.
 */
export const SOCKET_OPTION_RULES: Rules<TCPSocketOptions> = {
  noDelay: boolean(),
  keepAlive: boolean(),
  keepAliveInitialDelay: number({ min: 0 }),
  allowHalfOpen: boolean()
}

const CLOSE_SERVER_RULES: Rules<CloseServerOnMaxConnectionsOpts> = {
  listenBelow: required(integer({ min: 0 })),
  closeAbove: required(integer({ min: 0 })),
  onListenError: fn()
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
  closeServerOnMaxConnections: object(CLOSE_SERVER_RULES),
  dialOpts: object(SOCKET_OPTION_RULES),
  listenOpts: object(SOCKET_OPTION_RULES),
  closeTimeout: ms(),
  pipelineTimeout: ms(),
  inbound: fn(),
  lifetime: fn(),
  inboundGuard: { expected: 'false or an object', test: (value) => value === false || (typeof value === 'object' && value !== null), fields: GUARD_RULES }
}

/**
 * Refuses a bad `tcp(init)` with an `InvalidParametersError` naming the
 * option and its value: `tcp: closeTimeout must be a number of ms from 0 to
 * 2147483647, got -5`.
 */
export function checkTcpOptions (init: TCPOptions | undefined): void {
  checkOptions('tcp', init, TCP_RULES)
  const limits = init?.closeServerOnMaxConnections
  if (limits != null && limits.closeAbove < limits.listenBelow) {
    throw invalidOption('tcp', `closeServerOnMaxConnections: closeAbove (${limits.closeAbove}) must be >= listenBelow (${limits.listenBelow})`)
  }
}

/**
 * Refuses bad socket options given to one `dial` or `createListener` (the
 * other options there are libp2p's and left alone).
 */
export function checkSocketOptions (where: string, options: TCPSocketOptions | undefined): void {
  checkOptions(where, options, SOCKET_OPTION_RULES)
}
