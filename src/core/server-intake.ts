import { closeListeningHandle, closePhasePassed } from './close-handle.ts'
import type { ListenOptions, Server } from 'node:net'

/** The options of `serverIntake`: internal (its callers check what a user gives them) */
export interface ServerIntakeOptions {
  /** how to re-open the handle on resume (default: the host and port, or unix path, it was bound to when paused) */
  listen?: ListenOptions
  /** told when re-opening the handle fails (the server emits the error too) */
  onError?(err: Error): void
  /** after a failed re-open, try again this many ms later, until it succeeds or `end()` (default: no retry) */
  retryAfter?: number
  /** told when a pause has closed the listening handle, with the reasons holding it */
  onPaused?(reasons: string[]): void
}

/** An `Intake` (pause, resume) over a `net.Server`, with the state its owner needs to know: what `serverIntake` returns */
export type ServerIntake = ReturnType<typeof serverIntake>

/**
 * Pauses a server's intake by closing its listening handle (sockets already
 * accepted stay open, idle keep-alive ones of an `http.Server` too) and
 * resumes it by listening again on the address it was bound to, once every
 * reason that paused it has been resumed. The one intake of the house: the
 * transport's listener and the server guards both take sockets through it.
 *
 *   pause('a') ──► handle closed     pause('b')     resume('a')     resume('b') ──► listening again
 *
 * Pauses are counted per reason: each pause is matched by one resume.
 *
 * @example
 * const intake = serverIntake(server)
 * intake.pause('upgrades-in-flight')   // server.listening === false
 * intake.resume('upgrades-in-flight')  // listening again on the same port
 *
 * @param server - a `net.Server`, listening or not yet
 * @param options - how to re-listen and where to report a pause or a failure to
 * @returns the intake control of `server`
 */
export function serverIntake (server: Server, options: ServerIntakeOptions = {}) {
  const reasons = new Map<string, number>()
  let bound: ListenOptions | undefined
  /** the re-open under way: settles once its outcome has been acted on */
  let reopening: Promise<void> | undefined
  let ended = false
  let retry: ReturnType<typeof setTimeout> | undefined
  let resting: ReturnType<typeof setTimeout> | undefined
  let released = Promise.resolve()
  // every handle closed counts, not the last only: libuv releases the handles closed in one turn last-closed first
  const releasing = (handle: Promise<void>): void => { released = Promise.all([released, handle]).then(() => {}) }

  const reconcile = (): void => {
    if (reopening !== undefined) return
    const wanted = reasons.size === 0 && !ended
    if (!wanted && server.listening) {
      bound = options.listen ?? listenOptionsOf(server)
      releasing(closeListeningHandle(server))
      if (!ended) options.onPaused?.([...reasons.keys()])
    } else if (wanted && !server.listening && bound !== undefined) {
      reopening = listenOn(server, bound).then(() => {
        reopening = undefined
        bound = undefined
        reconcile()
      }, (err: Error) => {
        reopening = undefined
        // the failed bind's handle is closed by the runtime, out of reach: it is released in this turn's close phase
        releasing(closePhasePassed())
        options.onError?.(err)
        if (options.retryAfter !== undefined && !ended) {
          clearTimeout(retry)
          retry = setTimeout(reconcile, options.retryAfter)
        }
      })
    }
  }

  const pause = (reason: string): void => {
    if (ended) return
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
    reconcile()
  }

  const resume = (reason: string): void => {
    const held = reasons.get(reason)
    if (ended || held === undefined) return
    if (held > 1) reasons.set(reason, held - 1)
    else reasons.delete(reason)
    reconcile()
  }

  // a server that starts listening while paused (listen() called after pause) is closed again
  server.on('listening', reconcile)

  return {
    pause,
    resume,
    /** true while some reason holds intake paused or the handle is being re-opened */
    get holding (): boolean { return reasons.size > 0 || reopening !== undefined },
    /**
     * Resolves once libuv has released every listening handle a pause closed,
     * or a re-open that failed left (at once if none): a close that follows a
     * pause waits on it so that nothing of the server is left active.
     */
    get released (): Promise<void> { return released },
    /**
     * Pauses under `reason` for `ms`, then resumes (after an accept error:
     * out of descriptors or the like). A rest under way is extended, not
     * counted twice.
     */
    rest (reason: string, ms: number): void {
      if (resting === undefined) pause(reason)
      clearTimeout(resting)
      resting = setTimeout(() => {
        resting = undefined
        resume(reason)
      }, ms)
    },
    /**
     * Freezes the intake and detaches it from the server: later pause/resume
     * calls do nothing, and a handle being re-opened is closed again once
     * open (a failed re-open is reported, and not retried). A server paused
     * at that moment stays closed. Resolves once a re-open under way has
     * settled: from then on the server's handle is what it will stay (none,
     * unless it was listening unpaused) and `released` covers every handle
     * a pause or a re-open closed.
     */
    async end (): Promise<void> {
      ended = true
      clearTimeout(retry)
      clearTimeout(resting)
      server.off('listening', reconcile)
      // a throw from onError is the caller's own, not the end's
      await reopening?.catch(() => {})
    }
  }
}

function listenOptionsOf (server: Server): ListenOptions | undefined {
  const address = server.address()
  if (address == null) return undefined
  return typeof address === 'string' ? { path: address } : { host: address.address, port: address.port }
}

/**
 * Binds the server: resolves on its 'listening', rejects with its 'error'
 * (`EADDRINUSE`, …), and leaves no listener of its own behind either way.
 */
export async function listenOn (server: Server, options: ListenOptions): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const settle = (err?: Error): void => {
      server.off('listening', settle)
      server.off('error', settle)
      if (err === undefined) resolve()
      else reject(err)
    }
    server.once('listening', settle)
    server.once('error', settle)
    server.listen(options)
  })
}
