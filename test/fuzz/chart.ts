/** An SVG of a fuzz run, drawn from its JSON summary: runs per property, and the cumulative runs over time. */
import { esc } from '../../bench/chart.ts'
import { timelineSvg } from '../fixtures/timed-run.ts'
import type { TimelinePoint } from '../fixtures/timed-run.ts'

interface Summary {
  date: string
  seed: number
  durationMs: number
  totalRuns: number
  properties: Record<string, { runs: number, ms: number, failures: number }>
  failures: unknown[]
  timeline: TimelinePoint[]
}

/** the chart as SVG text */
export function fuzzChart (summary: Summary): string {
  const width = 760
  const names = Object.keys(summary.properties)
  const maxRuns = Math.max(1, ...names.map((name) => summary.properties[name].runs))
  const rows = names.map((name, i) => {
    const { runs, ms, failures } = summary.properties[name]
    const y = 50 + i * 24
    const w = Math.round((runs / maxRuns) * 380)
    const rate = ms > 0 ? `${Math.round(runs / (ms / 1_000))}/s` : ''
    return `<text x="10" y="${y + 12}" font-size="12">${esc(name)}</text>` +
      `<rect x="120" y="${y}" width="${w}" height="16" fill="${failures > 0 ? '#c62828' : '#7b1fa2'}"/>` +
      `<text x="${130 + w}" y="${y + 12}" font-size="12">${runs} runs, ${rate}${failures > 0 ? ', FAILED' : ''}</text>`
  }).join('\n')
  const top = 70 + names.length * 24
  const height = 160
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${top + height + 40}" font-family="sans-serif">
<text x="10" y="22" font-size="14">fuzz ${esc(summary.date)}: seed ${summary.seed}, ${summary.totalRuns} runs in ${(summary.durationMs / 1_000).toFixed(1)} s, ${summary.failures.length === 0 ? 'nothing found' : `${summary.failures.length} failure(s)`}</text>
${rows}
${timelineSvg(summary.timeline, { left: 120, top, width: 600, height }, 'runs')}
</svg>
`
}
