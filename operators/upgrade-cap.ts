import { TimeoutError } from '@libp2p/interface'
import { asyncScheduler, Subscription, tap } from 'rxjs'
import { whenClosed } from './internal/when-closed.ts'
import { checkOptions, integer, invalidOption, ms, oneOf, required, scheduler as schedulerLike, text } from '../src/core/check.ts'
import { forSocket } from '../src/core/for-socket.ts'
import { guard, operate, operatorObserver } from '../src/core/operate.ts'
import type { InboundSocket, Intake, LifetimeHook } from '../src/core/types.ts'
import type { Socket } from 'node:net'
import type { MonoTypeOperatorFunction, SchedulerLike } from 'rxjs'

/** The options of `upgradeCap`. */
export interface UpgradeCapOptions {
  /** how many sockets may be in upgrade at once */
  max: number
  /**
   * what becomes of a socket that arrives at the cap (default `'wait'`):
   * - `'wait'`: it waits, unread, for a slot (at most `maxWaiting` sockets, each at most `maxWait` ms);
   * - `'drop'`: it is rejected;
   * - `'close-server'`: it waits as with `'wait'`, and the listening socket is closed at the cap,
   *   until fewer than `listenBelow` sockets are in upgrade or waiting. Closing it resets every
   *   connection in the kernel's accept backlog: clients of a burst get ECONNRESET.
   */
  policy?: 'wait' | 'drop' | 'close-server'
  /** how many sockets may wait for a slot; past it, sockets are rejected with `'upgrade-queue-full'` (default 128) */
  maxWaiting?: number
  /**
   * how long one socket may wait for a slot before it is rejected with `'upgrade-wait-timeout'`
   * (default 10000, libp2p's inbound upgrade timeout); an rx-tcp listener's `pipelineTimeout`,
   * counted from accept, bounds it too
   */
  maxWait?: number
  /** with `'close-server'`, listen again once fewer than this many sockets are in upgrade or waiting (default `ceil(max / 2)`, at most `max`) */
  listenBelow?: number
  /** the rejection reason of `'drop'`, and the pause reason of `'close-server'` (default `'upgrades-in-flight'`) */
  reason?: string
  /** the reason waiting sockets are rejected with when the operator is unsubscribed (default `'shutdown'`) */
  shutdownReason?: string
  /** the clock of `maxWait` (default `asyncScheduler`) */
  scheduler?: SchedulerLike
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

/** How many sockets may wait for a slot when `maxWaiting` is not given. */
export const DEFAULT_MAX_WAITING = 128

/** How long a socket may wait for a slot when `maxWait` is not given: libp2p's inbound upgrade timeout. */
const DEFAULT_MAX_WAIT = 10_000

/** The reason a socket is shed with when `maxWaiting` sockets already wait. */
const QUEUE_FULL = 'upgrade-queue-full'

/** The reason a socket is rejected with when it waited `maxWait` for a slot. */
const WAIT_TIMEOUT = 'upgrade-wait-timeout'

/**
 * Caps how many sockets are in upgrade at once. A socket is in upgrade from
 * the moment `inbound` lets it through until its lifetime emits (upgraded),
 * ends (upgrade failed or cancelled) or the socket closes (its `closed$`).
 * Sockets that arrive at the cap wait for a slot, first come first served,
 * unread: Node buffers at most `readableHighWaterMark` (64 KiB) of what
 * their client sends, the rest stays in the kernel. Each waits at most
 * `maxWait` ms (then `'upgrade-wait-timeout'`), and at most `maxWaiting`
 * wait: past that bound a socket is shed with `'upgrade-queue-full'`. A
 * waiting socket costs about 4.3 KiB of JS memory, socket included, and
 * 69 KiB when its client sends 64 KiB or more before it is served
 * (docs/operators.md, `npm run bench:upgrade-cap`): the default bound of
 * 128 holds 0.55 MiB, 8.6 MiB at worst. `'close-server'` also closes the
 * listening socket at the cap, which resets the connections in the kernel's
 * accept backlog: clients of a burst get ECONNRESET.
 *
 *   sockets:        --a--b--c--d--e--------------|
 *   upgraded:       -----------------a----b--------
 *   max 2, wait (maxWaiting 2):
 *   result:         --a--b-----------c----d------|      (e rejected, 'upgrade-queue-full')
 *   max 2, drop:
 *   result:         --a--b-----------------------|      (c, d, e rejected, 'upgrades-in-flight')
 *   max 2, close-server (listenBelow 1):
 *   intake:         -----P--------------------R---       (paused at 2 in upgrade, resumed at 0)
 *
 * Without the lifetime half, a socket counts until it closes. When the
 * source completes, waiting sockets are still released before completion;
 * when unsubscribed, they are rejected with `'shutdown'`.
 *
 * @example
 * const cap = upgradeCap({ max: 32 })
 * tcp({ inbound: pipe(denyCidr(blocked), cap.inbound), lifetime: cap.lifetime })
 *
 * @param options - cap, policy, waiting bounds and reasons
 * @returns the inbound and lifetime operators, to be used together
 * @throws InvalidParametersError when listenBelow > max
 */
export function upgradeCap (options: UpgradeCapOptions): UpgradeCap {
  checkOptions('upgradeCap', options, {
    max: required(integer({ min: 1 })),
    policy: oneOf('wait', 'drop', 'close-server'),
    maxWaiting: integer({ min: 0 }),
    maxWait: ms(),
    listenBelow: integer({ min: 1 }),
    reason: text(),
    shutdownReason: text(),
    scheduler: schedulerLike()
  })
  const {
    max, policy = 'wait', maxWaiting = DEFAULT_MAX_WAITING, maxWait = DEFAULT_MAX_WAIT, listenBelow = Math.ceil(max / 2),
    reason = 'upgrades-in-flight', shutdownReason = 'shutdown', scheduler = asyncScheduler
  } = options
  if (listenBelow > max) {
    throw invalidOption('upgradeCap', `listenBelow (${listenBelow}) must be <= max (${max})`)
  }
  // how the lifetime half frees the slot its socket holds, in whichever subscription admitted it
  const slots = new WeakMap<Socket, Subscription>()

  const inbound = operate<InboundSocket, InboundSocket>((source, subscriber) => {
    let inFlight = 0
    // first come, first served: a Map keeps its order and forgets in O(1)
    const waiting = new Map<InboundSocket, Subscription>()
    let paused: Intake | undefined
    let sourceDone = false

    const admit = (next: InboundSocket): void => {
      inFlight++
      const slot = new Subscription(() => {
        inFlight--
        slots.delete(next.socket)
        // freed from the lifetime half too: a throw here must reach this stream, not that lifetime
        guard(subscriber, drain)
      })
      subscriber.add(slot)
      slots.set(next.socket, slot)
      slot.add(whenClosed(subscriber, next, () => { slot.unsubscribe() }))
      if (policy === 'close-server' && paused === undefined && inFlight >= max) {
        // an intake that throws fails this socket, not the stage; its slot frees when it has closed
        if (!forSocket(next, () => { next.intake.pause(reason) })) {
          return
        }
        paused = next.intake
      }
      subscriber.next(next)
    }

    const wait = (next: InboundSocket): void => {
      const entry = new Subscription(() => { waiting.delete(next) })
      waiting.set(next, entry)
      subscriber.add(entry)
      entry.add(whenClosed(subscriber, next, () => {
        entry.unsubscribe()
        drain()
      }))
      entry.add(scheduler.schedule(() => {
        entry.unsubscribe()
        forSocket(next, () => { next.reject(WAIT_TIMEOUT, new TimeoutError(`${next.remoteAddr.toString()} waited ${maxWait}ms for an upgrade slot`)) })
        guard(subscriber, drain)
      }, maxWait))
    }

    const drain = (): void => {
      if (subscriber.closed) {
        return
      }
      for (const [next, entry] of waiting) {
        if (inFlight >= max) {
          break
        }
        entry.unsubscribe()
        admit(next)
      }
      if (sourceDone) {
        if (waiting.size === 0) {
          subscriber.complete()
        }
      } else if (paused !== undefined && inFlight + waiting.size < listenBelow) {
        const intake = paused
        paused = undefined
        intake.resume(reason)
      }
    }

    subscriber.add(() => {
      for (const next of [...waiting.keys()]) {
        forSocket(next, () => { next.reject(shutdownReason) })
      }
      if (!sourceDone && paused !== undefined) {
        paused.resume(reason)
      }
    })

    return source.subscribe(operatorObserver(subscriber, (arrived) => {
      if (arrived.socket.closed) {
        // a socket closed before it got here holds no slot: downstream just sees it end
        subscriber.next(arrived)
      } else if (inFlight < max && waiting.size === 0) {
        admit(arrived)
      } else if (policy === 'drop') {
        forSocket(arrived, () => { arrived.reject(reason) })
      } else if (waiting.size >= maxWaiting) {
        forSocket(arrived, () => { arrived.reject(QUEUE_FULL) })
      } else {
        wait(arrived)
      }
    }, () => {
      sourceDone = true
      drain()
    }, (err) => {
      sourceDone = true
      subscriber.error(err)
    }))
  })

  const lifetime: LifetimeHook = (admitted) => (lifetime$) => {
    const release = (): void => { slots.get(admitted.socket)?.unsubscribe() }
    return lifetime$.pipe(tap({ next: release, finalize: release }))
  }

  return { inbound, lifetime }
}
