import net from 'node:net'
import type { Server } from 'node:net'

/** the part of Node's TCP/Pipe handle wrap used here: `close(callback)` runs `callback` from libuv's close callback */
interface HandleWrap {
  close(callback?: () => void): void
}

/**
 * Closes the listening handle of `server` (as `net.Server`'s `close()` does) and
 * resolves once libuv has released it. `server.close()` alone emits
 * `'close'` on the next tick, before the loop's close phase has released
 * the handle, so a caller resuming then still finds it among the process's
 * active resources. The handle's own close callback is the one moment after
 * which it is gone: it is set here before `server.close()` closes the handle
 * (a second close of a handle does nothing). Resolves at once when the
 * server has no handle.
 */
export async function closeListeningHandle (server: Server): Promise<void> {
  const handle = (server as unknown as { _handle?: HandleWrap | null })._handle
  const released = handle != null && typeof handle.close === 'function'
    ? new Promise<void>((resolve) => { handle.close(resolve) })
    : undefined
  // net.Server's own close, not an http.Server's: that one also drops idle keep-alive connections
  net.Server.prototype.close.call(server)
  await released
}
