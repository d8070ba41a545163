/** An SVG of a pipelines run, drawn from its JSON summary: runs per operator (served, closed visibly, failed), and the cumulative runs over time. */
import { esc } from '../../bench/chart.ts'
import { timelineSvg } from '../fixtures/timed-run.ts'
import type { TimelinePoint } from '../fixtures/timed-run.ts'

export interface StageStats { runs: number, served: number, closed: number, failed: number }

export interface PipelinesSummary {
  date: string
  seed: number
  durationMs: number
  runs: number
  failures: unknown[]
  byOperator: Record<string, StageStats>
  timeline: TimelinePoint[]
}

/** the chart as SVG text */
export function pipelinesChart (summary: PipelinesSummary): string {
  const width = 820
  const names = Object.keys(summary.byOperator).sort()
  const maxRuns = Math.max(1, ...names.map((name) => summary.byOperator[name].runs))
  const bar = (x: number, y: number, n: number, color: string): string => {
    const w = Math.round((n / maxRuns) * 380)
    return w > 0 ? `<rect x="${x}" y="${y}" width="${w}" height="14" fill="${color}"/>` : ''
  }
  const rows = names.map((name, i) => {
    const { runs, served, closed, failed } = summary.byOperator[name]
    const y = 50 + i * 20
    const ws = Math.round((served / maxRuns) * 380)
    const wc = Math.round((closed / maxRuns) * 380)
    return `<text x="10" y="${y + 11}" font-size="11">${esc(name)}</text>` +
      bar(190, y, served, '#2e7d32') + bar(190 + ws, y, closed, '#1565c0') + bar(190 + ws + wc, y, failed, '#c62828') +
      `<text x="${200 + Math.round((runs / maxRuns) * 380)}" y="${y + 11}" font-size="11">${runs} runs: ${served} served, ${closed} closed${failed > 0 ? `, ${failed} FAILED` : ''}</text>`
  }).join('\n')
  const top = 70 + names.length * 20
  const height = 140
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${top + height + 40}" font-family="sans-serif">
<text x="10" y="22" font-size="14">pipelines ${esc(summary.date)}: seed ${summary.seed}, ${summary.runs} pipelines in ${(summary.durationMs / 1_000).toFixed(1)} s, ${summary.failures.length === 0 ? 'contract held' : `${summary.failures.length} broke it`}</text>
<text x="10" y="40" font-size="11">pipelines holding each operator: <tspan fill="#2e7d32">served the peer</tspan>, <tspan fill="#1565c0">closed visibly</tspan>, <tspan fill="#c62828">broke the contract</tspan></text>
${rows}
${timelineSvg(summary.timeline, { left: 190, top, width: 560, height }, 'pipelines')}
</svg>
`
}
