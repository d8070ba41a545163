import { Observable } from 'rxjs'
import type { Observer, OperatorFunction, Subscriber, TeardownLogic } from 'rxjs'

/**
 * Builds an operator the way RxJS builds its own (`operate` in
 * `rxjs/src/internal/util/lift.ts`): `init` runs once per subscription, with
 * the source and the downstream subscriber, so the state it declares is that
 * subscription's. It subscribes to the source with an `operatorObserver` and
 * returns that subscription, or a teardown that ends it: the source is then
 * unsubscribed when the subscriber errors, completes or is unsubscribed.
 * A throw in `init` errors the subscriber.
 *
 * @example
 * const evens = operate<number, number>((source, subscriber) =>
 *   source.subscribe(operatorObserver(subscriber, (n) => { if (n % 2 === 0) subscriber.next(n) })))
 *
 * @param init - subscribes to the source for one subscriber; returns its teardown
 * @returns the operator
 */
export function operate<T, R> (init: (source: Observable<T>, subscriber: Subscriber<R>) => TeardownLogic): OperatorFunction<T, R> {
  // a throw in init errors the subscriber: RxJS's own subscribe catches it (Observable._trySubscribe)
  return (source) => new Observable<R>((subscriber) => init(source, subscriber))
}

/**
 * The observer an operator subscribes its source with (RxJS's
 * `createOperatorSubscriber`): each handler left out forwards to
 * `destination`, and a throw in any handler becomes `destination.error`, so
 * a fault in a stage is an error of the stream, never an uncaught exception.
 * Nothing reaches a handler once `destination` is closed.
 *
 * @param destination - the downstream subscriber
 * @param onNext - handles each value (default: forwards it)
 * @param onComplete - handles the source's completion (default: completes `destination`)
 * @param onError - handles the source's error (default: errors `destination`)
 * @returns the observer to subscribe the source with
 */
export function operatorObserver<T> (
  destination: Subscriber<any>,
  onNext?: (value: T) => void,
  onComplete?: () => void,
  onError?: (err: unknown) => void
): Observer<T> {
  return new OperatorObserver(destination, onNext, onComplete, onError)
}

/**
 * A class rather than an object of closures: a stage that watches every
 * open socket (`closed$`) holds one of these per socket.
 */
class OperatorObserver<T> implements Observer<T> {
  constructor (
    private readonly destination: Subscriber<any>,
    private readonly onNext?: (value: T) => void,
    private readonly onComplete?: () => void,
    private readonly onError?: (err: unknown) => void
  ) {}

  next (value: T): void {
    this.handle(this.onNext, 'next', value)
  }

  error (err: unknown): void {
    this.handle(this.onError, 'error', err)
  }

  complete (): void {
    this.handle(this.onComplete, 'complete')
  }

  /** the handler given, or else `destination`'s own; a throw in either errors `destination` */
  private handle (handler: ((value: any) => void) | undefined, forward: 'next' | 'error' | 'complete', value?: unknown): void {
    if (this.destination.closed) {
      return
    }
    try {
      if (handler === undefined) {
        (this.destination[forward] as (value?: unknown) => void).call(this.destination, value)
      } else {
        handler(value)
      }
    } catch (err) {
      this.destination.error(err)
    }
  }
}

/**
 * Runs a stage's work that is not for one socket (a timer's, a finalizer's),
 * and turns a throw in it into an error of `subscriber`'s stream: a timer
 * callback that throws would otherwise be an uncaught exception.
 *
 * @param subscriber - the stage's downstream subscriber
 * @param work - the work
 */
export function guard (subscriber: Subscriber<any>, work: () => void): void {
  try {
    work()
  } catch (err) {
    subscriber.error(err)
  }
}
