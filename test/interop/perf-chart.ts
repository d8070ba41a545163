/**
 * The perf chart, drawn from the JSON `npm run interop -- --perf` writes, in
 * the bench's manner (bench/chart.ts: one row per figure with its own scale,
 * each bar labelled with its median) but with one bar per pair, since the
 * pairs here are more than two, and the spread (min–max) as a whisker.
 */
import { esc, num } from '../../bench/chart.ts'

export interface PerfFigure {
  label: string
  unit: string
  better: 'higher' | 'lower'
  /** pair name → median, min and max of its runs */
  values: Record<string, { median: number, min: number, max: number }>
}

export interface PerfChartInput {
  /** the chart's heading (default: the perf comparison's) */
  title?: string
  date: string
  node: string
  machine: string
  reps: number
  details: string
  pairs: Array<{ id: string, label: string }>
  figures: PerfFigure[]
}

const PALETTE = ['#00838f', '#ef6c00', '#7b1fa2', '#607d8b', '#9c27b0', '#90a4ae', '#2e7d32', '#a1887f', '#455a64', '#c0ca33']
const WIDTH = 1040
const LABEL_W = 300
const BAR_W = 560
const BAR_H = 12
const BAR_GAP = 3
const ROW_PAD = 20

export function renderPerfChart (input: PerfChartInput): string {
  const color = new Map(input.pairs.map((p, i) => [p.id, PALETTE[i % PALETTE.length]]))
  const parts: string[] = []
  let y = 64 + Math.ceil(input.pairs.length / 4) * 16
  for (const f of input.figures) {
    const bars = input.pairs.filter((p) => f.values[p.id] != null && Number.isFinite(f.values[p.id].median))
    const max = Math.max(...bars.map((p) => f.values[p.id].max), 1e-9)
    parts.push(`<text x="10" y="${y + 11}" class="label">${esc(f.label)}</text>`)
    parts.push(`<text x="10" y="${y + 26}" class="small">${esc(`${f.unit}, ${f.better} is better; whisker: min–max`)}</text>`)
    bars.forEach((p, i) => {
      const v = f.values[p.id]
      const by = y + i * (BAR_H + BAR_GAP)
      const w = Math.max(1, (v.median / max) * BAR_W)
      const x0 = LABEL_W + (v.min / max) * BAR_W
      const x1 = LABEL_W + (v.max / max) * BAR_W
      parts.push(`<text x="${LABEL_W - 6}" y="${by + BAR_H - 2}" class="small" text-anchor="end">${esc(p.label)}</text>`)
      parts.push(`<rect x="${LABEL_W}" y="${by}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${color.get(p.id) ?? '#999'}"><title>${esc(`${p.label}: ${num(v.median)} ${f.unit} (${num(v.min)}–${num(v.max)})`)}</title></rect>`)
      parts.push(`<line x1="${x0.toFixed(1)}" x2="${x1.toFixed(1)}" y1="${by + BAR_H / 2}" y2="${by + BAR_H / 2}" stroke="#263238" stroke-width="1"/>`)
      parts.push(`<text x="${Math.max(LABEL_W + w, x1) + 4}" y="${by + BAR_H - 2}" class="value">${esc(num(v.median))}</text>`)
    })
    const rowH = Math.max(34, bars.length * (BAR_H + BAR_GAP)) + ROW_PAD
    parts.push(`<line x1="10" x2="${WIDTH - 10}" y1="${y + rowH - 8}" y2="${y + rowH - 8}" stroke="#eceff1"/>`)
    y += rowH
  }
  const legend = input.pairs.map((p, i) => {
    const lx = 10 + (i % 4) * 255
    const ly = 44 + Math.floor(i / 4) * 16
    return `<rect x="${lx}" y="${ly}" width="12" height="12" fill="${color.get(p.id) ?? '#999'}"/><text x="${lx + 18}" y="${ly + 10}" class="small">${esc(p.label)}</text>`
  }).join('')
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y + 10}" viewBox="0 0 ${WIDTH} ${y + 10}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">`,
    '<style>.label{font-size:13px;fill:#263238}.small{font-size:11px;fill:#546e7a}.value{font-size:11px;fill:#263238}</style>',
    '<rect width="100%" height="100%" fill="#ffffff"/>',
    `<text x="10" y="20" class="label" font-weight="600">${esc(input.title ?? `/perf/1.0.0 over loopback, client → server — medians of ${input.reps} alternating runs`)}</text>`,
    `<text x="10" y="36" class="small">${esc(`${input.details} · Node ${input.node}, ${input.machine}, ${input.date.slice(0, 16).replace('T', ' ')} UTC`)}</text>`,
    legend,
    ...parts,
    '</svg>',
    ''
  ].join('\n')
}
