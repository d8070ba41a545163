import { tcp as referenceTcp } from '@libp2p/tcp'
import { brokenTcp } from './broken-listener.ts'
import type { TransportFactory } from './nodes.ts'

export type VariantName = 'rx' | 'libp2p-tcp' | 'broken'

export interface Subject {
  readonly name: VariantName
  readonly description: string
  /** builds the transport factory under test; `init` is passed through to `tcp(init)` */

  readonly tcp: (init?: any) => TransportFactory
}

/**
 * rx-tcp from `src/`. Loaded lazily so that a checkout in which `src/` does
 * not build yet still runs the other variants.
 */
export async function loadSubject (name: VariantName): Promise<Subject> {
  switch (name) {
    case 'rx': {
      const mod: { tcp?: (init?: unknown) => TransportFactory } = await import(new URL('../../src/index.ts', import.meta.url).href)
      if (typeof mod.tcp !== 'function') throw new Error('src/index.ts does not export tcp() yet')
      return { name, description: 'rx-tcp (src/)', tcp: mod.tcp }
    }
    case 'libp2p-tcp':
      return { name, description: '@libp2p/tcp 11.0.28 (reference)', tcp: (init) => referenceTcp(init) }
    case 'broken':
      return { name, description: 'a listener that tracks sockets only after their upgrade (js-libp2p #2760)', tcp: () => brokenTcp() }
    default:
      throw new Error(`unknown variant ${String(name)}: expected rx, libp2p-tcp or broken`)
  }
}
