import type { Socket } from 'node:net'
import type { SchedulerLike, Subscription } from 'rxjs'

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
 * (the core's `opening`, the default `inboundGuard`'s) are a judge over
 * this one reader. The reads are in paused mode, through 'readable' (no
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
