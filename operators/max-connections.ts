import { limitOpen } from './internal/limit-open.ts'
import { checkOptions, integer, required, text } from '../src/core/check.ts'
import { DRY_RUN_RULE } from './internal/dry-run.ts'
import type { DryRunOptions } from './internal/dry-run.ts'
import type { InboundSocket } from '../src/core/types.ts'
import type { MonoTypeOperatorFunction } from 'rxjs'

/** The options of `maxConnections`. */
export interface MaxConnectionsOptions extends DryRunOptions {
  /** how many sockets may be open at once */
  max: number
  /** the rejection reason (default `'max-connections'`) */
  reason?: string
}

/**
 * Lets sockets through while fewer than `max` of those it let through are
 * still open, and rejects the others: the listener's `maxConnections`.
 *
 *   sockets:  --a--b--c----(b closes)--d--|
 *   max 2:    --a--b-----------------d--|       (c rejected, 'max-connections')
 *
 * @example
 * tcp({ inbound: pipe(maxConnections({ max: 300 })) })
 *
 * @param options - the cap and the rejection reason
 * @returns an operator that rejects sockets over the cap
 */
export function maxConnections (options: MaxConnectionsOptions): MonoTypeOperatorFunction<InboundSocket> {
  checkOptions('maxConnections', options, { max: required(integer({ min: 0 })), reason: text(), dryRun: DRY_RUN_RULE })
  const { max, reason = 'max-connections' } = options
  return limitOpen(max, reason, () => 'all', options.dryRun)
}
