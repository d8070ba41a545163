import { asyncScheduler, defer, EMPTY, filter, finalize, fromEvent, map, merge, mergeMap, take, takeUntil, timeout } from 'rxjs'
import { checkOptions, integer, ms as delay, object, scheduler as schedulerLike, text } from '../src/core/check.ts'
import type { InboundSocket } from '../src/core/types.ts'
import type { MonoTypeOperatorFunction, Observable, SchedulerLike } from 'rxjs'

/** The options of `openingBytes`. */
export interface OpeningBytesOptions {
  /**
   * the bytes every good peer opens with; a socket whose first bytes differ
   * is rejected as soon as they do (`'opening-mismatch'`). Default: none,
   * any first byte lets the socket through
   */
  prefix?: Uint8Array
  /** how long a socket may take to send them, ms (default 10000, libp2p's inbound upgrade timeout) */
  ms?: number
  /** how many sockets may wait before each newcomer sheds the longest-waiting one (default 64) */
  maxWaiting?: number
  /** how long a socket waits at least before it may be shed, ms (default 1000: a peer 300 ms away sends its first bytes 150 ms after the accept) */
  minMs?: number
  /** the reason sockets still waiting are rejected with when the operator is unsubscribed (default `'shutdown'`) */
  shutdownReason?: string
  /** the clock (default `asyncScheduler`) */
  scheduler?: SchedulerLike
}

/** What a socket's first bytes say so far. */
type Verdict = 'more' | 'pass' | 'mismatch' | 'ended'

/**
 * Holds each socket until its peer has sent its opening bytes, then lets it
 * through with those bytes unread. A libp2p dialer speaks first (its
 * multistream-select header), so a socket that stays silent, drips, or
 * opens with anything else never reaches the upgrader, where it would hold
 * one of the node's few pending-upgrade slots. A socket is rejected when its
 * bytes stop matching `prefix` (`'opening-mismatch'`), when its peer ends
 * first (`'opening-ended'`), after `ms` (`'opening-timeout'`), and under
 * pressure: once more than `maxWaiting` wait, each newcomer sheds the
 * longest-waiting socket that has waited `minMs` (`'opening-shed'`), so the
 * deadline shrinks towards `minMs` as a flood grows.
 *
 *   sockets:    --a--b--c----|
 *   bytes:      ---aa----c----        (a: the prefix in two reads; c: 'GET / HTTP/1.1')
 *   ms 10:      ----a----------|      (c rejected @9, 'opening-mismatch'; b @15, 'opening-timeout')
 *
 * @example
 * tcp({ inbound: openingBytes({ prefix: new TextEncoder().encode('\x13/multistream/1.0.0\n') }) })
 *
 * @param options - the prefix, the deadline, the pressure bound and the clock
 * @returns an operator that lets sockets through once they have opened as a peer does
 */
export function openingBytes (options: OpeningBytesOptions = {}): MonoTypeOperatorFunction<InboundSocket> {
  checkOptions('openingBytes', options, {
    prefix: object(undefined, 'a Uint8Array'),
    ms: delay(),
    maxWaiting: integer({ min: 0 }),
    minMs: delay(),
    shutdownReason: text(),
    scheduler: schedulerLike()
  })
  const { prefix, ms = 10_000, maxWaiting = 64, minMs = 1_000, shutdownReason = 'shutdown', scheduler = asyncScheduler } = options

  return (source) => defer(() => {
    // in arrival order: the first entry has waited longest
    const waiting = new Map<InboundSocket, number>()
    const shed = (): void => {
      const [oldest, since] = waiting.entries().next().value ?? []
      if (waiting.size > maxWaiting && oldest !== undefined && scheduler.now() - (since as number) >= minMs) {
        oldest.reject('opening-shed')
      }
    }
    return source.pipe(
      mergeMap((inbound) => {
        waiting.set(inbound, scheduler.now())
        shed()
        let passed = false
        return opening$(inbound, prefix).pipe(
          timeout({
            first: ms,
            scheduler,
            with: () => {
              inbound.reject('opening-timeout')
              return EMPTY
            }
          }),
          filter((verdict) => {
            if (verdict !== 'pass') inbound.reject(`opening-${verdict}`)
            passed = verdict === 'pass'
            return passed
          }),
          map(() => inbound),
          finalize(() => {
            waiting.delete(inbound)
            if (!passed && !inbound.socket.destroyed) inbound.reject(shutdownReason)
          })
        )
      })
    )
  })
}

/**
 * The verdict on a socket's first bytes, once: read as they come, and put
 * back unread on `'pass'`. Completes without one when the socket closes.
 */
function opening$ (inbound: InboundSocket, prefix?: Uint8Array): Observable<Exclude<Verdict, 'more'>> {
  const { socket } = inbound
  return defer(() => {
    let received: Buffer = Buffer.alloc(0)
    const judge = (): Verdict => {
      let chunk: Buffer | null
      while ((chunk = socket.read()) !== null) {
        received = received.length === 0 ? chunk : Buffer.concat([received, chunk])
      }
      if (received.length === 0) return 'more'
      if (prefix === undefined) return 'pass'
      const n = Math.min(prefix.length, received.length)
      if (Buffer.compare(received.subarray(0, n), prefix.subarray(0, n)) !== 0) return 'mismatch'
      return received.length >= prefix.length ? 'pass' : 'more'
    }
    return merge(
      fromEvent(socket, 'readable').pipe(map(judge)),
      fromEvent(socket, 'end').pipe(map((): Verdict => 'ended'))
    ).pipe(
      filter((verdict): verdict is Exclude<Verdict, 'more'> => verdict !== 'more'),
      take(1),
      map((verdict) => {
        if (verdict === 'pass') socket.unshift(received)
        return verdict
      }),
      // a socket destroyed meanwhile (another stage, the peer's reset) gets no verdict
      takeUntil(fromEvent(socket, 'close'))
    )
  })
}
