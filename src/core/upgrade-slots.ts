import { asyncScheduler, Subject } from 'rxjs'
import { guard, operate, operatorObserver } from './operate.ts'
import type { InboundSocket, ShedStalledOptions } from './types.ts'
import type { Socket } from 'node:net'
import type { MonoTypeOperatorFunction, Subscription } from 'rxjs'

/** The slots of `upgradeSlots`: the stage that admits, and what frees a slot. */
export interface UpgradeSlots {
  /** admits sockets into upgrade while fewer than `max` are in it; the others wait, in arrival order */
  inbound: MonoTypeOperatorFunction<InboundSocket>
  /** frees the slot of `socket`, whose upgrade has settled (whichever way) */
  settled: (socket: Socket) => void
  /** how many slots are taken */
  taken: () => number
}

/** A socket in upgrade: what it had received when last measured, and since when */
interface Held { inbound: InboundSocket, bytes: number, since: number }

/**
 * `shedStalled` itself, its options unchecked and its defaults here: the
 * operator and the default `inboundGuard` both are these slots. A slot is
 * taken when `inbound` lets a socket through and freed by `settled`, so the
 * slots are the instance's (one listener's), not one subscription's: that is
 * what `settled` reaches. Nothing is kept of a socket once it is freed. A
 * socket that closed without `settled` (its upgrade never began) is dropped
 * where stalls are measured, under pressure, so it holds its slot only
 * while nobody needs it; one that is being shed keeps its slot until its
 * upgrade has settled, as libp2p counts it pending until then.
 *
 * @param options - `shedStalled`'s options
 * @returns the stage and its slots
 */
export function upgradeSlots (options: ShedStalledOptions): UpgradeSlots {
  const {
    max, stalledMs = 1_000, progressBytes = 8, maxWaiting = 256, every = 250, reason = 'upgrade-stalled',
    queueReason = 'upgrade-queue-full', shutdownReason = 'shutdown', scheduler = asyncScheduler
  } = options
  const held = new Map<Socket, Held>()
  const released$ = new Subject<void>()

  // makes room for up to `wanted` waiting sockets, at the expense of the upgrades stalled longest
  const shed = (wanted: number): void => {
    const now = scheduler.now()
    for (const [socket, h] of held) {
      if (socket.destroyed) {
        held.delete(socket)
      } else if (socket.bytesRead - h.bytes >= progressBytes) {
        h.bytes = socket.bytesRead
        h.since = now
      }
    }
    const stalled = [...held.values()].filter((h) => now - h.since >= stalledMs).sort((a, b) => a.since - b.since)
    for (const { inbound } of stalled.slice(0, wanted)) inbound.reject(reason)
  }

  const inbound = operate<InboundSocket, InboundSocket>((source, subscriber) => {
    const waiting: InboundSocket[] = []
    let sourceDone = false
    // set while sockets wait and every slot is taken: the next measure of stalls
    let measure: Subscription | undefined

    const admit = (): void => {
      while (held.size < max && waiting.length > 0) {
        const next = waiting.shift() as InboundSocket
        // a socket that closed while it waited takes no slot: downstream just sees it end
        if (!next.socket.destroyed) held.set(next.socket, { inbound: next, bytes: next.socket.bytesRead, since: scheduler.now() })
        subscriber.next(next)
      }
      if (waiting.length > 0) {
        measure ??= scheduler.schedule(() => {
          measure = undefined
          guard(subscriber, () => {
            shed(waiting.length)
            admit()
          })
        }, every)
      } else {
        measure?.unsubscribe()
        measure = undefined
        if (sourceDone) subscriber.complete()
      }
    }

    // the instance's releases (settled) wake this subscription's admission: one subscription per stage subscription, ended with it
    const released = released$.subscribe(operatorObserver(subscriber, admit))
    const arrivals = source.subscribe(operatorObserver(subscriber, (arrived) => {
      waiting.push(arrived)
      if (waiting.length > maxWaiting) (waiting.shift() as InboundSocket).reject(queueReason)
      admit()
    }, () => {
      sourceDone = true
      admit()
    }))
    return () => {
      arrivals.unsubscribe()
      released.unsubscribe()
      measure?.unsubscribe()
      for (const left of waiting.splice(0)) left.reject(shutdownReason)
    }
  })

  const settled = (socket: Socket): void => {
    if (held.delete(socket)) released$.next()
  }
  return { inbound, settled, taken: () => held.size }
}
