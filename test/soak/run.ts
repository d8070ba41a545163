// npm run soak -- [--minutes 30] [--transport rx|ref|both] [--seed N] [--workers 4] [--warmup-minutes 2] [--quiet-minutes 3] [--sample-seconds 10] [--heap-snapshots] [--chart]
// One libp2p node under churn in a process of its own; default: rx-tcp and @libp2p/tcp side by side.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { randomSeed } from '../chaos/random.ts'
import { renderSoakChart } from './chart.ts'
import { runSoak } from './soak.ts'
import type { SoakResult } from './soak.ts'

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    transport: { type: 'string', default: 'both' },
    seed: { type: 'string' },
    workers: { type: 'string', default: '4' },
    'warmup-minutes': { type: 'string', default: '2' },
    'quiet-minutes': { type: 'string', default: '3' },
    'sample-seconds': { type: 'string', default: '10' },
    chart: { type: 'boolean', default: false },
    'heap-snapshots': { type: 'boolean', default: false }
  }
})

const RESULTS = fileURLToPath(new URL('results/', import.meta.url))
const MiB = 2 ** 20
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`

/** redraws the chart from whichever of results/rx.json and results/ref.json exist */
function drawChart (): string {
  const runs = (['rx', 'ref'] as const).map((t) => `${RESULTS}${t}.json`).filter((f) => existsSync(f))
    .map((f) => JSON.parse(readFileSync(f, 'utf8')) as SoakResult)
  const svg = `${RESULTS}chart.svg`
  writeFileSync(svg, renderSoakChart(runs))
  return svg
}

if (values.chart) {
  console.log(`soak: chart redrawn: ${drawChart()}`)
  process.exit(0)
}

const transports = values.transport === 'both' ? ['rx', 'ref'] as const : [values.transport as 'rx' | 'ref']
for (const t of transports) if (t !== 'rx' && t !== 'ref') throw new Error(`unknown transport ${String(t)}: expected rx, ref or both`)
const seed = values.seed != null ? Number(values.seed) : randomSeed()
const minutes = Number(values.minutes)
const started = Date.now()
const params = {
  durationMs: minutes * 60_000,
  warmupMs: Math.min(Number(values['warmup-minutes']) * 60_000, minutes * 30_000),
  quietEveryMs: Number(values['quiet-minutes']) * 60_000,
  sampleEveryMs: Number(values['sample-seconds']) * 1_000,
  workers: Number(values.workers)
}
console.log(`soak: ${transports.join(' and ')} for ${minutes} min, seed=${seed}, warm-up ${params.warmupMs / 1000} s, samples every ${params.sampleEveryMs / 1000} s, quiet points every ${params.quietEveryMs / 1000} s and at the end, ${params.workers} load loops, node ${process.version}`)
console.log(`soak: replay with: npm run soak -- --minutes ${minutes} --transport ${values.transport} --seed ${seed}`)

const log = (line: string): void => {
  const s = ((Date.now() - started) / 1000).toFixed(0).padStart(5)
  console.log(`[${s}s] ${line}`)
}
mkdirSync(RESULTS, { recursive: true })
// side by side: both run at once, so they share the machine's load alike
const results = await Promise.all(transports.map(async (transport) => runSoak({ transport, seed, ...params, onProgress: log, heapSnapshots: values['heap-snapshots'] ? `${RESULTS}heap-${transport}` : undefined })))

for (const r of results) writeFileSync(`${RESULTS}${r.transport}.json`, JSON.stringify(r, null, 2) + '\n')
const svg = drawChart()

console.log('')
for (const r of results) {
  const q = r.quietPoints
  const name = r.transport === 'rx' ? 'rx-tcp' : '@libp2p/tcp'
  console.log(`soak[${r.transport}] ${name}: heap trend ${r.heap.trendPctPer10Min.toFixed(2)} %/10 min${r.heap.judged ? '' : ' (window too short to judge)'} (at quiet points ${r.heap.quietTrendPctPer10Min.toFixed(2)}, old space alone ${r.heap.oldSpaceTrendPctPer10Min.toFixed(2)} %/10 min); heap ${mib(r.heap.start)} → ${mib(r.heap.end)}, rss ${mib(r.rss.start)} → ${mib(r.rss.end)} (max ${mib(r.rss.max)})`)
  console.log(`soak[${r.transport}]   quiet points: ${q.map((p) => `${(p.t / 60).toFixed(1)} min tcp ${p.sample.tcpHandles} fds ${p.sample.fds}${p.atBaseline ? '' : ' (NOT at baseline)'}`).join('; ')} (baseline tcp ${r.baseline?.tcpHandles ?? '—'} fds ${r.baseline?.fds ?? '—'})`)
  console.log(`soak[${r.transport}]   load: ${r.load.exchanges.ok} exchanges (${r.load.exchanges.failed} failed), ${r.load.pings.ok} pings, ${r.load.aborted.total} aborted dials, raw ${r.load.raw.silent} silent / ${r.load.raw.halfHandshake} half-handshake / ${r.load.raw.garbage} garbage / ${r.load.raw.reset} reset, ${mib(r.load.bytesEchoed)} echoed; ${r.dialBacks.ok} dials back (${r.dialBacks.failed} failed)`)
  console.log(`soak[${r.transport}]   uncaught: node ${r.uncaught.node}, load ${r.uncaught.load}; loop delay p99 max ${r.loopDelayP99Max} ms; stop() ${r.stopMs ?? '—'} ms; ${r.pass ? 'PASS' : `FAIL: ${r.failures.join('; ')}`}`)
  for (const e of r.errors.slice(0, 3)) console.log(`soak[${r.transport}]   ${e.split('\n').slice(0, 4).join(' | ')}`)
}
console.log(`soak: results in ${transports.map((t) => `${RESULTS}${t}.json`).join(', ')}; chart ${svg}`)
const pass = results.every((r) => r.pass)
const summary = results.map((r) => `${r.transport} ${r.pass ? 'pass' : 'fail'} (heap ${r.heap.trendPctPer10Min.toFixed(2)} %/10 min, ${r.quietPoints.filter((p) => p.atBaseline).length}/${r.quietPoints.length} quiet points at baseline, ${r.uncaught.node} uncaught)`).join(', ')
console.log(`soak: ${pass ? 'PASS' : 'FAIL'} ${minutes} min, ${summary}`)
process.exitCode = pass ? 0 : 1
