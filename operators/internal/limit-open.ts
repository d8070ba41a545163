import { admit } from './admit.ts'
import type { DryRunListener } from './dry-run.ts'
import type { InboundSocket } from '../../src/core/types.ts'
import type { MonoTypeOperatorFunction } from 'rxjs'

/**
 * Lets a socket through while fewer than `max` sockets of its group (as named
 * by `groupOf`; undefined: not limited) that passed are still open. A socket
 * counts from the moment it passes until its `closed$`; the stage keeps a
 * count per group, not the sockets.
 */
export function limitOpen (max: number, reason: string, groupOf: (inbound: InboundSocket) => string | undefined, dryRun: boolean | DryRunListener = false): MonoTypeOperatorFunction<InboundSocket> {
  return admit(() => {
    const open = new Map<string, number>()
    return {
      judge: (inbound, untilClosed) => {
        const group = groupOf(inbound)
        if (group === undefined) {
          return undefined
        }
        const count = open.get(group) ?? 0
        if (count >= max) {
          return reason
        }
        open.set(group, count + 1)
        untilClosed(() => {
          const left = (open.get(group) ?? 1) - 1
          if (left > 0) {
            open.set(group, left)
          } else {
            open.delete(group)
          }
        })
        return undefined
      }
    }
  }, dryRun)
}
