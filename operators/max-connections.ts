import { InvalidParametersError } from '@libp2p/interface'
import { limitOpen } from './internal/limit-open.ts'
import type { InboundSocket } from './types.ts'
import type { MonoTypeOperatorFunction } from 'rxjs'

/** The options of `maxConnections`. */
export interface MaxConnectionsOptions {
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
  const { max, reason = 'max-connections' } = options
  if (!(max >= 0)) {
    throw new InvalidParametersError('maxConnections: max must not be negative')
  }
  return limitOpen(max, reason, () => 'all')
}
