/**
 * The flood's victims: which transport, with which options, under which
 * connection-manager settings. A name is one of the presets below or a
 * preset with overrides, `tcp-default:maxIncomingPendingConnections=64+inboundUpgradeTimeout=3000`,
 * which is how the tuned preset was found (a sweep, see docs/under-attack.md).
 */
import { pipe } from 'rxjs'
import { perSubnetLimit, perSubnetRateLimit, upgradeCap, upgradeDeadline } from '../../operators/index.ts'
import { openingBytes } from '../../operators/opening-bytes.ts'
import { MULTISTREAM_HEADER } from '../../src/guard.ts'
import type { TCPOptions } from '../../src/index.ts'

/** The connection-manager settings a victim may change; libp2p's defaults otherwise */
export const MANAGER_KEYS = ['maxIncomingPendingConnections', 'inboundUpgradeTimeout', 'inboundConnectionThreshold', 'maxConnections'] as const
export type ManagerKey = typeof MANAGER_KEYS[number]

export interface VictimSpec {
  /** the name given on the command line, and in the JSON */
  name: string
  transport: 'rx' | 'ref'
  /** rx-tcp's options: none, or the pipeline docs/under-attack.md recommends for a public node */
  pipeline: 'none' | 'noguard' | 'public' | 'docs'
  manager: Partial<Record<ManagerKey, number>>
  /** one line for the tables */
  description: string
}

/**
 * No deadline here is shorter than the bound every victim keeps to: 2 s
 * before a socket must have finished its upgrade, more than twice what a
 * peer 300 ms away needs (docs/under-attack.md, "a peer 300 ms away").
 */
export const MIN_UPGRADE_DEADLINE = 2_000

const PRESETS: Record<string, Omit<VictimSpec, 'name'>> = {
  'rx-public': {
    transport: 'rx',
    pipeline: 'public',
    manager: { maxIncomingPendingConnections: 512, inboundUpgradeTimeout: MIN_UPGRADE_DEADLINE },
    description: 'rx-tcp, the public-node setup of docs/under-attack.md: openingBytes always, inboundGuard { maxUpgrading: 256 }; maxIncomingPendingConnections 512, inboundUpgradeTimeout 2000'
  },
  'rx-bare': { transport: 'rx', pipeline: 'none', manager: {}, description: 'rx-tcp with no options, libp2p defaults' },
  'rx-noguard': { transport: 'rx', pipeline: 'noguard', manager: {}, description: 'rx-tcp with inboundGuard: false (main with the pipeline contract, before the guard), libp2p defaults' },
  'rx-docs': { transport: 'rx', pipeline: 'docs', manager: {}, description: 'rx-tcp, the pipeline docs/pipelines.md showed before this run (subnet limits, upgradeCap 32, upgradeDeadline 5 s), libp2p defaults' },
  'tcp-default': { transport: 'ref', pipeline: 'none', manager: {}, description: '@libp2p/tcp, libp2p defaults' },
  'tcp-tuned': {
    transport: 'ref',
    pipeline: 'none',
    manager: { maxIncomingPendingConnections: 1024, inboundUpgradeTimeout: MIN_UPGRADE_DEADLINE },
    description: '@libp2p/tcp, the best settings the sweep found: maxIncomingPendingConnections 1024, inboundUpgradeTimeout 2000'
  }
}

export const VICTIM_NAMES = Object.keys(PRESETS)

/** Parses `preset[:key=value,…]`; throws a one-line Error on a mistake */
export function victimSpec (name: string): VictimSpec {
  const [preset, overrides] = name.split(':', 2)
  const base = PRESETS[preset]
  if (base == null) throw new Error(`unknown victim "${preset}": one of ${VICTIM_NAMES.join(', ')}`)
  const manager = { ...base.manager }
  for (const pair of overrides?.split('+') ?? []) {
    const [key, value] = pair.split('=')
    if (!(MANAGER_KEYS as readonly string[]).includes(key) || !/^\d+$/.test(value ?? '')) {
      throw new Error(`bad victim override "${pair}" in "${name}": key=integer, keys ${MANAGER_KEYS.join(', ')}`)
    }
    manager[key as ManagerKey] = Number(value)
  }
  if ((manager.inboundUpgradeTimeout ?? 10_000) < MIN_UPGRADE_DEADLINE) {
    throw new Error(`victim "${name}": inboundUpgradeTimeout below ${MIN_UPGRADE_DEADLINE} ms loses peers 300 ms away`)
  }
  const description = overrides == null ? base.description : `${base.description}, with ${overrides.split('+').join(', ')}`
  return { ...base, name, manager, description }
}

/** rx-tcp's options for a victim */
export function rxOptions (spec: VictimSpec): TCPOptions {
  if (spec.pipeline === 'none') return {}
  if (spec.pipeline === 'noguard') return { inboundGuard: false }
  if (spec.pipeline === 'public') {
    // docs/under-attack.md, "A public node": every socket must open as a libp2p dialer does; 256 upgrades at once, the stalled shed under pressure
    return { inbound: openingBytes({ prefix: MULTISTREAM_HEADER }), inboundGuard: { maxUpgrading: 256 } }
  }
  const cap = upgradeCap({ max: 32 })
  const deadline = upgradeDeadline({ ms: 5_000 })
  return {
    inbound: pipe(
      perSubnetRateLimit({ rate: 5, burst: 20 }),
      perSubnetLimit({ max: 8 }),
      cap.inbound
    ),
    // the docs' pipeline as it was, with the guard off: what main ran before this change
    inboundGuard: false,
    lifetime: (socket) => pipe(deadline(socket), cap.lifetime(socket))
  }
}
