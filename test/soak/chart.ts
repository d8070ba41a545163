import { esc } from '../../bench/chart.ts'
import type { SoakResult } from './soak.ts'

const COLORS = { rx: '#7b1fa2', ref: '#607d8b' }
const NAMES = { rx: 'rx-tcp', ref: '@libp2p/tcp' }
const WIDTH = 1040
const PLOT_X = 70
const PLOT_W = WIDTH - PLOT_X - 30
const PLOT_H = 220
const MiB = 2 ** 20

/** a round step for about five ticks between 0 and `max` */
function tickStep (max: number): number {
  const raw = max / 5
  const mag = 10 ** Math.floor(Math.log10(raw))
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw
}

interface Panel {
  title: string
  unit: string
  /** the y axis starts near the lowest value instead of at 0, so that a slow trend shows */
  zoom?: boolean
  value: (s: SoakResult['samples'][number]) => number
}

/**
 * One panel per measure (heap after GC, open descriptors), minutes on the x
 * axis, a line per transport through its samples under load, a dot at each
 * quiet point, and the warm-up shaded.
 */
export function renderSoakChart (runs: SoakResult[]): string {
  const panels: Panel[] = [
    { title: 'heap used after a forced GC', unit: 'MiB', value: (s) => s.heapUsed / MiB, zoom: true },
    { title: 'open file descriptors (/proc/self/fd)', unit: 'fds', value: (s) => s.fds },
    { title: 'RSS', unit: 'MiB', value: (s) => s.rss / MiB }
  ]
  const maxT = Math.max(1, ...runs.flatMap((r) => r.samples.map((s) => s.t / 60)), ...runs.map((r) => r.params.durationMs / 60_000))
  const x = (minutes: number): number => PLOT_X + (minutes / maxT) * PLOT_W
  const parts: string[] = []
  let y = 100
  for (const panel of panels) {
    const all = runs.flatMap((r) => [...r.samples, ...r.quietPoints.map((q) => q.sample)].map(panel.value))
    const low = Math.min(...all)
    const high = Math.max(1, ...all)
    const floor = panel.zoom === true ? Math.max(0, low - (high - low) * 0.5) : 0
    const step = tickStep((high - floor) * 1.1)
    const ymin = Math.floor(floor / step) * step
    const ymax = Math.ceil((floor + (high - floor) * 1.1) / step) * step
    const py = (v: number): number => y + PLOT_H - ((v - ymin) / (ymax - ymin)) * PLOT_H
    parts.push(`<text x="${PLOT_X}" y="${y - 8}" class="label">${esc(`${panel.title} (${panel.unit}${panel.zoom === true ? ', axis not from 0' : ''})`)}</text>`)
    const warm = Math.max(...runs.map((r) => r.params.warmupMs / 60_000))
    parts.push(`<rect x="${PLOT_X}" y="${y}" width="${(x(warm) - PLOT_X).toFixed(1)}" height="${PLOT_H}" fill="#f5f5f5"/>`)
    parts.push(`<text x="${PLOT_X + 4}" y="${y + 12}" class="small">warm-up</text>`)
    for (let v = ymin; v <= ymax + 1e-9; v += step) {
      parts.push(`<line x1="${PLOT_X}" x2="${PLOT_X + PLOT_W}" y1="${py(v).toFixed(1)}" y2="${py(v).toFixed(1)}" stroke="#eceff1"/>`)
      parts.push(`<text x="${PLOT_X - 6}" y="${(py(v) + 4).toFixed(1)}" class="small" text-anchor="end">${esc(Number(v.toFixed(2)).toString())}</text>`)
    }
    const xstep = tickStep(maxT)
    for (let m = 0; m <= maxT + 1e-9; m += xstep) {
      parts.push(`<text x="${x(m).toFixed(1)}" y="${y + PLOT_H + 14}" class="small" text-anchor="middle">${esc(`${Number(m.toFixed(1))} min`)}</text>`)
    }
    for (const r of runs) {
      const points = r.samples.map((s) => `${x(s.t / 60).toFixed(1)},${py(panel.value(s)).toFixed(1)}`).join(' ')
      parts.push(`<polyline points="${points}" fill="none" stroke="${COLORS[r.transport]}" stroke-width="1.5"/>`)
      for (const q of r.quietPoints) {
        parts.push(`<circle cx="${x(q.t / 60).toFixed(1)}" cy="${py(panel.value(q.sample)).toFixed(1)}" r="3.5" fill="#ffffff" stroke="${COLORS[r.transport]}" stroke-width="2"><title>${esc(`${NAMES[r.transport]} quiet point at ${q.t} s: ${panel.value(q.sample).toFixed(1)} ${panel.unit}`)}</title></circle>`)
      }
    }
    parts.push(`<rect x="${PLOT_X}" y="${y}" width="${PLOT_W}" height="${PLOT_H}" fill="none" stroke="#b0bec5"/>`)
    y += PLOT_H + 60
  }
  const legend = runs.map((r, i) => {
    const verdict = `${r.pass ? 'PASS' : 'FAIL'}: heap trend ${r.heap.trendPctPer10Min.toFixed(2)} %/10 min${r.heap.judged ? '' : ' (not judged)'}, ${r.quietPoints.filter((q) => q.atBaseline).length}/${r.quietPoints.length} quiet points at baseline, ${r.uncaught.node} uncaught`
    return `<rect x="10" y="${44 + i * 16}" width="12" height="12" fill="${COLORS[r.transport]}"/><text x="28" y="${54 + i * 16}" class="small">${esc(`${NAMES[r.transport]} (${(r.date).slice(0, 16).replace('T', ' ')} UTC, seed ${r.seed}) — ${verdict}`)}</text>`
  }).join('')
  const first = runs[0]
  const minutes = Math.max(...runs.map((r) => r.params.durationMs / 60_000))
  const title = `soak: one libp2p node under churn for ${Number(minutes.toFixed(1))} min — ${runs.map((r) => NAMES[r.transport]).join(' vs ')}`
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y - 20}" viewBox="0 0 ${WIDTH} ${y - 20}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">`,
    '<style>.label{font-size:13px;fill:#263238}.small{font-size:11px;fill:#546e7a}</style>',
    '<rect width="100%" height="100%" fill="#ffffff"/>',
    `<text x="10" y="20" class="label" font-weight="600">${esc(title)}</text>`,
    `<text x="10" y="36" class="small">${esc(`Node ${first?.node ?? ''}; lines: samples under load every ${(first?.params.sampleEveryMs ?? 0) / 1000} s; circles: quiet points (load paused, connections closed)`)}</text>`,
    legend,
    ...parts,
    '</svg>',
    ''
  ].join('\n')
}
