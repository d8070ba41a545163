/** The chart of `npm run runtimes` (SVG), drawn from the JSON that run.ts writes, in the bench's manner. */
import { esc, num } from '../../bench/chart.ts'
import { TRANSPORT_NAMES } from './node.ts'
import type { ChurnReport, ChurnRun } from './report.ts'

interface Figure { label: string, unit: string, better: 'higher' | 'lower', value: (r: ChurnRun) => number }

const FIGURES: Figure[] = [
  { label: 'operations', unit: 'count', better: 'higher', value: r => r.result?.operations.total ?? Number.NaN },
  { label: 'uncaught + unhandled', unit: 'errors', better: 'lower', value: r => r.result?.uncaught.total ?? Number.NaN },
  { label: 'node stop() p50', unit: 'ms', better: 'lower', value: r => r.result?.stopMs.p50 ?? Number.NaN },
  { label: 'node stop() max', unit: 'ms', better: 'lower', value: r => r.result?.stopMs.max ?? Number.NaN },
  { label: 'handles left after the last stop()', unit: 'handles', better: 'lower', value: r => r.result?.handles.left ?? Number.NaN },
  { label: 'process exit after the last stop()', unit: 'ms', better: 'lower', value: r => r.exitMs ?? Number.NaN }
]

const COLORS = { rx: '#7b1fa2', ref: '#607d8b' }
const [WIDTH, LABEL_W, RUNTIME_W, BAR_W, BAR_H, BAR_GAP, ROW_PAD] = [1000, 250, 120, 500, 11, 2, 12]

/** one block per figure, each on its own scale; in it one pair of bars (rx-tcp, @libp2p/tcp) per runtime */
export function renderChurnChart (report: ChurnReport): string {
  const parts: string[] = []
  const runtimes = [...new Set(report.runs.map(r => r.runtime))]
  let y = 72
  for (const f of FIGURES) {
    const values = report.runs.map(r => f.value(r))
    const max = Math.max(...values.map(v => Number.isFinite(v) ? v : 0), 1e-9)
    parts.push(`<text x="10" y="${y + 11}" class="label">${esc(f.label)}</text>`)
    parts.push(`<text x="10" y="${y + 25}" class="small">${esc(`${f.unit}, ${f.better} is better`)}</text>`)
    let by = y
    for (const runtime of runtimes) {
      const runs = report.runs.filter(r => r.runtime === runtime)
      parts.push(`<text x="${LABEL_W}" y="${by + BAR_H - 1}" class="small">${esc(runtime)}</text>`)
      for (const r of runs) {
        const v = f.value(r)
        const w = Number.isFinite(v) ? Math.max(1, (v / max) * BAR_W) : 0
        const x = LABEL_W + RUNTIME_W
        parts.push(`<rect x="${x}" y="${by}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${COLORS[r.transport]}"><title>${esc(`${runtime} ${TRANSPORT_NAMES[r.transport]}: ${num(v)} ${f.unit}`)}</title></rect>`)
        parts.push(`<text x="${x + w + 4}" y="${by + BAR_H - 1}" class="value">${esc(Number.isFinite(v) ? num(v) : r.error ?? '—')}</text>`)
        by += BAR_H + BAR_GAP
      }
      by += 4
    }
    const rowH = Math.max(30, by - y) + ROW_PAD
    parts.push(`<line x1="10" x2="${WIDTH - 10}" y1="${y + rowH - 6}" y2="${y + rowH - 6}" stroke="#eceff1"/>`)
    y += rowH
  }
  const legend = (['rx', 'ref'] as const).map((t, i) => `<rect x="${10 + i * 220}" y="46" width="12" height="12" fill="${COLORS[t]}"/><text x="${28 + i * 220}" y="56" class="small">${esc(TRANSPORT_NAMES[t])}</text>`).join('')
  const p = report.params
  const title = `churn: ${p.nodes} nodes, ${p.seconds} s per runtime and transport, seed ${p.seed} — ${report.verdict.pass ? 'PASS' : 'FAIL'}`
  const versions = report.runs.filter(r => r.transport === report.runs[0]?.transport).map(r => `${r.runtime} ${r.version}`).join(', ')
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y + 10}" viewBox="0 0 ${WIDTH} ${y + 10}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">`,
    '<style>.label{font-size:13px;fill:#263238}.small{font-size:11px;fill:#546e7a}.value{font-size:11px;fill:#263238}</style>',
    '<rect width="100%" height="100%" fill="#ffffff"/>',
    `<text x="10" y="20" class="label" font-weight="600">${esc(title)}</text>`,
    `<text x="10" y="36" class="small">${esc(`${versions}; ${report.machine.cpus} CPUs, ${p.parallel} children at a time; ${report.date.slice(0, 16).replace('T', ' ')} UTC`)}</text>`,
    legend,
    ...parts,
    '</svg>',
    ''
  ].join('\n')
}
