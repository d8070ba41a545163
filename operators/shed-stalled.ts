import { asyncScheduler, defer, distinctUntilChanged, EMPTY, endWith, filter, finalize, ignoreElements, interval, merge, mergeMap, Subject, switchMap, takeWhile, tap } from 'rxjs'
import { checkOptions, integer, ms as delay, required, scheduler as schedulerLike, text } from '../src/core/check.ts'
import type { InboundSocket, LifetimeHook } from '../src/core/types.ts'
import type { Socket } from 'node:net'
import type { MonoTypeOperatorFunction, SchedulerLike } from 'rxjs'

/** The options of `shedStalled`. */
export interface ShedStalledOptions {
  /** how many sockets may be in upgrade at once */
  max: number
  /** how long a socket in upgrade may go without receiving a byte before, under pressure, it makes room (default 1000 ms: more than three round trips of a peer 300 ms away) */
  stalledMs?: number
  /** how many bytes a socket must receive to count as progress: a peer that drips a byte at a time stalls all the same (default 8, less than any libp2p handshake message) */
  progressBytes?: number
  /** how many sockets may wait for a slot; past it the longest-waiting is rejected (default 256) */
  maxWaiting?: number
  /** how often, under pressure, stalls are measured, ms (default 250) */
  every?: number
  /** the reason a stalled upgrade is rejected with (default `'upgrade-stalled'`) */
  reason?: string
  /** the reason a socket is rejected with when too many wait (default `'upgrade-queue-full'`) */
  queueReason?: string
  /** the reason waiting sockets are rejected with when the operator is unsubscribed (default `'shutdown'`) */
  shutdownReason?: string
  /** the clock (default `asyncScheduler`) */
  scheduler?: SchedulerLike
}

/** The two halves of `shedStalled`, used together as `upgradeCap`'s are. */
export interface ShedStalled {
  /** admits sockets into upgrade while fewer than `max` are in it; the others wait */
  inbound: MonoTypeOperatorFunction<InboundSocket>
  /** frees a slot when a socket's upgrade has settled, whichever way */
  lifetime: LifetimeHook
}

/** A socket in upgrade: what it had received when last measured, and since when */
interface Held { bytes: number, since: number }

/**
 * Caps the sockets in upgrade at `max`, and under pressure (every slot
 * taken and sockets waiting) makes room at the expense of the upgrade that
 * has gone longest without progress (`progressBytes` received), once that
 * is `stalledMs` (`'upgrade-stalled'`). A peer that stalls its handshake holds a slot only
 * while nobody needs it; a real peer, however far, sends its next message
 * one round trip after ours, and keeps its slot. Sockets wait for a slot in
 * arrival order, at most `maxWaiting` of them (`'upgrade-queue-full'` for
 * the longest-waiting past that).
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
  const {
    max, stalledMs = 1_000, progressBytes = 8, maxWaiting = 256, every = 250, reason = 'upgrade-stalled',
    queueReason = 'upgrade-queue-full', shutdownReason = 'shutdown', scheduler = asyncScheduler
  } = options
  // how the lifetime half frees the slot of its socket, in whichever subscription admitted it
  const slots = new WeakMap<Socket, () => void>()
  const DRAINED = Symbol('drained')

  const inbound: MonoTypeOperatorFunction<InboundSocket> = (source) => defer(() => {
    const held = new Map<InboundSocket, Held>()
    const waiting: InboundSocket[] = []
    const released$ = new Subject<void>()
    const pressure$ = new Subject<boolean>()
    let sourceDone = false

    const admit = (): InboundSocket[] => {
      const admitted: InboundSocket[] = []
      while (held.size < max && waiting.length > 0) {
        const next = waiting.shift() as InboundSocket
        if (!next.socket.destroyed) {
          held.set(next, { bytes: next.socket.bytesRead, since: scheduler.now() })
          slots.set(next.socket, () => {
            if (held.delete(next)) released$.next()
          })
        }
        // a socket that closed while it waited holds no slot: downstream just sees it end
        admitted.push(next)
      }
      pressure$.next(held.size >= max && waiting.length > 0)
      return admitted
    }

    const shed = (): void => {
      const now = scheduler.now()
      for (const [{ socket }, h] of held) {
        if (socket.bytesRead - h.bytes >= progressBytes) {
          h.bytes = socket.bytesRead
          h.since = now
        }
      }
      const stalled = [...held].filter(([, h]) => now - h.since >= stalledMs).sort(([, a], [, b]) => a.since - b.since)
      for (const [socket] of stalled.slice(0, waiting.length)) {
        socket.reject(reason)
      }
    }

    const arrivals$ = source.pipe(
      tap({
        next: (arrived) => {
          waiting.push(arrived)
          if (waiting.length > maxWaiting) (waiting.shift() as InboundSocket).reject(queueReason)
        },
        complete: () => { sourceDone = true }
      }),
      // one more round once the source is done, to complete if nobody waits
      endWith(undefined)
    )
    const sheds$ = pressure$.pipe(
      distinctUntilChanged(),
      switchMap((pressed) => pressed ? interval(every, scheduler) : EMPTY),
      tap(shed),
      ignoreElements()
    )

    return merge(arrivals$, released$, sheds$).pipe(
      // DRAINED after each round asks whether the stream is done: the source completed and nobody waits
      mergeMap(() => [...admit(), DRAINED] as const),
      takeWhile((next) => next !== DRAINED || !(sourceDone && waiting.length === 0)),
      filter((next): next is InboundSocket => next !== DRAINED),
      finalize(() => {
        for (const { socket } of held.keys()) slots.delete(socket)
        held.clear()
        for (const left of waiting.splice(0)) left.reject(shutdownReason)
      })
    )
  })

  const lifetime: LifetimeHook = (admitted) => (lifetime$) => {
    const release = (): void => { slots.get(admitted.socket)?.() }
    return lifetime$.pipe(tap({ next: release, finalize: release }))
  }

  return { inbound, lifetime }
}
