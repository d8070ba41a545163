// npm run pipelines -- --help for the options
import fc from 'fast-check'
import { parseCli, replayCommand, RUN_TIME_OPTIONS, runSeconds } from '../fixtures/cli.ts'
import { drawChartOnly, resultFile, resultOptions, writeSummary } from '../fixtures/results.ts'
import { randomSeed } from '../fixtures/seed.ts'
import { TimedRun } from '../fixtures/timed-run.ts'
import { describePipeline, pipelines } from './arbitraries.ts'
import { pipelinesChart } from './chart.ts'
import { runPipeline } from './properties.ts'
import type { PipelinesSummary, StageStats } from './chart.ts'

const values = parseCli({
  tool: 'pipelines',
  summary: 'Generated user pipelines of ordinary RxJS in inbound and lifetime, each on a real listener with raw clients and a\nreal libp2p peer, until the time is up; every accepted socket must be upgraded or closed within its deadline, the\nlistener must serve or close visibly, and stop bounded with no handle and nothing uncaught. The seed is printed for\nreplay; the summary goes to .results/pipelines/ unless --record or --out.',
  options: {
    ...RUN_TIME_OPTIONS,
    seed: { type: 'integer', min: 0, description: 'the seed of the run (default: random, printed); pipeline i has seed + i' },
    runs: { type: 'integer', min: 1, description: 'stop after this many pipelines, whatever the time' },
    'max-failures': { type: 'integer', min: 1, default: 1, description: 'stop after this many pipelines broke the contract' },
    ...resultOptions('pipelines', 'test/pipelines/results')
  },
  examples: ['npm run pipelines -- --minutes 10', 'npm run pipelines -- --seed 42 --runs 1', 'npm run pipelines -- --chart test/pipelines/results/8min.json']
})

drawChartOnly('pipelines', values.chart, pipelinesChart)
const seconds = runSeconds('pipelines', values)
const maxRuns = values.runs ?? Number.POSITIVE_INFINITY
const seed = values.seed ?? randomSeed()

interface Failure { index: number, seed: number, pipeline: string, failures: string[], replay: string }
const failures: Failure[] = []
const byOperator: Record<string, StageStats> = {}
let served = 0
let closed = 0
let clients = 0

console.log(`pipelines: seed=${seed} seconds=${seconds}${values.runs !== undefined ? ` runs=${values.runs}` : ''} node=${process.version}`)
console.log(`pipelines: replay with: ${replayCommand('pipelines', { seed, seconds, runs: values.runs })}`)

const run = new TimedRun(seconds)
let runs = 0
while (!run.timeUp && runs < maxRuns && failures.length < values['max-failures']) {
  const runSeed = (seed + runs) | 0
  const [p] = fc.sample(pipelines, { seed: runSeed, numRuns: 1 })
  const result = await runPipeline(p)
  runs++
  clients += result.closed
  const ok = result.failures.length === 0
  if (ok && result.served) served++
  if (ok && !result.served) closed++
  // an operator counted once per pipeline that holds it, by its first word (lifetime ones prefixed)
  const kind = (name: string): string => name.startsWith('l$ =>') ? 'subscribed twice' : name.split(/[(, ]/)[0]
  const kinds = new Set([...p.inbound.map((s) => kind(s.name)), `lifetime ${kind(p.lifetime.name)}`])
  for (const kind of kinds) {
    const s = byOperator[kind] ??= { runs: 0, served: 0, closed: 0, failed: 0 }
    s.runs++
    if (!ok) s.failed++
    else if (result.served) s.served++
    else s.closed++
  }
  if (!ok) {
    const failure = { index: runs - 1, seed: runSeed, pipeline: describePipeline(p), failures: result.failures, replay: replayCommand('pipelines', { seed: runSeed, runs: 1 }) }
    failures.push(failure)
    console.log(`pipelines: FAILED #${failure.index} ${failure.pipeline}`)
    for (const line of result.failures) console.log(`pipelines:   ${line.slice(0, 600)}`)
    console.log(`pipelines:   replay: ${failure.replay}`)
  }
  if (run.mark(runs)) {
    console.log(`pipelines: ${run.elapsed.toFixed(0)} s, ${runs} pipelines (${served} served the peer, ${closed} closed visibly, ${failures.length} broke the contract), ${clients} raw clients closed`)
  }
}

const durationMs = run.durationMs
const summary: PipelinesSummary & Record<string, unknown> = {
  tool: 'pipelines',
  date: new Date().toISOString(),
  node: process.version,
  seed,
  seconds,
  durationMs,
  runs,
  served,
  closedVisibly: closed,
  rawClientsClosed: clients,
  failures,
  byOperator,
  timeline: run.timeline
}
const out = resultFile({ tool: 'pipelines', committed: 'test/pipelines/results', name: 'latest', record: values.record, out: values.out })
writeSummary('pipelines', out, summary, pipelinesChart)
console.log(failures.length === 0
  ? `pipelines: PASS ${runs} pipelines in ${(durationMs / 1_000).toFixed(1)} s (${served} served the peer, ${closed} closed visibly, ${clients} raw clients closed), seed ${seed}`
  : `pipelines: FAIL ${failures.length} of ${runs} pipelines broke the contract, first: ${failures[0].pipeline} (replay: ${failures[0].replay})`)
process.exitCode = failures.length === 0 ? 0 : 1
