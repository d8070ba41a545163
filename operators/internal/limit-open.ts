import { admit } from './admit.ts'
import type { DryRunListener } from './dry-run.ts'
import { OpenSockets } from './open-sockets.ts'
import type { InboundSocket } from '../../src/core/types.ts'
import type { MonoTypeOperatorFunction } from 'rxjs'

/**
 * Lets a socket through while fewer than `max` sockets of its group (as named
 * by `groupOf`; undefined: not limited) that passed are still open.
 */
export function limitOpen (max: number, reason: string, groupOf: (inbound: InboundSocket) => string | undefined, dryRun: boolean | DryRunListener = false): MonoTypeOperatorFunction<InboundSocket> {
  return admit(() => {
    const open = new OpenSockets()
    return {
      judge: (inbound) => {
        const group = groupOf(inbound)
        if (group === undefined) {
          return undefined
        }
        if (open.count(group) >= max) {
          return reason
        }
        open.add(group, inbound.socket)
        return undefined
      },
      dispose: () => { open.dispose() }
    }
  }, dryRun)
}
