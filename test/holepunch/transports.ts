/**
 * The TCP transports `npm run holepunch` puts side by side: `@libp2p/tcp`
 * (dials from an ephemeral port), rx-tcp without port reuse
 * (`portReuse: 'never'`), rx-tcp with its default (`'auto'`: every dial from
 * the listen port but the one DCUtR tries before the hole punch), and rx-tcp
 * dialing everything from the listen port as go-libp2p does (`'always'`).
 */
import { tcp as refTcp } from '@libp2p/tcp'
import { tcp as rxTcp } from '../../src/index.ts'
import type { Transport } from '@libp2p/interface'

export const HOLE_TRANSPORTS = ['ref', 'rx-noreuse', 'rx-reuse', 'rx-reuse-always'] as const
export type HoleTransport = typeof HOLE_TRANSPORTS[number]

export const HOLE_TRANSPORT_NAMES: Record<HoleTransport, string> = {
  ref: '@libp2p/tcp',
  'rx-noreuse': 'rx-tcp without reuse',
  'rx-reuse': 'rx-tcp with reuse',
  'rx-reuse-always': 'rx-tcp with reuse for every dial'
}

/** the transport factory of `kind` for a libp2p node */
export function hostTransport (kind: HoleTransport): (components: any) => Transport {
  switch (kind) {
    case 'ref': return refTcp()
    case 'rx-noreuse': return rxTcp({ portReuse: 'never' })
    case 'rx-reuse': return rxTcp()
    case 'rx-reuse-always': return rxTcp({ portReuse: 'always' })
  }
}
