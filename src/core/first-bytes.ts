import { asyncScheduler } from 'rxjs'
import { guard, operate, operatorObserver } from './operate.ts'
import type { InboundSocket } from './types.ts'
import type { Socket } from 'node:net'
import type { MonoTypeOperatorFunction, SchedulerLike, Subscription } from 'rxjs'

/** What woke the judge of a socket's first bytes: bytes arrived, the peer ended, or the time ran out. */
export type FirstBytesEvent = 'bytes' | 'end' | 'timeout'

/**
 * What the judge decided: how many of the bytes read belong to it (the rest
 * are put back into the socket), and what happens to the socket then.
 */
export interface FirstBytesVerdict {
  /** the bytes the judge keeps; the ones after them are unshifted for the next reader */
  consumed: number
  /** run once the reader has stopped and the rest is back in the socket */
  then: () => void
}

/**
 * Judges the bytes read so far from the socket of `subject`: a verdict, or
 * undefined to wait for more (on `'end'` and `'timeout'` it must decide).
 * One judge serves every socket of a stage, so a waiting socket costs its
 * reader alone.
 */
export type FirstBytesJudge<S> = (subject: S, received: Buffer, event: FirstBytesEvent) => FirstBytesVerdict | undefined

/**
 * Reads the first bytes of a socket, before anyone else does, until `judge`
 * decides on them: both PROXY paths (a trusted socket's header, an
 * untrusted one's signature under `untrusted: 'reject'`) and `openingBytes`
 * (the default `inboundGuard`'s) are a judge over this one reader. The reads are in paused mode, through 'readable' (no
 * 'data' listener, so no byte flows past); once a verdict is given every
 * listener and the timer are removed and the bytes the judge did not
 * consume are put back, so the socket is left as if it had not been read.
 * A socket that closes first is given up: `onClose`, no verdict. `subject`
 * is what the judge decides about: its `socket` is the one read.
 */
export class FirstBytesReader<S extends { readonly socket: Socket }> {
  private received: Buffer = Buffer.alloc(0)
  private readonly timer: Subscription
  /** when the reader began: how long the socket has waited */
  readonly since: number

  constructor (
    readonly subject: S,
    timeout: number,
    scheduler: SchedulerLike,
    private readonly judge: FirstBytesJudge<S>,
    private readonly onClose: (subject: S) => void
  ) {
    const { socket } = subject
    this.since = scheduler.now()
    socket.on('readable', this.onReadable)
    socket.once('end', this.onEnd)
    socket.once('close', this.onClosed)
    this.timer = scheduler.schedule(() => { this.decide('timeout') }, timeout)
  }

  private readonly onReadable = (): void => {
    let chunk: Buffer | null
    while ((chunk = this.subject.socket.read()) !== null) {
      this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk])
    }
    this.decide('bytes')
  }

  private readonly onEnd = (): void => {
    this.decide('end')
  }

  private readonly onClosed = (): void => {
    this.stop()
    this.onClose(this.subject)
  }

  private decide (event: FirstBytesEvent): void {
    const verdict = this.judge(this.subject, this.received, event)
    if (verdict === undefined) {
      return
    }
    this.stop()
    const { socket } = this.subject
    const rest = this.received.subarray(verdict.consumed)
    // bytes cannot go back into a stream that has ended: that socket's next reader sees its end anyway
    if (rest.length > 0 && !socket.readableEnded && !socket.destroyed) {
      socket.unshift(rest)
    }
    verdict.then()
  }

  /** stops reading: every listener and the timer removed, nothing put back (for a rejection from outside) */
  stop (): void {
    const { socket } = this.subject
    this.timer.unsubscribe()
    socket.off('readable', this.onReadable)
    socket.off('end', this.onEnd)
    socket.off('close', this.onClosed)
  }
}

/** The options of `openingBytes` (`rx-tcp/operators`), which are the core's `opening`'s. */
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
