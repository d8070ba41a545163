import { fromEvent } from 'rxjs'
import type { Observable } from 'rxjs'
import { serverIntake } from './core/server-intake.ts'
import type { ServerIntake } from './core/server-intake.ts'
import type { Intake } from './core/types.ts'
import type { Logger } from '@libp2p/interface'
import type { ListenOptions, Server, Socket } from 'node:net'

/** how long intake rests after an accept error (EMFILE and the like), or before a failed re-listen is retried */
export const INTAKE_REST = 100

export interface ListenerIntakeInit {
  server: Server
  log: Logger
  /** the listener's address label at the moment of the call */
  label: () => string
  /** called once intake has really paused: the listening handle is closed */
  onPaused: () => void
  /** called when listening again after a pause failed (it is retried after `INTAKE_REST`) */
  onListenError?: (err: Error) => void
}

/**
 * A listener's intake: pauses and resumes taking sockets from the kernel,
 * counted by reason, through `serverIntake` from rx-tcp/operators once the
 * listener is bound (it re-listens on the bound address, and retries a failed
 * re-listen). Before `start()` and after `end()` pausing and resuming do
 * nothing.
 */
export class ListenerIntake implements Intake {
  private readonly init: ListenerIntakeInit
  private serverIntake?: ServerIntake
  private restTimer?: ReturnType<typeof setTimeout>

  constructor (init: ListenerIntakeInit) {
    this.init = init
  }

  readonly pause = (reason: string): void => {
    this.serverIntake?.pause(reason)
    if (this.serverIntake?.holding === true && !this.init.server.listening) {
      this.init.log('intake on %s paused: %s', this.init.label(), reason)
      this.init.onPaused()
    }
  }

  readonly resume = (reason: string): void => {
    this.serverIntake?.resume(reason)
  }

  /** takes control of the bound server; `listen` is what a resume listens on again */
  start (listen: ListenOptions): void {
    this.serverIntake = serverIntake(this.init.server, {
      listen,
      retryAfter: INTAKE_REST,
      onError: (err) => {
        this.init.log.error('could not resume listening on %s, retrying in %dms - %e', this.init.label(), INTAKE_REST, err)
        this.init.onListenError?.(err)
      }
    })
  }

  /** out of descriptors or the like: rests briefly, then takes sockets again */
  rest (): void {
    this.pause('accept-error')
    clearTimeout(this.restTimer)
    this.restTimer = setTimeout(() => { this.resume('accept-error') }, INTAKE_REST)
  }

  /** nothing resumes intake after this */
  end (): void {
    clearTimeout(this.restTimer)
    this.serverIntake?.end()
  }

  /** resolves once a handle a pause closed has been released by libuv (at once if none) */
  get released (): Promise<void> | undefined {
    return this.serverIntake?.released
  }
}

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
