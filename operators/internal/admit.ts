import { defer, filter, finalize } from 'rxjs'
import { reportDryRun } from './dry-run.ts'
import type { DryRunListener } from './dry-run.ts'
import type { InboundSocket } from '../../src/core/types.ts'
import type { MonoTypeOperatorFunction } from 'rxjs'

/**
 * The decision an admission operator takes for each socket: a rejection
 * reason, or undefined to let the socket through. `dispose` releases what the
 * decision holds (listeners on sockets) when the subscription ends.
 */
export interface Admission {
  judge(inbound: InboundSocket): string | undefined
  dispose?(): void
}

/**
 * Builds an operator that lets a socket through or rejects it, with state
 * created for each subscription by `createAdmission`. In dry run, a socket
 * it would reject is counted and reported and goes on; the admission has
 * not taken it into its state (a limit does not count it as open, a bucket
 * spends no token on it), as nginx's dry run does not.
 */
export function admit (createAdmission: () => Admission, dryRun: boolean | DryRunListener = false): MonoTypeOperatorFunction<InboundSocket> {
  return (source) => defer(() => {
    const admission = createAdmission()
    return source.pipe(
      filter((inbound) => {
        const reason = admission.judge(inbound)
        if (reason === undefined) {
          return true
        }
        if (dryRun !== false) {
          reportDryRun(dryRun, inbound, reason)
          return true
        }
        inbound.reject(reason)
        return false
      }),
      finalize(() => admission.dispose?.())
    )
  })
}
