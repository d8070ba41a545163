/**
 * The TCP transports `npm run holepunch` puts side by side: `@libp2p/tcp`
 * (dials from an ephemeral port), rx-tcp as it dials without port reuse,
 * and rx-tcp dialing from its listen port.
 */
import { tcp as refTcp } from '@libp2p/tcp'
import { tcp as rxTcp } from '../../src/index.ts'
import type { Transport } from '@libp2p/interface'

export const HOLE_TRANSPORTS = ['ref', 'rx-noreuse', 'rx-reuse'] as const
export type HoleTransport = typeof HOLE_TRANSPORTS[number]

export const HOLE_TRANSPORT_NAMES: Record<HoleTransport, string> = {
  ref: '@libp2p/tcp',
  'rx-noreuse': 'rx-tcp without reuse',
  'rx-reuse': 'rx-tcp with reuse'
}

/** the transport factory of `kind` for a libp2p node */
export function hostTransport (kind: HoleTransport): (components: any) => Transport {
  switch (kind) {
    case 'ref': return refTcp()
    case 'rx-noreuse': return rxTcp()
    case 'rx-reuse': throw new Error('rx-tcp with port reuse is not in this build yet')
  }
}
