import net from 'node:net'
import type { Server } from 'node:net'

/** the part of Node's TCP/Pipe handle wrap used here: `close(callback)` runs `callback` from libuv's close callback */
export interface HandleWrap {
  close(callback?: () => void): void
}

/**
 * Finds the handle whose close callback tells when the runtime has released a
 * server's listening handle: `server._handle`, a runtime internal. Node and
 * Deno have it, with a `close(callback)`; Bun's `_handle` has no `close`, so
 * this answers `undefined` there, and so it does on any runtime that drops it.
 */
export function listeningHandleOf (server: Server): HandleWrap | undefined {
  const handle = (server as unknown as { _handle?: Partial<HandleWrap> | null })._handle
  return handle != null && typeof handle.close === 'function' ? handle as HandleWrap : undefined
}

/**
 * Closes the listening handle of `server` (as `net.Server`'s `close()` does) and
 * resolves once the runtime has released it. `server.close()` alone emits
 * `'close'` on the next tick, before the loop's close phase has released
 * the handle, so a caller resuming then still finds it among the process's
 * active resources. The handle's own close callback is the one moment after
 * which it is gone: it is set here before `server.close()` closes the handle
 * (a second close of a handle does nothing). Resolves at once when the
 * server has no handle.
 *
 * Where the runtime has no such handle (Bun; `probe` answers `undefined`) the
 * contract is weaker: it resolves two turns of the event loop after
 * `server.close()`, when the server no longer listens and its port or path
 * refuses connections, but when the runtime frees its own resource is not
 * observable. (`server`'s `'close'` is no substitute: it waits for every
 * accepted connection, which a pause leaves open.)
 *
 * @param server - the server whose listening handle to close
 * @param probe - how to find the handle (tests force the fallback with `() => undefined`)
 */
export async function closeListeningHandle (server: Server, probe = listeningHandleOf): Promise<void> {
  const listening = server.listening
  const handle = probe(server)
  const released = handle != null ? new Promise<void>((resolve) => { handle.close(resolve) }) : undefined
  // net.Server's own close, not an http.Server's: that one also drops idle keep-alive connections
  net.Server.prototype.close.call(server)
  if (released != null) {
    await released
  } else if (listening) {
    await closePhasePassed()
  }
}

/**
 * Resolves once the close phase of this turn of the event loop has run, where
 * the runtime releases the handles closed in this turn: two turns, as this
 * turn's check phase (the first `setImmediate`) comes before its close phase.
 * For a handle that cannot be reached to wait on (one a failed bind closed).
 */
export async function closePhasePassed (): Promise<void> {
  for (let turn = 0; turn < 2; turn++) await new Promise<void>((resolve) => { setImmediate(resolve) })
}
