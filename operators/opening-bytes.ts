import { opening } from '../src/core/opening.ts'
import { checkOptions, integer, ms as delay, object, scheduler as schedulerLike, text } from '../src/core/check.ts'
import type { InboundSocket, OpeningBytesOptions } from '../src/core/types.ts'
import type { MonoTypeOperatorFunction } from 'rxjs'

export type { OpeningBytesOptions }

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
 * deadline shrinks towards `minMs` as a flood grows. It is the core's
 * `opening` stage (a judge over the one `FirstBytesReader`), which the
 * default `inboundGuard` runs too.
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
  return opening(options)
}
