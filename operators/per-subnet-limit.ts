import { SUBNET_RULES, subnetKeyer } from '../src/core/subnets.ts'
import { limitOpen } from './internal/limit-open.ts'
import { checkOptions, integer, required, text } from '../src/core/check.ts'
import { DRY_RUN_RULE } from './internal/dry-run.ts'
import type { SubnetOptions } from '../src/core/subnets.ts'
import type { DryRunOptions } from './internal/dry-run.ts'
import type { InboundSocket } from '../src/core/types.ts'
import type { MonoTypeOperatorFunction } from 'rxjs'

export interface PerSubnetLimitOptions extends SubnetOptions, DryRunOptions {
  /** how many sockets one subnet may hold open at once */
  max: number
  /** the rejection reason (default `'subnet-limit'`) */
  reason?: string
}

/**
 * Lets sockets through while their subnet holds fewer than `max` open ones;
 * a socket counts from the moment it passes until its `closed$`.
 *
 *   sockets:  --a--b--c----(a closes)--d--|     (all from one subnet)
 *   max 2:    --a--b-----------------d--|       (c rejected, 'subnet-limit')
 *
 * Subnets are /32 for IPv4 and /56 for IPv6 unless configured. Sockets
 * without an IP address are not limited.
 *
 * @example
 * tcp({ inbound: pipe(perSubnetLimit({ max: 8, ipv6Prefix: 64 })) })
 *
 * @param options - the cap, the subnet sizes, the rejection reason
 * @returns an operator that rejects sockets over their subnet's cap
 */
export function perSubnetLimit (options: PerSubnetLimitOptions): MonoTypeOperatorFunction<InboundSocket> {
  checkOptions('perSubnetLimit', options, { ...SUBNET_RULES, max: required(integer({ min: 1 })), reason: text(), dryRun: DRY_RUN_RULE })
  const { max, reason = 'subnet-limit' } = options
  const subnetOf = subnetKeyer(options)
  return limitOpen(max, reason, ({ remoteAddr }) => subnetOf(remoteAddr), options.dryRun)
}
