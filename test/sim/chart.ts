/** The simulation's chart (SVG), drawn from the JSON that run.ts writes. */
import { esc, num } from '../../bench/chart.ts'
import type { SimMode } from './scenario.ts'
import type { ModeSummary } from './summary.ts'

export interface SimReport {
  date: string
  node: string
  params: { nodes: number, hosts: number, seconds: number, seed: number, impairment: { lossPercent: number, rate: string } }
  summaries: ModeSummary[]
  verdict: { pass: boolean, line: string }
}

interface Figure { label: string, unit: string, better: 'higher' | 'lower', value: (s: ModeSummary) => number }

const FIGURES: Figure[] = [
  { label: 'gossipsub delivery', unit: '%', better: 'higher', value: s => s.gossip.ratio * 100 },
  { label: 'gossipsub latency p50', unit: 'ms', better: 'lower', value: s => s.gossip.latencyMs.p50 },
  { label: 'gossipsub latency p99', unit: 'ms', better: 'lower', value: s => s.gossip.latencyMs.p99 },
  { label: 'DHT put success', unit: '%', better: 'higher', value: s => s.dht.put.ratio * 100 },
  { label: 'DHT get success', unit: '%', better: 'higher', value: s => s.dht.get.ratio * 100 },
  { label: 'ping RTT p50', unit: 'ms', better: 'lower', value: s => s.ping.rttMs.p50 },
  { label: 'ping RTT p99', unit: 'ms', better: 'lower', value: s => s.ping.rttMs.p99 },
  { label: 'node stop() p50', unit: 'ms', better: 'lower', value: s => s.stopMs.p50 },
  { label: 'node stop() p99', unit: 'ms', better: 'lower', value: s => s.stopMs.p99 },
  { label: 'node stop() max', unit: 'ms', better: 'lower', value: s => s.stopMs.max },
  { label: 'hosts\' event-loop delay p99, worst host', unit: 'ms', better: 'lower', value: s => Math.max(...s.hostLoad.map(h => h.loopDelayP99Ms)) },
  { label: 'TCP handles left', unit: 'handles', better: 'lower', value: s => s.handlesLeft },
  { label: 'uncaught + unhandled', unit: 'errors', better: 'lower', value: s => s.uncaught + s.unhandled }
]

const COLORS: Record<SimMode, string> = { rx: '#7b1fa2', ref: '#607d8b', mixed: '#26a69a' }
const NAMES: Record<SimMode, string> = { rx: 'all rx-tcp', ref: 'all @libp2p/tcp', mixed: 'mixed, half and half' }
const [WIDTH, LABEL_W, BAR_W, BAR_H, BAR_GAP, ROW_PAD] = [900, 260, 480, 12, 3, 12]

/** one row per figure, each on its own scale, one bar per mode labelled with its value */
export function renderSimChart (report: SimReport): string {
  const parts: string[] = []
  let y = 72
  for (const f of FIGURES) {
    const values = report.summaries.map(s => ({ mode: s.mode, value: f.value(s) }))
    const max = Math.max(...values.map(v => Number.isFinite(v.value) ? v.value : 0), 1e-9)
    parts.push(`<text x="10" y="${y + 11}" class="label">${esc(f.label)}</text>`)
    parts.push(`<text x="10" y="${y + 25}" class="small">${esc(`${f.unit}, ${f.better} is better`)}</text>`)
    values.forEach((v, i) => {
      const by = y + i * (BAR_H + BAR_GAP)
      const w = Number.isFinite(v.value) ? Math.max(1, (v.value / max) * BAR_W) : 0
      parts.push(`<rect x="${LABEL_W}" y="${by}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${COLORS[v.mode]}"><title>${esc(`${NAMES[v.mode]}: ${num(v.value)} ${f.unit}`)}</title></rect>`)
      parts.push(`<text x="${LABEL_W + w + 4}" y="${by + BAR_H - 2}" class="value">${esc(num(v.value))}</text>`)
    })
    const rowH = Math.max(30, values.length * (BAR_H + BAR_GAP)) + ROW_PAD
    parts.push(`<line x1="10" x2="${WIDTH - 10}" y1="${y + rowH - 6}" y2="${y + rowH - 6}" stroke="#eceff1"/>`)
    y += rowH
  }
  const legend = report.summaries.map((s, i) => `<rect x="${10 + i * 220}" y="46" width="12" height="12" fill="${COLORS[s.mode]}"/><text x="${28 + i * 220}" y="56" class="small">${esc(NAMES[s.mode])}</text>`).join('')
  const p = report.params
  const title = `libp2p simulation: ${p.nodes} nodes, ${p.hosts} hosts, ${p.seconds} s of load per mode, seed ${p.seed} — ${report.verdict.pass ? 'PASS' : 'FAIL'}`
  const network = report.summaries[0]?.network.shaping ?? ''
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y + 10}" viewBox="0 0 ${WIDTH} ${y + 10}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">`,
    '<style>.label{font-size:13px;fill:#263238}.small{font-size:11px;fill:#546e7a}.value{font-size:11px;fill:#263238}</style>',
    '<rect width="100%" height="100%" fill="#ffffff"/>',
    `<text x="10" y="20" class="label" font-weight="600">${esc(title)}</text>`,
    `<text x="10" y="36" class="small">${esc(`Node ${report.node}, ${report.date.slice(0, 16).replace('T', ' ')} UTC; ${network}`)}</text>`,
    legend,
    ...parts,
    '</svg>',
    ''
  ].join('\n')
}
