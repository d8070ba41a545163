import { Observable } from 'rxjs'

/**
 * Emits once and completes when the signal aborts (at once if it has): a
 * `takeUntil` notifier that holds one listener on the signal, removed at
 * unsubscribe.
 */
export function aborted$ (signal: AbortSignal): Observable<void> {
  return new Observable<void>((subscriber) => {
    const fire = (): void => {
      subscriber.next()
      subscriber.complete()
    }
    if (signal.aborted) {
      fire()
      return
    }
    signal.addEventListener('abort', fire, { once: true })
    return () => { signal.removeEventListener('abort', fire) }
  })
}
