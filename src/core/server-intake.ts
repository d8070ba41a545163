import { closeListeningHandle } from './close-handle.ts'
import { checkOptions, fn, ms, netServer, object, required } from './check.ts'
import type { Intake } from './types.ts'
import type { ListenOptions, Server } from 'node:net'

/** The options of `serverIntake`. */
export interface ServerIntakeOptions {
  /** how to re-open the handle on resume (default: the host and port, or unix path, it was bound to when paused) */
  listen?: ListenOptions
  /** told when re-opening the handle fails (the server emits the error too) */
  onError?(err: Error): void
  /** after a failed re-open, try again this many ms later, until it succeeds or `end()` (default: no retry) */
  retryAfter?: number
}

/**
 * An `Intake` over a `net.Server`, with the state its owner needs to know.
 */
export interface ServerIntake extends Intake {
  /** true while some reason holds intake paused or the handle is being re-opened */
  readonly holding: boolean
  /**
   * Resolves once libuv has released the last listening handle a pause
   * closed (at once if none was closed): a close that follows a pause waits
   * on it so that nothing of the server is left active.
   */
  readonly released: Promise<void>
  /**
   * Freezes the intake and detaches it from the server: later pause/resume
   * calls do nothing, and a handle being re-opened is closed again once
   * open. A server paused at that moment stays closed.
   */
  end(): void
}

/**
 * Pauses a server's intake by closing its listening handle (sockets already
 * accepted stay open, idle keep-alive ones of an `http.Server` too) and resumes it by listening again on the address it
 * was bound to, once every reason that paused it has been resumed.
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
 * @param options - how to re-listen and where to report a failure to
 * @returns the intake control of `server`
 */
export function serverIntake (server: Server, options: ServerIntakeOptions = {}): ServerIntake {
  checkOptions('serverIntake', { server }, { server: required(netServer()) })
  checkOptions('serverIntake', options, { listen: object(), onError: fn(), retryAfter: ms() })
  const reasons = new Map<string, number>()
  let bound: ListenOptions | undefined
  let reopening = false
  let ended = false
  let retry: ReturnType<typeof setTimeout> | undefined
  let released = Promise.resolve()

  const reconcile = (): void => {
    if (reopening) {
      return
    }
    const wanted = reasons.size === 0 && !ended
    if (!wanted && server.listening) {
      bound = options.listen ?? listenOptionsOf(server)
      released = closeListeningHandle(server)
    } else if (wanted && !server.listening && bound !== undefined) {
      reopen(bound)
    }
  }

  const reopen = (target: ListenOptions): void => {
    reopening = true
    const settle = (err?: Error): void => {
      server.off('listening', opened)
      server.off('error', failed)
      reopening = false
      if (err !== undefined) {
        options.onError?.(err)
        if (options.retryAfter !== undefined && !ended) {
          clearTimeout(retry)
          retry = setTimeout(reconcile, options.retryAfter)
        }
        return
      }
      bound = undefined
      reconcile()
    }
    const opened = (): void => { settle() }
    const failed = (err: Error): void => { settle(err) }
    server.once('listening', opened)
    server.once('error', failed)
    server.listen(target)
  }

  // a server that starts listening while paused (listen() called after pause) is closed again
  server.on('listening', reconcile)

  return {
    get holding () {
      return reasons.size > 0 || reopening
    },
    get released () {
      return released
    },
    pause (reason: string): void {
      if (ended) {
        return
      }
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
      reconcile()
    },
    resume (reason: string): void {
      const held = reasons.get(reason)
      if (ended || held === undefined) {
        return
      }
      if (held > 1) {
        reasons.set(reason, held - 1)
      } else {
        reasons.delete(reason)
      }
      reconcile()
    },
    end (): void {
      ended = true
      clearTimeout(retry)
      server.off('listening', reconcile)
    }
  }
}

function listenOptionsOf (server: Server): ListenOptions | undefined {
  const address = server.address()
  if (address == null) {
    return undefined
  }
  if (typeof address === 'string') {
    return { path: address }
  }
  return { host: address.address, port: address.port }
}
