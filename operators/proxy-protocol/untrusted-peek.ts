import { completeSignatureVersion, startsLikeSignature } from './header.ts'
import type { InboundSocket } from '../../src/core/types.ts'
import type { SchedulerLike, Subscription } from 'rxjs'

/**
 * One untrusted socket under `untrusted: 'reject'`, read only as far as
 * telling whether it opens with a PROXY signature (at most 12 bytes are
 * judged): `onHeader` when it does, `onPass` as soon as it does not, or when
 * it ends, closes, or stays silent until the timeout (a peer that waits for
 * the server to speak first). The bytes read are put back before `onPass`,
 * and every listener and the timer are gone once it has settled.
 */
export class UntrustedPeek {
  private received: Buffer = Buffer.alloc(0)
  private readonly timer: Subscription

  constructor (
    readonly inbound: InboundSocket,
    timeout: number,
    scheduler: SchedulerLike,
    private readonly onHeader: (peek: UntrustedPeek, version: 1 | 2) => void,
    private readonly onPass: (peek: UntrustedPeek) => void
  ) {
    const { socket } = inbound
    socket.on('readable', this.onReadable)
    socket.once('end', this.onEnd)
    socket.once('close', this.onEnd)
    this.timer = scheduler.schedule(() => { this.pass() }, timeout)
  }

  private readonly onReadable = (): void => {
    let chunk: Buffer | null
    while ((chunk = this.inbound.socket.read()) !== null) {
      this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk])
    }
    const version = completeSignatureVersion(this.received)
    if (version !== undefined) {
      this.stop()
      this.onHeader(this, version)
    } else if (this.received.length > 0 && !startsLikeSignature(this.received)) {
      this.pass()
    }
  }

  private readonly onEnd = (): void => {
    this.pass()
  }

  private pass (): void {
    this.stop()
    // bytes cannot go back into a stream that has ended: that socket's upgrade fails on its end anyway
    if (this.received.length > 0 && !this.inbound.socket.readableEnded && !this.inbound.socket.destroyed) {
      this.inbound.socket.unshift(this.received)
    }
    this.onPass(this)
  }

  /** stops reading, for a rejection from outside */
  stop (): void {
    const { socket } = this.inbound
    this.timer.unsubscribe()
    socket.off('readable', this.onReadable)
    socket.off('end', this.onEnd)
    socket.off('close', this.onEnd)
  }
}
