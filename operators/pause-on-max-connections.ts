import { Observable } from 'rxjs'
import { OpenSockets } from './internal/open-sockets.ts'
import { checkOptions, integer, invalidOption, required, text } from '../src/core/check.ts'
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
 * Intake is resumed when the operator is unsubscribed while its source is
 * still running (never after the source completed: nothing more is wanted).
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
  if (closeAbove < listenBelow) {
    throw invalidOption('pauseOnMaxConnections', `closeAbove (${closeAbove}) must be >= listenBelow (${listenBelow})`)
  }
  return (source) => new Observable<InboundSocket>((subscriber) => {
    let paused: Intake | undefined
    let sourceDone = false
    const resume = (): void => {
      const intake = paused
      paused = undefined
      intake?.resume(reason)
    }
    const open = new OpenSockets(() => {
      if (!sourceDone && open.total < listenBelow) {
        resume()
      }
    })
    const subscription = source.subscribe({
      next: (inbound) => {
        open.add('all', inbound.socket)
        if (paused === undefined && open.total >= closeAbove) {
          paused = inbound.intake
          paused.pause(reason)
        }
        subscriber.next(inbound)
      },
      error: (err) => {
        sourceDone = true
        subscriber.error(err)
      },
      complete: () => {
        sourceDone = true
        subscriber.complete()
      }
    })
    return () => {
      subscription.unsubscribe()
      open.dispose()
      if (!sourceDone) {
        resume()
      }
    }
  })
}
