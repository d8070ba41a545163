/** An SVG of a chaos run, drawn from its JSON summary: rounds per kind (failed ones in red), and the close latencies. */
import { esc } from '../../bench/chart.ts'
import type { ChaosSummary } from './harness.ts'

/** the chart as SVG text */
export function chaosChart (summary: ChaosSummary): string {
  const width = 760
  const kinds = Object.keys(summary.byKind)
  const most = Math.max(1, ...kinds.map((kind) => summary.byKind[kind].rounds))
  const bar = (rounds: number): number => Math.round((rounds / most) * 380)
  const rows = kinds.map((kind, i) => {
    const { rounds, failed } = summary.byKind[kind]
    const y = 50 + i * 24
    return `<text x="10" y="${y + 12}" font-size="12">${esc(kind)}</text>` +
      `<rect x="150" y="${y}" width="${bar(rounds - failed)}" height="16" fill="#2e7d32"/>` +
      `<rect x="${150 + bar(rounds - failed)}" y="${y}" width="${bar(failed)}" height="16" fill="#c62828"/>` +
      `<text x="${160 + bar(rounds)}" y="${y + 12}" font-size="12">${rounds} rounds${failed > 0 ? `, ${failed} failed` : ''}</text>`
  }).join('\n')
  const latencies = ([['listener close', summary.closeLatencyMs], ['close, all of it', summary.listenerCloseLatencyMs], ['dialer stop', summary.dialerStopLatencyMs]] as const)
    .map(([name, l], i) => `<text x="10" y="${80 + kinds.length * 24 + i * 20}" font-size="12">${esc(name)}: p50 ${l.p50} ms, p99 ${l.p99} ms, max ${l.max} ms over ${l.count}</text>`)
    .join('\n')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${150 + kinds.length * 24}" font-family="sans-serif">
<text x="10" y="22" font-size="14">chaos, ${esc(summary.description)}: seed ${summary.seed}, ${summary.roundsRun} rounds, ${summary.roundsFailed} failed (hangs ${summary.hangs}, leaks ${summary.leaks}, uncaught ${summary.uncaught}) in ${(summary.durationMs / 1_000).toFixed(1)} s</text>
${rows}
${latencies}
</svg>
`
}
