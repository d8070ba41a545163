import { admit } from './internal/admit.ts'
import { cidrMatcher } from './internal/cidr.ts'
import { checkOptions, cidr, list, required, text } from '../src/core/check.ts'
import { DRY_RUN_RULE } from './internal/dry-run.ts'
import type { CidrOptions } from './internal/cidr.ts'
import type { InboundSocket } from '../src/core/types.ts'
import type { MonoTypeOperatorFunction } from 'rxjs'

/** The options of `allowCidr`: the rejection reason (default `'cidr-not-allowed'`). */
export type AllowCidrOptions = CidrOptions

/**
 * Lets through only sockets whose peer address falls in one of the CIDR
 * blocks (IPv4 or IPv6), and rejects the others with reason `'cidr-not-allowed'`.
 *
 *   sockets:             --a--b--c--|       (a: 10.0.0.1, b: 192.0.2.7, c: 2001:db8::1)
 *   allowCidr([10.0.0.0/8, 2001:db8::/32]):
 *                        --a-----c--|       (b rejected, 'cidr-not-allowed')
 *
 * Sockets without an IP address (unix sockets) are let through.
 *
 * @example
 * tcp({ inbound: pipe(allowCidr(['10.0.0.0/8', 'fd00::/8'])) })
 *
 * @param cidrs - the blocks to admit, e.g. `'192.168.0.0/16'`, `'2001:db8::/32'`
 * @param options - the rejection reason
 * @returns an operator that rejects sockets from outside `cidrs`
 * @throws InvalidParametersError when a block does not parse
 */
export function allowCidr (cidrs: readonly string[], options: AllowCidrOptions = {}): MonoTypeOperatorFunction<InboundSocket> {
  checkOptions('allowCidr', { cidrs }, { cidrs: required(list(cidr())) })
  checkOptions('allowCidr', options, { reason: text(), dryRun: DRY_RUN_RULE })
  const matches = cidrMatcher(cidrs)
  const reason = options.reason ?? 'cidr-not-allowed'
  return admit(() => ({
    judge: ({ remoteAddr }) => matches(remoteAddr) === false ? reason : undefined
  }), options.dryRun)
}
