// Child process of the listener-side memory figure, and of the listener-side
// heap snapshots: a fresh process that only listens (noise + yamux) and holds
// the inbound connections its parent dials with @libp2p/tcp.
// args: rx|ref, 'aa' for an A/A run or '', rx-tcp entry file or '', reference entry file or '',
//       a snapshot name prefix or '' (then heap snapshots are written at both points too)
// IPC: sends { type: 'listening', addr }; on { type: 'measure', expect } waits for
// exactly `expect` inbound connections open, collects, and replies { type: 'heap', heapUsed, rss }.
import { writeHeapSnapshot } from 'node:v8'
import { fileURLToPath } from 'node:url'
import { fullGc } from './gc.ts'
import { createNode } from './nodes.ts'
import { until } from './stats.ts'
import { loadSubjects } from './subjects.ts'

export type ListenerChildReport =
  | { type: 'listening', addr: string }
  | { type: 'heap', heapUsed: number, rss: number }
  | { type: 'error', error: string }

export interface MeasureRequest { type: 'measure', expect: number, label: string }

const [key, aa, rxEntry, refEntry, snapshotPrefix] = process.argv.slice(2)
const send = (msg: ListenerChildReport): void => { process.send?.(msg) }

try {
  const subjects = await loadSubjects(aa === 'aa', rxEntry === '' ? undefined : rxEntry, refEntry === '' ? undefined : refEntry)
  const subject = key === 'rx' ? subjects.rx : subjects.ref
  const server = await createNode(subject, { encryption: 'noise', listen: true })
  // the inbound connections open now: a warm-up's close takes them back down
  let inbound = 0
  server.addEventListener('connection:open', (evt) => {
    if (evt.detail.direction === 'inbound') inbound++
  })
  server.addEventListener('connection:close', (evt) => {
    if (evt.detail.direction === 'inbound') inbound--
  })
  process.on('message', (msg: MeasureRequest | 'exit') => {
    if (msg === 'exit') {
      void Promise.resolve(server.stop()).finally(() => { process.disconnect() })
      return
    }
    void (async () => {
      await until(20_000, () => `${msg.expect} inbound connections on the listener (${inbound} so far)`, () => inbound === msg.expect)
      // let the handshakes' timers and promises finish before collecting
      await new Promise((resolve) => setTimeout(resolve, 200))
      await fullGc()
      if (snapshotPrefix != null && snapshotPrefix !== '') {
        const file = fileURLToPath(new URL(`results/${snapshotPrefix}-${msg.label}.heapsnapshot`, import.meta.url))
        writeHeapSnapshot(file)
        console.error(`wrote ${file}`)
        await fullGc()
      }
      const { heapUsed, rss } = process.memoryUsage()
      send({ type: 'heap', heapUsed, rss })
    })().catch((err: Error) => { send({ type: 'error', error: err.stack ?? String(err) }) })
  })
  send({ type: 'listening', addr: server.getMultiaddrs()[0].toString() })
} catch (err) {
  send({ type: 'error', error: (err as Error).stack ?? String(err) })
  process.disconnect()
}
// bounded: never outlives its parent by more than two minutes
setTimeout(() => { process.exit(1) }, 120_000).unref()
process.on('disconnect', () => { process.exit(0) })
