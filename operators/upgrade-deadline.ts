import { TimeoutError } from '@libp2p/interface'
import { asyncScheduler, EMPTY, timeout } from 'rxjs'
import { checkOptions, ms as delay, required, scheduler as schedulerLike, text } from '../src/core/check.ts'
import type { LifetimeHook } from '../src/core/types.ts'
import type { SchedulerLike } from 'rxjs'

/** The options of `upgradeDeadline`. */
export interface UpgradeDeadlineOptions {
  /** how long the upgrade of one socket may take */
  ms: number
  /** the rejection reason (default `'upgrade-timeout'`) */
  reason?: string
  /** the clock (default `asyncScheduler`) */
  scheduler?: SchedulerLike
}

/**
 * Rejects a socket whose upgrade has not produced a connection within `ms`:
 * the upgrade is cancelled (its lifetime unsubscribed) and the lifetime
 * completes. A connection in time lives on unbounded.
 *
 *   lifetime:   ------c-----|         lifetime:   ----------c--|
 *   ms 8:       ------c-----|         ms 8:       --------|        (rejected, 'upgrade-timeout')
 *
 * @example
 * tcp({ lifetime: upgradeDeadline({ ms: 5_000 }) })
 *
 * @param options - the deadline, the rejection reason and the clock
 * @returns a lifetime operator enforcing the deadline on each socket
 */
export function upgradeDeadline (options: UpgradeDeadlineOptions): LifetimeHook {
  checkOptions('upgradeDeadline', options, { ms: required(delay()), reason: text(), scheduler: schedulerLike() })
  const { ms, reason = 'upgrade-timeout', scheduler = asyncScheduler } = options
  return (inbound) => (lifetime$) => lifetime$.pipe(
    timeout({
      first: ms,
      scheduler,
      with: () => {
        inbound.reject(reason, new TimeoutError(`upgrade of ${inbound.remoteAddr.toString()} timed out after ${ms}ms`))
        return EMPTY
      }
    })
  )
}
