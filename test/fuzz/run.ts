// npm run fuzz -- --help for the options
import fc from 'fast-check'
import { parseCli, replayCommand, RUN_TIME_OPTIONS, runSeconds } from '../fixtures/cli.ts'
import { drawChartOnly, resultFile, resultOptions, writeSummary } from '../fixtures/results.ts'
import { randomSeed } from '../fixtures/seed.ts'
import { TimedRun } from '../fixtures/timed-run.ts'
import { fuzzChart } from './chart.ts'
import { LoopbackReader } from './loopback.ts'
import { chunkingInvariance, invariants, PROPERTIES, realSockets, validHeaders } from './properties.ts'
import type { PropertyName } from './properties.ts'

const values = parseCli({
  tool: 'fuzz',
  summary: 'Fuzzes the PROXY header reader (proxyProtocol) with fast-check, property by property in rounds, until the time\nis up; the seed is printed for replay, the summary goes to .results/fuzz/ unless --record or --out.',
  options: {
    ...RUN_TIME_OPTIONS,
    seed: { type: 'integer', min: 0, description: 'the first seed (default: random, printed)' },
    properties: { type: 'list', choices: PROPERTIES, description: 'the properties to run (default: all)' },
    batch: { type: 'integer', min: 1, default: 200, description: 'runs of each property per round' },
    rounds: { type: 'integer', min: 1, description: 'stop after this many rounds, whatever the time' },
    ...resultOptions('fuzz', 'test/fuzz/results')
  },
  examples: ['npm run fuzz -- --minutes 10', 'npm run fuzz -- --chart test/fuzz/results/10min.json', 'npm run fuzz -- --seed 42 --properties chunking --rounds 1 --batch 200']
})

drawChartOnly('fuzz', values.chart, fuzzChart)
const seconds = runSeconds('fuzz', values)
const batch = values.batch
const maxRounds = values.rounds ?? Number.POSITIVE_INFINITY
const seed = values.seed ?? randomSeed()
const names: PropertyName[] = [...(values.properties ?? PROPERTIES)] as PropertyName[]

interface Failure { property: PropertyName, seed: number, batch: number, path?: string, counterexample: string, error: string, replay: string }
const stats = Object.fromEntries(names.map((name) => [name, { runs: 0, ms: 0, failures: 0 }])) as Record<PropertyName, { runs: number, ms: number, failures: number }>
const failures: Failure[] = []

const loopback = names.includes('loopback') ? await new LoopbackReader().start() : undefined
const property = (name: PropertyName): fc.IAsyncPropertyWithHooks<any> => {
  switch (name) {
    case 'invariants': return invariants
    case 'chunking': return chunkingInvariance
    case 'valid': return validHeaders
    case 'loopback': return realSockets(loopback as LoopbackReader)
  }
}

console.log(`fuzz: seed=${seed} seconds=${seconds} batch=${batch} properties=${names.join(',')} node=${process.version}`)
console.log(`fuzz: replay with: ${replayCommand('fuzz', { seed, seconds, batch, properties: names })}`)

const run = new TimedRun(seconds)
let round = 0
while (!run.timeUp && round < maxRounds && failures.length === 0) {
  for (const [i, name] of names.entries()) {
    if (run.timeUp && round > 0) break
    // one seed per property and round: --seed S --properties p --rounds 1 --batch n replays a round of p exactly
    const roundSeed = (seed + round * 7919 + i) | 0
    const t = Date.now()
    const result = await fc.check(property(name), { numRuns: batch, seed: roundSeed })
    stats[name].ms += Date.now() - t
    stats[name].runs += result.numRuns
    if (result.failed) {
      stats[name].failures++
      failures.push({
        property: name,
        seed: roundSeed,
        batch,
        path: result.counterexamplePath ?? undefined,
        counterexample: fc.stringify(result.counterexample),
        error: String((result.errorInstance as Error | undefined)?.message ?? result.errorInstance),
        replay: replayCommand('fuzz', { seed: roundSeed, properties: name, rounds: 1, batch })
      })
      break
    }
  }
  round++
  const total = names.reduce((sum, name) => sum + stats[name].runs, 0)
  if (run.mark(total) || failures.length > 0) {
    console.log(`fuzz: ${run.elapsed.toFixed(1)} s, round ${round}, ${total} runs (${names.map((name) => `${name} ${stats[name].runs}`).join(', ')}), ${failures.length} failed`)
  }
}
await loopback?.stop()

const durationMs = run.durationMs
const totalRuns = names.reduce((sum, name) => sum + stats[name].runs, 0)
const summary = {
  tool: 'fuzz',
  date: new Date().toISOString(),
  node: process.version,
  seed,
  seconds,
  batch,
  rounds: round,
  durationMs,
  totalRuns,
  properties: stats,
  failures,
  timeline: run.timeline
}
for (const failure of failures) {
  console.log(`fuzz: FAILED ${failure.property} (seed ${failure.seed}${failure.path === undefined ? '' : `, path ${failure.path}`}): ${failure.error}`)
  console.log(`fuzz:   counterexample ${failure.counterexample.slice(0, 2_000)}`)
  console.log(`fuzz:   replay: ${failure.replay}`)
}
const out = resultFile({ tool: 'fuzz', committed: 'test/fuzz/results', name: 'latest', record: values.record, out: values.out })
writeSummary('fuzz', out, summary, fuzzChart)
const rate = (totalRuns / (durationMs / 1_000)).toFixed(0)
console.log(failures.length === 0
  ? `fuzz: PASS ${totalRuns} runs of ${names.length} properties in ${(durationMs / 1_000).toFixed(1)} s (${rate}/s), seed ${seed}, nothing found`
  : `fuzz: FAIL ${failures[0].property} after ${totalRuns} runs, seed ${failures[0].seed}: ${failures[0].error.slice(0, 200)}`)
process.exitCode = failures.length === 0 ? 0 : 1
