import { fromEvent } from 'rxjs'
import type { Observable } from 'rxjs'
import type { ListenOptions, Server, Socket } from 'node:net'

/**
 * Every socket the server accepts, the moment Node hands it over; teardown
 * removes the one handler that subscription added. The listener keeps it
 * subscribed from its construction until `close()`, which closes the
 * listening handle first, so no socket is accepted with no handler.
 */
export function accepted$ (server: Server): Observable<Socket> {
  return fromEvent(server, 'connection') as Observable<Socket>
}

/** Binds the server; rejects with the server's error (`EADDRINUSE`, …) */
export async function listenOn (server: Server, options: ListenOptions): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => { reject(err) }
    server.once('error', onError)
    server.listen(options, () => {
      server.off('error', onError)
      resolve()
    })
  })
}
