import { tap } from 'rxjs'
import { upgradeSlots } from '../src/core/upgrade-slots.ts'
import { checkOptions, integer, ms as delay, required, scheduler as schedulerLike, text } from '../src/core/check.ts'
import type { InboundSocket, LifetimeHook, ShedStalledOptions } from '../src/core/types.ts'
import type { MonoTypeOperatorFunction } from 'rxjs'

export type { ShedStalledOptions }

/** The two halves of `shedStalled`, used together as `upgradeCap`'s are. */
export interface ShedStalled {
  /** admits sockets into upgrade while fewer than `max` are in it; the others wait */
  inbound: MonoTypeOperatorFunction<InboundSocket>
  /** frees a slot when a socket's upgrade has settled, whichever way */
  lifetime: LifetimeHook
}

/**
 * Caps the sockets in upgrade at `max`, and under pressure (every slot
 * taken and sockets waiting) makes room at the expense of the upgrade that
 * has gone longest without progress (`progressBytes` received), once that
 * is `stalledMs` (`'upgrade-stalled'`). A peer that stalls its handshake holds a slot only
 * while nobody needs it; a real peer, however far, sends its next message
 * one round trip after ours, and keeps its slot. Sockets wait for a slot in
 * arrival order, at most `maxWaiting` of them (`'upgrade-queue-full'` for
 * the longest-waiting past that). It is the core's `upgradeSlots`, which
 * the default `inboundGuard` runs too; the lifetime half frees a slot when
 * the upgrade has settled (emitted, or ended), and keeps nothing after.
 * One `shedStalled` is one set of slots, however often its `inbound` is
 * subscribed (an upgrade in flight keeps its slot across a restart).
 *
 *   sockets:    --a--b--c---------|
 *   bytes:      -------b-b-b-b-----    (b keeps sending, 10 bytes a frame; a has sent nothing since @2)
 *   max 2, stalledMs 6, every 2:
 *   result:     --a--b----c-------|    (pressure from @8; a rejected @10, 'upgrade-stalled'; c takes its slot)
 *
 * @example
 * const shed = shedStalled({ max: 8 })
 * tcp({ inbound: shed.inbound, lifetime: shed.lifetime })
 *
 * @param options - the cap, the stall that may be shed, the waiting bound, the reasons and the clock
 * @returns the inbound and lifetime operators, to be used together
 */
export function shedStalled (options: ShedStalledOptions): ShedStalled {
  checkOptions('shedStalled', options, {
    max: required(integer({ min: 1 })),
    stalledMs: delay(),
    progressBytes: integer({ min: 1 }),
    maxWaiting: integer({ min: 0 }),
    every: delay(),
    reason: text(),
    queueReason: text(),
    shutdownReason: text(),
    scheduler: schedulerLike()
  })
  const slots = upgradeSlots(options)
  const lifetime: LifetimeHook = (admitted) => (lifetime$) => {
    const settled = (): void => { slots.settled(admitted.socket) }
    return lifetime$.pipe(tap({ next: settled, finalize: settled }))
  }
  return { inbound: slots.inbound, lifetime }
}
