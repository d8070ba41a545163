import { admit } from './internal/admit.ts'
import { cidrMatcher } from './internal/cidr.ts'
import { checkOptions, cidr, list, required, text } from '../src/core/check.ts'
import { DRY_RUN_RULE } from './internal/dry-run.ts'
import type { CidrOptions } from './internal/cidr.ts'
import type { InboundSocket } from '../src/core/types.ts'
import type { MonoTypeOperatorFunction } from 'rxjs'

/** The options of `denyCidr`: the rejection reason (default `'cidr-denied'`). */
export type DenyCidrOptions = CidrOptions

/**
 * Rejects sockets whose peer address falls in one of the CIDR blocks (IPv4
 * or IPv6) with reason `'cidr-denied'`, and lets the others through.
 *
 *   sockets:                       --a--b--c--|   (a: 10.0.0.1, b: 192.0.2.7, c: 2001:db8::1)
 *   denyCidr([10.0.0.0/8, 2001:db8::/32]):
 *                                  -----b-----|   (a, c rejected, 'cidr-denied')
 *
 * @example
 * tcp({ inbound: pipe(denyCidr(['203.0.113.0/24', '2001:db8:bad::/48'])) })
 *
 * @param cidrs - the blocks to refuse
 * @param options - the rejection reason
 * @returns an operator that rejects sockets from inside `cidrs`
 * @throws InvalidParametersError when a block does not parse
 */
export function denyCidr (cidrs: readonly string[], options: DenyCidrOptions = {}): MonoTypeOperatorFunction<InboundSocket> {
  checkOptions('denyCidr', { cidrs }, { cidrs: required(list(cidr())) })
  checkOptions('denyCidr', options, { reason: text(), dryRun: DRY_RUN_RULE })
  const matches = cidrMatcher(cidrs)
  const reason = options.reason ?? 'cidr-denied'
  return admit(() => ({
    judge: ({ remoteAddr }) => matches(remoteAddr) === true ? reason : undefined
  }), options.dryRun)
}
