import { whenClosed } from './internal/when-closed.ts'
import { forSocket } from '../src/core/for-socket.ts'
import { operate, operatorObserver } from '../src/core/operate.ts'
import { checkOptions, checkPauseWindow, integer, required, text } from '../src/core/check.ts'
import type { InboundSocket, Intake } from '../src/core/types.ts'
import type { MonoTypeOperatorFunction } from 'rxjs'

/** The options of `pauseOnMaxConnections`. */
export interface PauseOnMaxConnectionsOptions {
  /** pause intake once this many sockets are open */
  closeAbove: number
  /** resume intake once fewer than this many are open */
  listenBelow: number
  /** the reason intake is paused for (default `'max-connections'`) */
  reason?: string
}

/**
 * Lets every socket through, and pauses the intake of the listener while
 * `closeAbove` or more of them are open, until fewer than `listenBelow` are:
 * the listener's `closeServerOnMaxConnections`.
 *
 *   sockets:   --a--b--c-------(a, b close)---(c closes)--
 *   result:    --a--b--c----------------------------------
 *   intake:    --------P------------------------R---------   (closeAbove 3, listenBelow 1)
 *
 * A socket counts as open from the moment it passes until its `closed$`.
 * Intake is resumed when the operator is unsubscribed while its source is
 * still running (never after the source completed: nothing more is wanted).
 * An intake whose `pause` throws rejects that socket with `'stage-error'`.
 *
 * @example
 * tcp({ inbound: pipe(pauseOnMaxConnections({ closeAbove: 300, listenBelow: 250 })) })
 *
 * @param options - the two thresholds and the pause reason
 * @returns an operator that drives intake from the number of open sockets
 * @throws InvalidParametersError when closeAbove < listenBelow
 */
export function pauseOnMaxConnections (options: PauseOnMaxConnectionsOptions): MonoTypeOperatorFunction<InboundSocket> {
  checkOptions('pauseOnMaxConnections', options, {
    closeAbove: required(integer({ min: 0 })),
    listenBelow: required(integer({ min: 0 })),
    reason: text()
  })
  const { closeAbove, listenBelow, reason = 'max-connections' } = options
  checkPauseWindow('pauseOnMaxConnections', options)
  return operate((source, subscriber) => {
    let open = 0
    let paused: Intake | undefined
    let sourceDone = false
    const resume = (): void => {
      const intake = paused
      paused = undefined
      intake?.resume(reason)
    }
    subscriber.add(() => {
      // intake runs again unless nothing more is wanted
      if (!sourceDone) {
        resume()
      }
    })
    return source.subscribe(operatorObserver(subscriber, (inbound) => {
      open++
      whenClosed(subscriber, inbound, () => {
        open--
        if (open < listenBelow) {
          resume()
        }
      })
      if (paused === undefined && open >= closeAbove) {
        // an intake that throws fails this socket, not the stage
        if (!forSocket(inbound, () => { inbound.intake.pause(reason) })) {
          return
        }
        paused = inbound.intake
      }
      subscriber.next(inbound)
    }, () => {
      sourceDone = true
      subscriber.complete()
    }, (err) => {
      sourceDone = true
      subscriber.error(err)
    }))
  })
}
