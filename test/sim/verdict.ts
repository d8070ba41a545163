/** The simulation's table and its PASS/FAIL, from the summaries of its modes. */
import type { SimMode } from './scenario.ts'
import type { ModeSummary } from './summary.ts'

const NAMES: Record<SimMode, string> = { rx: 'rx-tcp', ref: '@libp2p/tcp', mixed: 'mixed' }
const pct = (r: number): string => Number.isFinite(r) ? `${(r * 100).toFixed(2)} %` : '—'
const ms = (v: number): string => `${v.toFixed(v >= 100 ? 0 : 1)} ms`

/** one row per figure, one column per mode */
export function tableRows (summaries: ModeSummary[]): Array<[string, ...string[]]> {
  const row = (label: string, f: (s: ModeSummary) => string): [string, ...string[]] => [label, ...summaries.map(f)]
  return [
    row('mode', s => NAMES[s.mode]),
    row('nodes started (rx / ref), churned', s => `${s.nodesStarted.rx} / ${s.nodesStarted.ref}, ${s.churned}`),
    row('nodes alone 20 s after start', s => String(s.isolated)),
    row('network formed before load', s => `${s.formed.ok ? 'yes' : 'NO'}, ${(s.formed.ms / 1000).toFixed(1)} s`),
    row('gossipsub delivery', s => `${pct(s.gossip.ratio)} (${s.gossip.delivered}/${s.gossip.expected})`),
    row('  by receiver rx / ref', s => `${pct(s.gossip.ratioByReceiver.rx ?? Number.NaN)} / ${pct(s.gossip.ratioByReceiver.ref ?? Number.NaN)}`),
    row('gossipsub latency p50 / p99', s => `${ms(s.gossip.latencyMs.p50)} / ${ms(s.gossip.latencyMs.p99)}`),
    row('messages published', s => String(s.gossip.published)),
    row('DHT put ok', s => `${pct(s.dht.put.ratio)} (${s.dht.put.ok}/${s.dht.put.ok + s.dht.put.failed})`),
    row('DHT get ok', s => `${pct(s.dht.get.ratio)} (${s.dht.get.ok}/${s.dht.get.ok + s.dht.get.failed})`),
    row('ping ok', s => `${pct(s.ping.ratio)} (${s.ping.ok}/${s.ping.ok + s.ping.failed})`),
    row('ping RTT p50 / p99', s => `${ms(s.ping.rttMs.p50)} / ${ms(s.ping.rttMs.p99)}`),
    row('dials aborted / done first / failed', s => `${s.abortedDials.aborted} / ${s.abortedDials.completed} / ${s.abortedDials.failed}`),
    row('stop() p50 / p99 / max', s => `${ms(s.stopMs.p50)} / ${ms(s.stopMs.p99)} / ${ms(s.stopMs.max)}`),
    row('stop() p99 rx / ref', s => `${s.stopMsByTransport.rx != null ? ms(s.stopMsByTransport.rx.p99) : '—'} / ${s.stopMsByTransport.ref != null ? ms(s.stopMsByTransport.ref.p99) : '—'}`),
    row('TCP handles left', s => String(s.handlesLeft)),
    row('uncaught / unhandled', s => `${s.uncaught} / ${s.unhandled}`),
    row('host event-loop delay p99 (max)', s => s.hostLoad.map(h => `${h.loopDelayP99Ms}`).join('/') + ` ms (${Math.max(...s.hostLoad.map(h => h.loopDelayMaxMs))} ms)`),
    row('host CPU seconds', s => s.hostLoad.map(h => h.cpuSeconds).join('/')),
    row('machine load average (1 min)', s => String(s.loadAverage)),
    row('packets dropped by the loss rules', s => s.network.droppedPackets != null ? String(s.network.droppedPackets) : '—'),
    row('duration', s => `${(s.durationMs / 1000).toFixed(0)} s`)
  ]
}

export function formatTable (summaries: ModeSummary[]): string {
  const rows = tableRows(summaries)
  const widths = rows[0].map((_, i) => Math.max(...rows.map(r => r[i].length)))
  return rows.map(r => r.map((c, i) => c.padEnd(widths[i])).join(' │ ').trimEnd()).join('\n')
}

export interface Verdict {
  pass: boolean
  /** why it failed, one line each */
  reasons: string[]
  /** the figures of the final line */
  line: string
}

/**
 * Two standard errors of the difference of two success ratios: a run makes
 * some 15 to 30 DHT puts and as many gets per mode, and a gap smaller than
 * this is what chance alone gives (about 25 points at 20 operations each).
 */
export function twoStandardErrors (a: { ok: number, failed: number }, b: { ok: number, failed: number }): number {
  const na = a.ok + a.failed
  const nb = b.ok + b.failed
  if (na === 0 || nb === 0) return 1
  const p = (a.ok + b.ok) / (na + nb)
  return 2 * Math.sqrt(p * (1 - p) * (1 / na + 1 / nb))
}

/**
 * PASS: no uncaught exception or unhandled rejection and no TCP handle left
 * in any mode, every node started and stopped, and rx-tcp's gossipsub
 * delivery and DHT put and get success not below `@libp2p/tcp`'s on the same
 * seed by more than `tolerance` (a fraction; for the DHT at least two
 * standard errors of the difference).
 */
export function verdict (summaries: ModeSummary[], tolerance: number): Verdict {
  const reasons: string[] = []
  for (const s of summaries) {
    const name = NAMES[s.mode]
    if (s.uncaught + s.unhandled > 0) reasons.push(`${name}: ${s.uncaught} uncaught exceptions, ${s.unhandled} unhandled rejections`)
    if (s.handlesLeft > 0) reasons.push(`${name}: ${s.handlesLeft} TCP handles left after every node stopped: ${s.handlesByHost.flat().slice(0, 5).join(', ')}`)
    if (s.hostErrors.length > 0) reasons.push(`${name}: ${s.hostErrors.length} node starts or stops failed: ${s.hostErrors[0]}`)
    if (!(s.gossip.expected > 0)) reasons.push(`${name}: no message was expected anywhere: the run measured nothing`)
  }
  const rx = summaries.find(s => s.mode === 'rx')
  const ref = summaries.find(s => s.mode === 'ref')
  const figures: string[] = []
  if (rx != null && ref != null) {
    const compare = (label: string, a: number, b: number, allowed: number): void => {
      figures.push(`${label} ${pct(a)} vs ${pct(b)}`)
      // a side that made no operation that could be judged (no get without a
      // stored key) gives nothing to compare; the step before it is compared
      if (Number.isNaN(a) || Number.isNaN(b)) return
      if (!(a >= b - allowed)) reasons.push(`rx-tcp's ${label} ${pct(a)} is below @libp2p/tcp's ${pct(b)} by more than ${pct(allowed)}`)
    }
    compare('delivery', rx.gossip.ratio, ref.gossip.ratio, tolerance)
    compare('DHT put', rx.dht.put.ratio, ref.dht.put.ratio, Math.max(tolerance, twoStandardErrors(rx.dht.put, ref.dht.put)))
    compare('DHT get', rx.dht.get.ratio, ref.dht.get.ratio, Math.max(tolerance, twoStandardErrors(rx.dht.get, ref.dht.get)))
    figures.push(`stop p99 ${ms(rx.stopMs.p99)} vs ${ms(ref.stopMs.p99)}`)
  } else {
    for (const s of summaries) figures.push(`${NAMES[s.mode]} delivery ${pct(s.gossip.ratio)}, DHT put ${pct(s.dht.put.ratio)} get ${pct(s.dht.get.ratio)}`)
  }
  const mixed = summaries.find(s => s.mode === 'mixed')
  if (mixed != null) figures.push(`mixed delivery ${pct(mixed.gossip.ratio)}`)
  figures.push(`handles left ${summaries.map(s => s.handlesLeft).join('/')}, uncaught ${summaries.map(s => s.uncaught + s.unhandled).join('/')} (${summaries.map(s => NAMES[s.mode]).join('/')})`)
  return { pass: reasons.length === 0, reasons, line: `(rx-tcp vs @libp2p/tcp) ${figures.join('; ')}` }
}
