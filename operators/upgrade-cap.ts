import { Observable, tap } from 'rxjs'
import { checkOptions, integer, oneOf, required, text } from '../src/core/check.ts'
import type { InboundSocket, Intake, LifetimeHook } from '../src/core/types.ts'
import type { Socket } from 'node:net'
import type { MonoTypeOperatorFunction } from 'rxjs'

/** The options of `upgradeCap`. */
export interface UpgradeCapOptions {
  /** how many sockets may be in upgrade at once */
  max: number
  /**
   * at the cap, `'backpressure'` pauses intake and queues the sockets already
   * accepted; `'drop'` rejects them (default `'backpressure'`)
   */
  policy?: 'backpressure' | 'drop'
  /** with backpressure, how many sockets may wait for a slot before the excess is rejected (default `max`) */
  maxQueued?: number
  /** the rejection and pause reason (default `'upgrades-in-flight'`) */
  reason?: string
  /** the reason queued sockets are rejected with when the operator is unsubscribed (default `'shutdown'`) */
  shutdownReason?: string
}

/**
 * The two halves of a cap on upgrades in flight: `inbound` admits sockets
 * into upgrade, `lifetime` tells it when an upgrade has finished.
 */
export interface UpgradeCap {
  /** admits sockets into upgrade while fewer than `max` are in flight */
  inbound: MonoTypeOperatorFunction<InboundSocket>
  /** frees a slot when a socket's upgrade has settled, whichever way */
  lifetime: LifetimeHook
}

/**
 * Caps how many sockets are in upgrade at once. A socket is in upgrade from
 * the moment `inbound` lets it through until its lifetime emits (upgraded),
 * ends (upgrade failed or cancelled) or the socket closes. With
 * `'backpressure'`, reaching the cap pauses intake, so the kernel stops
 * handing over sockets, and the few already accepted wait in a queue;
 * below the cap intake resumes. With `'drop'`, sockets over the cap are
 * rejected.
 *
 *   sockets:      --a--b--c--d------------|
 *   upgraded:     ---------------a----b-----------
 *   max 2, backpressure:
 *   result:       --a--b---------c----d---|
 *   intake:       -----P--------------R---          (resumed when in flight + queued < max)
 *   max 2, drop:
 *   result:       --a--b------------------|         (c, d rejected, 'upgrades-in-flight')
 *
 * Without the lifetime half, a socket counts until it closes. When the
 * source completes, queued sockets are still released before completion;
 * when unsubscribed, queued sockets are rejected with `'shutdown'`.
 *
 * @example
 * const cap = upgradeCap({ max: 32 })
 * tcp({ inbound: pipe(denyCidr(blocked), cap.inbound), lifetime: cap.lifetime })
 *
 * @param options - cap, policy, queue bound and reasons
 * @returns the inbound and lifetime operators, to be used together
 */
export function upgradeCap (options: UpgradeCapOptions): UpgradeCap {
  checkOptions('upgradeCap', options, {
    max: required(integer({ min: 1 })),
    policy: oneOf('backpressure', 'drop'),
    maxQueued: integer({ min: 0 }),
    reason: text(),
    shutdownReason: text()
  })
  const { max, policy = 'backpressure', maxQueued = max, reason = 'upgrades-in-flight', shutdownReason = 'shutdown' } = options
  // how the lifetime half finds the slot its socket holds, in whichever subscription admitted it
  const slots = new WeakMap<Socket, () => void>()

  const inbound: MonoTypeOperatorFunction<InboundSocket> = (source) => new Observable<InboundSocket>((subscriber) => {
    const held = new Map<Socket, () => void>()
    const queue: InboundSocket[] = []
    let paused: Intake | undefined
    let sourceDone = false

    const admit = (next: InboundSocket): void => {
      const { socket } = next
      const release = (): void => {
        if (held.delete(socket)) {
          socket.off('close', release)
          slots.delete(socket)
          drain()
        }
      }
      held.set(socket, release)
      slots.set(socket, release)
      socket.once('close', release)
      if (policy === 'backpressure' && paused === undefined && held.size >= max) {
        paused = next.intake
        paused.pause(reason)
      }
      subscriber.next(next)
    }

    const dequeue = (waiting: InboundSocket): void => {
      queue.splice(queue.indexOf(waiting), 1)
      waiting.socket.off('close', forget)
    }
    // a queued socket that closes on its own leaves the queue
    function forget (this: Socket): void {
      const waiting = queue.find(({ socket }) => socket === this)
      if (waiting !== undefined) {
        dequeue(waiting)
      }
    }

    const drain = (): void => {
      while (held.size < max && queue.length > 0 && !subscriber.closed) {
        const next = queue[0]
        dequeue(next)
        admit(next)
      }
      if (sourceDone) {
        if (queue.length === 0) {
          subscriber.complete()
        }
      } else if (paused !== undefined && held.size + queue.length < max) {
        const intake = paused
        paused = undefined
        intake.resume(reason)
      }
    }

    const subscription = source.subscribe({
      next: (arrived) => {
        if (arrived.socket.closed) {
          // a socket closed before it got here holds no slot: downstream just sees it end
          subscriber.next(arrived)
        } else if (held.size < max && queue.length === 0) {
          admit(arrived)
        } else if (policy === 'drop' || queue.length >= maxQueued) {
          arrived.reject(reason)
        } else {
          queue.push(arrived)
          arrived.socket.once('close', forget)
        }
      },
      error: (err) => {
        sourceDone = true
        subscriber.error(err)
      },
      complete: () => {
        sourceDone = true
        drain()
      }
    })

    return () => {
      subscription.unsubscribe()
      for (const [socket, release] of held) {
        socket.off('close', release)
        slots.delete(socket)
      }
      held.clear()
      for (const waiting of queue.splice(0)) {
        waiting.socket.off('close', forget)
        waiting.reject(shutdownReason)
      }
      if (!sourceDone && paused !== undefined) {
        paused.resume(reason)
      }
    }
  })

  const lifetime: LifetimeHook = (admitted) => (lifetime$) => {
    const release = (): void => { slots.get(admitted.socket)?.() }
    return lifetime$.pipe(tap({ next: release, finalize: release }))
  }

  return { inbound, lifetime }
}
