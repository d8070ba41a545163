import type { InboundSocket } from '../src/inbound.ts'
import type { Observable } from 'rxjs'

export type { InboundSocket, Intake, InboundOperator, LifetimeOperator } from '../src/inbound.ts'

/**
 * A per-socket operator for the lifetime observable of an accepted socket.
 * It is generic in what the lifetime emits, so the same operator serves the
 * transport (where it is a `LifetimeOperator` over `Connection`) and
 * applications that upgrade sockets into anything else.
 */
export type LifetimeHook = (inbound: InboundSocket) => <T>(lifetime$: Observable<T>) => Observable<T>

/**
 * Called once for each socket refused by any stage, after it was destroyed.
 */
export type RejectListener = (inbound: InboundSocket, reason: string, err?: Error) => void
