/** The figures of one mode of the simulation, from what the parent and the hosts recorded. */
import { loadavg } from 'node:os'
import { latency } from '../chaos/harness.ts'
import type { LatencySummary } from '../chaos/harness.ts'
import type { SimNetwork } from './network.ts'
import type { SimTransport } from './node.ts'
import type { OpRecord, RunState, ScenarioOptions, SimMode } from './scenario.ts'

export interface Outcome { ok: number, failed: number, interrupted: number, ratio: number }

export interface ModeSummary {
  mode: SimMode
  seed: number
  network: { kind: SimNetwork['kind'], shaping: string, hosts: number, droppedPackets?: number }
  /** nodes started in all, by transport, initial ones and churn's newcomers */
  nodesStarted: Record<SimTransport, number>
  churned: number
  /** nodes with no connection 20 s after their start (their bootstrap dials all failed) */
  isolated: number
  /** whether the network formed (median mesh ≥ 4, routing table ≥ 5) before the load, and in how long */
  formed: { ok: boolean, ms: number }
  /** the machine's 1-minute load average when the mode ended: other work on it shows here */
  loadAverage: number
  gossip: {
    published: number
    /** (message, node) pairs where the node ran from `settleMs` before the message to `graceMs` after it */
    expected: number
    delivered: number
    ratio: number
    /** delivery ratio by the receiving node's transport */
    ratioByReceiver: Partial<Record<SimTransport, number>>
    latencyMs: LatencySummary
  }
  dht: { put: Outcome, get: Outcome }
  ping: Outcome & { rttMs: LatencySummary }
  /** dials given a 2–40 ms signal: aborted by it, done before it, or failed otherwise */
  abortedDials: { aborted: number, completed: number, failed: number }
  stopMs: LatencySummary
  stopMsByTransport: Partial<Record<SimTransport, LatencySummary>>
  /** TCP handles left in each host process after all its nodes stopped */
  handlesByHost: string[][]
  handlesLeft: number
  /** each host's event-loop delay (p99, max) and CPU seconds: how loaded the machine was */
  hostLoad: Array<{ loopDelayP99Ms: number, loopDelayMaxMs: number, cpuSeconds: number }>
  uncaught: number
  unhandled: number
  faults: string[]
  hostErrors: string[]
  /** the most frequent errors of failed operations, for diagnosis */
  topErrors: Array<{ kind: string, error: string, count: number }>
  durationMs: number
}

function outcome (ops: OpRecord[]): Outcome {
  const counted = ops.filter(o => !o.interrupted)
  const ok = counted.filter(o => o.ok).length
  return { ok, failed: counted.length - ok, interrupted: ops.length - counted.length, ratio: counted.length === 0 ? Number.NaN : ok / counted.length }
}

export function summarise (opts: ScenarioOptions, state: RunState, net: SimNetwork, durationMs: number, droppedBefore?: number): ModeSummary {
  const dropped = net.dropped()
  const received = new Map(state.nodes.map(n => [n.name, new Map(n.received ?? [])]))
  let expected = 0
  let delivered = 0
  const latencies: number[] = []
  const byReceiver: Record<string, { expected: number, delivered: number }> = {}
  for (const [id, m] of state.messages) {
    for (const n of state.nodes) {
      if (n.name === m.sender || n.readyAt == null || n.readyAt + opts.settleMs > m.t) continue
      if (n.stopAt != null && n.stopAt < m.t + opts.graceMs) continue
      expected++
      byReceiver[n.transport] ??= { expected: 0, delivered: 0 }
      byReceiver[n.transport].expected++
      const ms = received.get(n.name)?.get(id)
      if (ms == null) continue
      delivered++
      byReceiver[n.transport].delivered++
      latencies.push(ms)
    }
  }
  const ofKind = (kind: OpRecord['kind']): OpRecord[] => state.ops.filter(o => o.kind === kind)
  const pings = ofKind('ping')
  const aborts = ofKind('abort-dial')
  const stops = (t?: SimTransport): number[] => state.nodes.filter(n => n.stopMs != null && (t == null || n.transport === t)).map(n => n.stopMs as number)
  const started = { rx: 0, ref: 0 }
  for (const n of state.nodes) started[n.transport]++
  const errors = new Map<string, { kind: string, error: string, count: number }>()
  for (const o of state.ops) {
    if (o.ok || o.interrupted || o.error == null) continue
    const key = `${o.kind} ${o.error}`
    const e = errors.get(key) ?? { kind: o.kind, error: o.error, count: 0 }
    e.count++
    errors.set(key, e)
  }
  const handlesByHost = state.finish.map(f => f.handles)
  return {
    mode: opts.mode,
    seed: opts.seed,
    network: { kind: net.kind, shaping: net.shaping, hosts: net.hosts.length, droppedPackets: dropped != null ? dropped - (droppedBefore ?? 0) : undefined },
    nodesStarted: started,
    churned: state.churned,
    isolated: state.nodes.filter(n => n.joined === false).length,
    formed: { ok: state.formed === true, ms: Math.round(state.formMs ?? 0) },
    loadAverage: Math.round(loadavg()[0] * 10) / 10,
    gossip: {
      published: state.messages.size,
      expected,
      delivered,
      ratio: expected === 0 ? Number.NaN : delivered / expected,
      ratioByReceiver: Object.fromEntries(Object.entries(byReceiver).map(([t, c]) => [t, c.delivered / Math.max(1, c.expected)])),
      latencyMs: latency(latencies)
    },
    dht: { put: outcome(ofKind('put')), get: outcome(ofKind('get')) },
    ping: { ...outcome(pings), rttMs: latency(pings.filter(p => p.ok && p.value != null).map(p => p.value as number)) },
    abortedDials: { aborted: aborts.filter(a => a.ok).length, completed: aborts.filter(a => !a.ok && a.error == null).length, failed: aborts.filter(a => a.error != null && !a.interrupted).length },
    stopMs: latency(stops()),
    stopMsByTransport: Object.fromEntries((['rx', 'ref'] as const).filter(t => started[t] > 0).map(t => [t, latency(stops(t))])),
    handlesByHost,
    handlesLeft: handlesByHost.reduce((n, h) => n + h.length, 0),
    hostLoad: state.finish.map(f => ({ loopDelayP99Ms: Math.round(f.loopDelayMs.p99), loopDelayMaxMs: Math.round(f.loopDelayMs.max), cpuSeconds: Math.round(f.cpuSeconds) })),
    uncaught: state.finish.reduce((n, f) => n + f.uncaught, 0),
    unhandled: state.finish.reduce((n, f) => n + f.unhandled, 0),
    faults: state.finish.flatMap(f => f.faults).slice(0, 20),
    hostErrors: state.hostErrors,
    topErrors: [...errors.values()].sort((a, b) => b.count - a.count).slice(0, 8),
    durationMs: Math.round(durationMs)
  }
}
