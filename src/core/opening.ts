import { asyncScheduler } from 'rxjs'
import { FirstBytesReader } from './first-bytes.ts'
import { guard, operate, operatorObserver } from './operate.ts'
import type { FirstBytesJudge, FirstBytesVerdict } from './first-bytes.ts'
import type { InboundSocket, OpeningBytesOptions } from './types.ts'
import type { MonoTypeOperatorFunction } from 'rxjs'

/**
 * `openingBytes` itself, its options unchecked and its defaults here: the
 * operator and the default `inboundGuard` both are this stage. Each socket
 * is held by a `FirstBytesReader` whose judge compares its bytes with
 * `prefix`, and let through with them unread; in arrival order, so that the
 * first held has waited longest and is the one a newcomer sheds.
 *
 * @param options - `openingBytes`'s options, and `exempt`: a socket for which it is true goes through at once, unread (the default guard's, while not under pressure)
 * @returns the stage
 */
export function opening (options: OpeningBytesOptions & { exempt?: (inbound: InboundSocket) => boolean }): MonoTypeOperatorFunction<InboundSocket> {
  const { prefix = new Uint8Array(0), ms = 10_000, maxWaiting = 64, minMs = 1_000, shutdownReason = 'shutdown', scheduler = asyncScheduler, exempt } = options
  return operate<InboundSocket, InboundSocket>((source, subscriber) => {
    const waiting = new Map<InboundSocket, FirstBytesReader<InboundSocket>>()
    let sourceDone = false
    // a socket leaves by its verdict, its close or a shed; the stage completes once its source has and nobody waits
    const leave = (inbound: InboundSocket): void => {
      waiting.get(inbound)?.stop()
      waiting.delete(inbound)
      if (sourceDone && waiting.size === 0) subscriber.complete()
    }
    // the verdict's work runs in a socket's event or a timer: a throw in it is this stream's error
    const settle = (inbound: InboundSocket, consumed: number, work: () => void): FirstBytesVerdict => ({
      consumed,
      then: () => { guard(subscriber, () => { work(); leave(inbound) }) }
    })
    const judge: FirstBytesJudge<InboundSocket> = (inbound, received, event) => {
      const n = Math.min(prefix.length, received.length)
      if (event === 'bytes' && Buffer.compare(received.subarray(0, n), prefix.subarray(0, n)) === 0) {
        // the prefix so far: through once all of it (or, without one, a first byte) is there
        return received.length > 0 && received.length >= prefix.length ? settle(inbound, 0, () => { subscriber.next(inbound) }) : undefined
      }
      const reason = event === 'bytes' ? 'mismatch' : event === 'end' ? 'ended' : 'timeout'
      return settle(inbound, received.length, () => { inbound.reject(`opening-${reason}`) })
    }
    const subscription = source.subscribe(operatorObserver(subscriber, (arrived) => {
      if (exempt?.(arrived) === true) {
        subscriber.next(arrived)
        return
      }
      waiting.set(arrived, new FirstBytesReader(arrived, ms, scheduler, judge, leave))
      const [oldest, reader] = waiting.entries().next().value as [InboundSocket, FirstBytesReader<InboundSocket>]
      if (waiting.size > maxWaiting && scheduler.now() - reader.since >= minMs) {
        leave(oldest)
        oldest.reject('opening-shed')
      }
    }, () => {
      sourceDone = true
      if (waiting.size === 0) subscriber.complete()
    }))
    return () => {
      subscription.unsubscribe()
      for (const [inbound, reader] of waiting) {
        reader.stop()
        if (!inbound.socket.destroyed) inbound.reject(shutdownReason)
      }
      waiting.clear()
    }
  })
}
