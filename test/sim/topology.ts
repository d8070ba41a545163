/** What the nodes of a simulation see of each other, asked of every host. */
import { median } from '../../bench/stats.ts'
import type { HostProcess } from './hosts.ts'

const now = (): number => performance.timeOrigin + performance.now()
const tick = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

export interface Topology { connections: number, mesh: number, subscribers: number, routingTable: number, line: string }

/** what the nodes see of each other: medians over all nodes, and the hosts' event-loop delay */
export async function topology (hosts: HostProcess[]): Promise<Topology> {
  const replies = await Promise.all(hosts.map(async h => h.request({ op: 'stats' }, 10_000).catch(() => undefined)))
  const rows = replies.flatMap(r => (r?.nodes ?? []) as number[][])
  const med = (i: number): number => median(rows.map(r => r[i]))
  const t = { connections: med(0), mesh: med(1), subscribers: med(2), routingTable: med(3) }
  return { ...t, line: `  per node (median): connections ${t.connections}, gossipsub mesh ${t.mesh}, topic subscribers known ${t.subscribers}, DHT routing table ${t.routingTable}; event-loop delay p99 by host ${replies.map(r => r != null ? Math.round(r.loopDelayP99Ms) : '?').join('/')} ms` }
}

/**
 * Waits until the median node has a gossipsub mesh of at least Dlo (4) and
 * at least 5 peers in its DHT routing table (fewer in a network too small
 * for that), for at most 90 s; the load starts either way, and the summary
 * says whether it had formed.
 */
export async function waitFormed (hosts: HostProcess[], nodes: number, say: (line: string) => void): Promise<boolean> {
  const deadline = now() + 90_000
  const want = { mesh: Math.min(4, nodes - 1), routingTable: Math.min(5, nodes - 1) }
  let last = now()
  while (true) {
    const t = await topology(hosts)
    if (t.mesh >= want.mesh && t.routingTable >= want.routingTable) { say(`network formed:${t.line}`); return true }
    if (now() > deadline) { say(`network NOT formed after 90 s (want mesh ${want.mesh}, routing table ${want.routingTable}):${t.line}`); return false }
    if (now() - last > 10_000) { say(`still forming:${t.line}`); last = now() }
    await tick(1_000)
  }
}
