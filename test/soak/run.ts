// npm run soak -- --help for the options
// One libp2p node under churn in a process of its own; default: rx-tcp and @libp2p/tcp side by side.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { randomSeed } from '../fixtures/seed.ts'
import { parseCli, replayCommand } from '../fixtures/cli.ts'
import { recordHelp, resultFile, shown } from '../fixtures/results.ts'
import { renderSoakChart } from './chart.ts'
import { runSoak } from './soak.ts'
import type { SoakResult } from './soak.ts'

const values = parseCli({
  tool: 'soak',
  summary: 'One libp2p node under churn for a long while, rx-tcp and @libp2p/tcp side by side: heap trend, descriptors and\nhandles at quiet points, uncaught errors. Writes .results/soak/NAME-rx.json, -ref.json and NAME.svg unless --record.',
  options: {
    minutes: { type: 'number', above: 0, default: 30, description: 'minutes of load' },
    transport: { type: 'string', choices: ['rx', 'ref', 'both'], default: 'both', description: 'which transport(s) to run' },
    seed: { type: 'integer', min: 0, description: 'seed of the run (default: random, printed)' },
    workers: { type: 'integer', min: 1, default: 4, description: 'concurrent load loops' },
    'warmup-minutes': { type: 'number', min: 0, default: 2, description: 'minutes before the heap trend counts (at most half the run)' },
    'quiet-minutes': { type: 'number', above: 0, default: 3, description: 'minutes between quiet points' },
    'sample-seconds': { type: 'number', above: 0, default: 10, description: 'seconds between samples' },
    'heap-snapshots': { type: 'boolean', description: 'write the first and last heap snapshot of each node next to the results' },
    record: { type: 'string', placeholder: 'NAME', description: recordHelp('soak', 'test/soak/results').replace('NAME.json', 'NAME-rx.json, NAME-ref.json and NAME.svg') },
    chart: { type: 'list', placeholder: 'FILE,FILE', description: 'only draw the chart of these runs\' JSON (NAME-rx.json,NAME-ref.json) into NAME.svg next to them' }
  },
  examples: ['npm run soak -- --minutes 2 --warmup-minutes 0.5 --quiet-minutes 0.5', 'npm run soak -- --record 30min', 'npm run soak -- --chart test/soak/results/30min-rx.json,test/soak/results/30min-ref.json']
})

const MiB = 2 ** 20
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`

/** the chart of a run, `NAME.svg`, from its files `NAME-rx.json` and `NAME-ref.json` (those that exist) */
function drawChart (files: readonly string[]): string {
  const runs = files.filter((f) => existsSync(f)).map((f) => JSON.parse(readFileSync(f, 'utf8')) as SoakResult)
  const svg = files[0].replace(/(-rx|-ref)?\.json$/, '.svg')
  writeFileSync(svg, renderSoakChart(runs))
  return svg
}

if (values.chart != null) {
  console.log(`soak: chart ${shown(drawChart(values.chart))} drawn from ${values.chart.join(', ')}`)
  process.exit(0)
}

const transports = values.transport === 'both' ? ['rx', 'ref'] as const : [values.transport]
const seed = values.seed ?? randomSeed()
const minutes = values.minutes
const started = Date.now()
const params = {
  durationMs: minutes * 60_000,
  warmupMs: Math.min(values['warmup-minutes'] * 60_000, minutes * 30_000),
  quietEveryMs: values['quiet-minutes'] * 60_000,
  sampleEveryMs: values['sample-seconds'] * 1_000,
  workers: values.workers
}
console.log(`soak: ${transports.join(' and ')} for ${minutes} min, seed=${seed}, warm-up ${params.warmupMs / 1000} s, samples every ${params.sampleEveryMs / 1000} s, quiet points every ${params.quietEveryMs / 1000} s and at the end, ${params.workers} load loops, node ${process.version}`)
console.log(`soak: replay with: ${replayCommand('soak', { minutes, transport: values.transport, seed })}`)

const log = (line: string): void => {
  const s = ((Date.now() - started) / 1000).toFixed(0).padStart(5)
  console.log(`[${s}s] ${line}`)
}
// one file per transport, NAME-rx.json and NAME-ref.json, and the chart NAME.svg drawn from them
const base = resultFile({ tool: 'soak', committed: 'test/soak/results', name: 'latest', record: values.record })
const fileOf = (transport: string): string => base.replace(/\.json$/, `-${transport}.json`)
// side by side: both run at once, so they share the machine's load alike
const results = await Promise.all(transports.map(async (transport) => runSoak({ transport, seed, ...params, onProgress: log, heapSnapshots: values['heap-snapshots'] ? base.replace(/\.json$/, `-heap-${transport}`) : undefined })))

for (const r of results) writeFileSync(fileOf(r.transport), JSON.stringify(r, null, 2) + '\n')
const svg = drawChart(transports.map(fileOf))

console.log('')
for (const r of results) {
  const q = r.quietPoints
  const name = r.transport === 'rx' ? 'rx-tcp' : '@libp2p/tcp'
  console.log(`soak[${r.transport}] ${name}: heap trend ${r.heap.trendPctPer10Min.toFixed(2)} %/10 min${r.heap.judged ? '' : ' (window too short to judge)'} (at quiet points ${r.heap.quietTrendPctPer10Min.toFixed(2)}, old space alone ${r.heap.oldSpaceTrendPctPer10Min.toFixed(2)} %/10 min); heap ${mib(r.heap.start)} → ${mib(r.heap.end)}, rss ${mib(r.rss.start)} → ${mib(r.rss.end)} (max ${mib(r.rss.max)})`)
  console.log(`soak[${r.transport}]   quiet points: ${q.map((p) => `${(p.t / 60).toFixed(1)} min tcp ${p.sample.tcpHandles} fds ${p.sample.fds}${p.atBaseline ? '' : ' (NOT at baseline)'}`).join('; ')} (baseline tcp ${r.baseline?.tcpHandles ?? '—'} fds ${r.baseline?.fds ?? '—'})`)
  console.log(`soak[${r.transport}]   load: ${r.load.exchanges.ok} exchanges (${r.load.exchanges.failed} failed), ${r.load.pings.ok} pings, ${r.load.aborted.total} aborted dials, raw ${r.load.raw.silent} silent / ${r.load.raw.halfHandshake} half-handshake / ${r.load.raw.garbage} garbage / ${r.load.raw.reset} reset, ${mib(r.load.bytesEchoed)} echoed; ${r.dialBacks.ok} dials back (${r.dialBacks.failed} failed)`)
  console.log(`soak[${r.transport}]   uncaught: node ${r.uncaught.node}, load ${r.uncaught.load}; loop delay p99 max ${r.loopDelayP99Max} ms; stop() ${r.stopMs ?? '—'} ms; ${r.pass ? 'PASS' : `FAIL: ${r.failures.join('; ')}`}`)
  for (const e of r.errors.slice(0, 3)) console.log(`soak[${r.transport}]   ${e.split('\n').slice(0, 4).join(' | ')}`)
  // the load's clock starts with its process, a second or two before the soak's
  for (const f of r.load.failures) console.log(`soak[${r.transport}]   failed exchange, ${f}`)
}
console.log(`soak: results in ${transports.map((t) => shown(fileOf(t))).join(', ')}; chart ${shown(svg)}`)
const pass = results.every((r) => r.pass)
const summary = results.map((r) => `${r.transport} ${r.pass ? 'pass' : 'fail'} (heap ${r.heap.trendPctPer10Min.toFixed(2)} %/10 min, ${r.quietPoints.filter((p) => p.atBaseline).length}/${r.quietPoints.length} quiet points at baseline, ${r.uncaught.node} uncaught)`).join(', ')
console.log(`soak: ${pass ? 'PASS' : 'FAIL'} ${minutes} min, ${summary}`)
process.exitCode = pass ? 0 : 1
