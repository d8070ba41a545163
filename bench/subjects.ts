import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { tcp as refTcp } from '@libp2p/tcp'
import type { ComponentLogger, Metrics, Transport } from '@libp2p/interface'

/** What a transport factory needs from libp2p's components. */
export interface TransportComponents {
  logger: ComponentLogger
  metrics?: Metrics
}

export type TransportFactory = (components: TransportComponents) => Transport

/** One side of the comparison: a name and the `tcp()` of that package. */
export interface Subject {
  /** short key used in the JSON: 'rx' or 'ref' */
  key: 'rx' | 'ref'
  name: string
  tcp: (init?: Record<string, unknown>) => TransportFactory
}

export const reference: Subject = {
  key: 'ref',
  name: '@libp2p/tcp',
  tcp: refTcp as Subject['tcp']
}

/**
 * Loads rx-tcp from src/. With `aa` (or while src/index.ts does not exist yet)
 * both sides are `@libp2p/tcp`, which measures the harness's own noise.
 * `rxEntry` measures another copy of rx-tcp instead (an experiment on src/).
 */
export async function loadSubjects (aa: boolean, rxEntry?: string, refEntry?: string): Promise<{ rx: Subject, ref: Subject, aa: boolean }> {
  if (refEntry != null) {
    // an experiment: two copies of rx-tcp head to head, the second in the reference's seat
    const { rx } = await loadSubjects(false, rxEntry)
    const { rx: other } = await loadSubjects(false, refEntry)
    return { rx, ref: { ...other, key: 'ref' }, aa: false }
  }
  const entry = rxEntry != null ? resolve(rxEntry) : fileURLToPath(new URL('../src/index.ts', import.meta.url))
  if (aa || !existsSync(entry)) {
    return { rx: { ...reference, key: 'rx', name: '@libp2p/tcp (A/A)' }, ref: reference, aa: true }
  }
  // a computed specifier keeps the bench type-checking before src/ exists
  const mod = await import(entry) as { tcp?: Subject['tcp'] }
  if (typeof mod.tcp !== 'function') {
    throw new Error(`${entry} does not export tcp()`)
  }
  return { rx: { key: 'rx', name: rxEntry != null ? `rx-tcp (${rxEntry})` : 'rx-tcp', tcp: mod.tcp }, ref: reference, aa: false }
}
