/** An SVG of a fuzz run, drawn from its JSON summary: runs per property, and the cumulative runs over time. */

interface Summary {
  date: string
  seed: number
  durationMs: number
  totalRuns: number
  properties: Record<string, { runs: number, ms: number, failures: number }>
  failures: unknown[]
  timeline: Array<{ seconds: number, runs: number }>
}

function esc (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
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
  const lastT = Math.max(1, summary.timeline.at(-1)?.seconds ?? 1)
  const lastR = Math.max(1, summary.timeline.at(-1)?.runs ?? 1)
  const points = [{ seconds: 0, runs: 0 }, ...summary.timeline].map(({ seconds, runs }) =>
    `${(120 + (seconds / lastT) * 600).toFixed(1)},${(top + height - (runs / lastR) * height).toFixed(1)}`).join(' ')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${top + height + 40}" font-family="sans-serif">
<text x="10" y="22" font-size="14">fuzz ${esc(summary.date)}: seed ${summary.seed}, ${summary.totalRuns} runs in ${(summary.durationMs / 1_000).toFixed(1)} s, ${summary.failures.length === 0 ? 'nothing found' : `${summary.failures.length} failure(s)`}</text>
${rows}
<polyline points="${points}" fill="none" stroke="#607d8b" stroke-width="2"/>
<line x1="120" y1="${top + height}" x2="720" y2="${top + height}" stroke="#999"/>
<text x="120" y="${top + height + 16}" font-size="11">0 s</text>
<text x="690" y="${top + height + 16}" font-size="11">${lastT.toFixed(0)} s</text>
<text x="10" y="${top + 10}" font-size="11">${lastR} runs</text>
<text x="10" y="${top + height}" font-size="11">cumulative</text>
</svg>
`
}
