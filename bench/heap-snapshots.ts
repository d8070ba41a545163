// npx tsx bench/heap-snapshots.ts rx|ref [dialers] [per-dialer] [rx-tcp entry]
// Heap snapshots before and after opening idle noise + yamux connections
// (both ends in this process), into bench/results/heap-<rx|ref>-{before,after}.heapsnapshot.
// Compare them with bench/heap-diff.ts.
import { writeHeapSnapshot } from 'node:v8'
import { fileURLToPath } from 'node:url'
import { fullGc } from './gc.ts'
import { createNode, stopAll } from './nodes.ts'
import { loadSubjects } from './subjects.ts'

const [key = 'rx', dialersText = '20', perDialerText = '10', rxEntry] = process.argv.slice(2)
const subjects = await loadSubjects(false, rxEntry)
const subject = key === 'ref' ? subjects.ref : subjects.rx
const server = await createNode(subject, { encryption: 'noise', listen: true })
const dialers = await Promise.all(Array.from({ length: Number(dialersText) }, async () => createNode(subject, { encryption: 'noise', listen: false })))
const addr = server.getMultiaddrs()[0]
const open = async (perDialer: number): Promise<void> => {
  await Promise.all(dialers.map(async (d) => {
    for (let i = 0; i < perDialer; i++) await d.dial(addr, { force: true, signal: AbortSignal.timeout(20_000) })
  }))
}
const snapshot = async (when: string): Promise<void> => {
  // let handshake timers and promises finish before collecting
  await new Promise((resolve) => setTimeout(resolve, 300))
  await fullGc()
  const file = fileURLToPath(new URL(`results/heap-${key}-${when}.heapsnapshot`, import.meta.url))
  writeHeapSnapshot(file)
  console.error(`wrote ${file}`)
}
try {
  await open(1)
  await snapshot('before')
  await open(Number(perDialerText))
  await snapshot('after')
  console.error(`${Number(dialersText) * Number(perDialerText)} connections between the snapshots`)
} finally {
  await stopAll([...dialers, server])
}
