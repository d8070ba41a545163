import { opening } from './core/opening.ts'
import { upgradeSlots } from './core/upgrade-slots.ts'
import type { InboundGuardOptions } from './index.ts'
import type { InboundSocket } from './core/types.ts'
import type { Socket } from 'node:net'
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
 * It is those two operators' own core stages (`opening`, `upgradeSlots`),
 * composed rather than written again, without their option checks (the
 * listener's options are checked once) and without a lifetime operator: the
 * listener calls `settled` when an upgrade has settled, so an open
 * connection costs the guard nothing. See docs/under-attack.md.
 */
export function inboundGuard (options: InboundGuardOptions | false | undefined): { inbound: MonoTypeOperatorFunction<InboundSocket>, settled: (socket: Socket) => void } {
  if (options === false) {
    return { inbound: (source) => source, settled: () => {} }
  }
  const { maxUpgrading, stalledMs, openingMs } = { ...GUARD_DEFAULTS, ...options }
  const slots = upgradeSlots({ max: maxUpgrading, stalledMs })
  // judged once, on arrival: under pressure a socket must open as a libp2p peer does first
  const opened = opening({ prefix: MULTISTREAM_HEADER, ms: openingMs, exempt: () => slots.taken() < maxUpgrading })
  return { inbound: (source) => source.pipe(opened, slots.inbound), settled: slots.settled }
}
