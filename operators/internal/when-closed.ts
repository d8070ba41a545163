import { operatorObserver } from '../../src/core/operate.ts'
import type { InboundSocket } from '../../src/core/types.ts'
import type { Subscriber, Subscription } from 'rxjs'

/**
 * Calls `closed` once `inbound` has closed (at once if it has), through its
 * own `closed$`: the stage keeps no table and no 'close' listener of its own.
 * A throw in `closed` is an error of `subscriber`'s stream, and nothing is
 * called once `subscriber` is closed. The watch ends with `subscriber`, or
 * earlier when the returned subscription is unsubscribed.
 *
 * @param subscriber - the stage's downstream subscriber
 * @param inbound - the socket to follow
 * @param closed - what to do once it has closed
 * @returns the watch
 */
export function whenClosed (subscriber: Subscriber<unknown>, inbound: InboundSocket, closed: () => void): Subscription {
  const watch = inbound.closed$.subscribe(operatorObserver(subscriber, ignore, closed))
  subscriber.add(watch)
  return watch
}

function ignore (): void {}
