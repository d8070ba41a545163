import type { Rule } from '../../src/core/check.ts'
import type { InboundSocket } from '../../src/core/types.ts'

/**
 * Told about each socket a rule in dry run would have rejected, with the
 * reason it would have given; the socket goes on.
 */
export type DryRunListener = (inbound: InboundSocket, reason: string) => void

/** The `dryRun` option of the limits and CIDR rules. */
export interface DryRunOptions {
  /**
   * count and report what would be rejected, reject nothing (nginx's
   * `limit_conn_dry_run`): each such socket is counted as
   * `dry_run_${reason}` where its listener counts events (an rx-tcp
   * listener's `libp2p_tcp_listener_events_total`, a `metricsTap`'s), and
   * given to the function if one is passed (default false)
   */
  dryRun?: boolean | DryRunListener
}

/** The `checkOptions` rule of `dryRun`: a boolean or a function */
export const DRY_RUN_RULE: Rule = {
  expected: 'true, false or a function',
  test: (value) => typeof value === 'boolean' || typeof value === 'function'
}

/** the event a socket a rule in dry run let through is counted under */
export function dryRunEvent (reason: string): string {
  return `dry_run_${reason}`
}

/** counts and reports a socket a rule in dry run would have rejected */
export function reportDryRun (dryRun: true | DryRunListener, inbound: InboundSocket, reason: string): void {
  inbound.count?.(dryRunEvent(reason))
  if (typeof dryRun === 'function') {
    dryRun(inbound, reason)
  }
}
