import { defer, filter, finalize } from 'rxjs'
import type { InboundSocket } from '../types.ts'
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
 * created for each subscription by `createAdmission`.
 */
export function admit (createAdmission: () => Admission): MonoTypeOperatorFunction<InboundSocket> {
  return (source) => defer(() => {
    const admission = createAdmission()
    return source.pipe(
      filter((inbound) => {
        const reason = admission.judge(inbound)
        if (reason === undefined) {
          return true
        }
        inbound.reject(reason)
        return false
      }),
      finalize(() => admission.dispose?.())
    )
  })
}
