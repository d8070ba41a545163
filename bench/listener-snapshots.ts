// npx tsx bench/listener-snapshots.ts rx|ref [connections] [rx-tcp entry]
// Heap snapshots of a listener process (noise + yamux) before and after it
// accepts idle inbound connections dialed by @libp2p/tcp from this process,
// into bench/results/listener-<rx|ref>-{before,after}.heapsnapshot.
// Compare them with bench/heap-diff.ts (the listener's own heap only).
import { measureListenerMemory } from './figures/listener-memory.ts'

const [key = 'rx', connsText = '500', rxEntry] = process.argv.slice(2)
if (key !== 'rx' && key !== 'ref') throw new Error('first argument: rx or ref')
const sample = await measureListenerMemory({ key, idle: Number(connsText), rxEntry, snapshotPrefix: `listener-${key}` })
console.error(`${connsText} inbound connections between the snapshots; ${JSON.stringify(sample)}`)
console.error(`compare: npx tsx bench/heap-diff.ts bench/results/listener-${key}-before.heapsnapshot bench/results/listener-${key}-after.heapsnapshot ${connsText}`)
