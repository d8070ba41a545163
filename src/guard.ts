import { connect, filter, map, merge, tap } from 'rxjs'
import { openingBytes } from '../operators/opening-bytes.ts'
import { shedStalled } from '../operators/shed-stalled.ts'
import type { InboundGuardOptions } from './index.ts'
import type { InboundSocket, LifetimeHook } from './core/types.ts'
import type { MonoTypeOperatorFunction } from 'rxjs'

/** What a libp2p dialer sends first on a TCP socket: multistream-select's header, with its varint length. */
export const MULTISTREAM_HEADER = new TextEncoder().encode('\x13/multistream/1.0.0\n')

/** The guard's defaults: below libp2p's `maxIncomingPendingConnections` (10), and generous to a peer 300 ms away. */
export const GUARD_DEFAULTS: Required<InboundGuardOptions> = { maxUpgrading: 8, stalledMs: 1_000, openingMs: 10_000 }

/**
 * The listener's own defence against a flood, in front of the upgrader: a
 * few pending-upgrade slots (libp2p refuses inbound sockets past its
 * `maxIncomingPendingConnections`, 10) must not be taken by peers that
 * never finish. While fewer than `maxUpgrading` sockets are in upgrade it
 * changes nothing. Under pressure a new socket is upgraded only once it has
 * sent multistream-select's header (`openingBytes`: silence, drips and
 * garbage never reach the upgrader, and the longest-waiting are shed as
 * more arrive), then waits for a slot, and the upgrade stalled longest makes
 * room for it once it has gone `stalledMs` without a byte (`shedStalled`).
 * See docs/under-attack.md.
 */
export function inboundGuard (options: InboundGuardOptions | false | undefined): { inbound: MonoTypeOperatorFunction<InboundSocket>, lifetime: LifetimeHook } {
  if (options === false) {
    return { inbound: (source) => source, lifetime: () => (lifetime$) => lifetime$ }
  }
  const { maxUpgrading, stalledMs, openingMs } = { ...GUARD_DEFAULTS, ...options }
  const shed = shedStalled({ max: maxUpgrading, stalledMs })
  const opening = openingBytes({ prefix: MULTISTREAM_HEADER, ms: openingMs })
  // sockets in upgrade through this guard: one listener's, as the guard is made per listener
  let upgrading = 0

  const inbound: MonoTypeOperatorFunction<InboundSocket> = (source) => source.pipe(
    // judged once, on arrival: under pressure it must open as a libp2p peer does first
    map((arrived) => ({ arrived, pressed: upgrading >= maxUpgrading })),
    connect((judged$) => merge(
      judged$.pipe(filter(({ pressed }) => !pressed), map(({ arrived }) => arrived)),
      judged$.pipe(filter(({ pressed }) => pressed), map(({ arrived }) => arrived), opening)
    )),
    shed.inbound
  )

  const lifetime: LifetimeHook = (admitted) => (lifetime$) => {
    let counted = true
    upgrading++
    const settled = (): void => {
      if (counted) {
        counted = false
        upgrading--
      }
    }
    return shed.lifetime(admitted)(lifetime$).pipe(tap({ next: settled, finalize: settled }))
  }

  return { inbound, lifetime }
}
