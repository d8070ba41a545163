import type { InboundSocket } from './types.ts'

/**
 * Runs a stage's work for one socket, and rejects that socket alone if the
 * work throws (a user's callback, a bug of the stage): one socket's error is
 * one socket's, the stream goes on. Returns false when it threw.
 *
 * @param inbound - the socket the work is for
 * @param work - the stage's work for it
 * @param reason - the rejection reason (default `'stage-error'`)
 * @returns whether the work completed without a throw
 */
export function forSocket (inbound: InboundSocket, work: () => void, reason = STAGE_ERROR): boolean {
  try {
    work()
    return true
  } catch (err) {
    try {
      inbound.reject(reason, err instanceof Error ? err : new Error(String(err)))
    } catch {
      // a reject that throws too (a wrapper counting it): the socket still goes, and only it
      inbound.socket.destroy()
    }
    return false
  }
}

/** The reason a socket is rejected with when a stage's work for it threw. */
const STAGE_ERROR = 'stage-error'
