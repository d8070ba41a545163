import { forSocket } from '../../src/core/for-socket.ts'
import { operate, operatorObserver } from '../../src/core/operate.ts'
import { reportDryRun } from './dry-run.ts'
import { whenClosed } from './when-closed.ts'
import type { DryRunListener } from './dry-run.ts'
import type { InboundSocket } from '../../src/core/types.ts'
import type { MonoTypeOperatorFunction } from 'rxjs'

/**
 * The decision an admission operator takes for each socket: a rejection
 * reason, or undefined to let the socket through. `untilClosed` calls back
 * once the socket has closed (a limit counts it open until then).
 */
export interface Admission {
  judge(inbound: InboundSocket, untilClosed: (closed: () => void) => void): string | undefined
}

/**
 * Builds an operator that lets a socket through or rejects it, with state
 * created for each subscription by `createAdmission`. In dry run, a socket
 * it would reject is counted and reported and goes on; the admission has
 * not taken it into its state (a limit does not count it as open, a bucket
 * spends no token on it), as nginx's dry run does not. A throw while judging
 * one socket (a bug, a dry-run listener that throws) rejects that socket
 * alone, with `'stage-error'`.
 */
export function admit (createAdmission: () => Admission, dryRun: boolean | DryRunListener = false): MonoTypeOperatorFunction<InboundSocket> {
  return operate((source, subscriber) => {
    const admission = createAdmission()
    return source.subscribe(operatorObserver(subscriber, (inbound) => {
      let admitted = false
      forSocket(inbound, () => {
        const reason = admission.judge(inbound, (closed) => { whenClosed(subscriber, inbound, closed) })
        if (reason === undefined) {
          admitted = true
        } else if (dryRun !== false) {
          reportDryRun(dryRun, inbound, reason)
          admitted = true
        } else {
          inbound.reject(reason)
        }
      })
      if (admitted) {
        subscriber.next(inbound)
      }
    }))
  })
}
