// npm run fuzz -- [--minutes N | --seconds N] [--seed N] [--properties invariants,chunking,valid,loopback] [--batch N] [--rounds N] [--out path] [--record path] [--help]
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import fc from 'fast-check'
import { fuzzChart } from './chart.ts'
import { LoopbackReader } from './loopback.ts'
import { chunkingInvariance, invariants, PROPERTIES, realSockets, validHeaders } from './properties.ts'
import type { PropertyName } from './properties.ts'

const USAGE = `usage: npm run fuzz -- [options]

Fuzzes the PROXY header reader (proxyProtocol) with fast-check, property by
property in rounds, until the time is up; prints the seed for replay.

  --minutes N        run for N minutes (default 1)
  --seconds N        run for N seconds (instead of --minutes)
  --seed N           the first seed (default: drawn and printed)
  --properties LIST  comma-separated, of: ${PROPERTIES.join(', ')} (default all)
  --batch N          runs of each property per round (default 200)
  --rounds N         stop after N rounds, whatever the time
  --out PATH         where to write the JSON summary (default .results/fuzz/<date>.json, a chart beside it)
  --record PATH      also write the JSON there (a run the docs quote, e.g. docs/results/fuzz-<date>.json)
  --help             this text

The last line is 'fuzz: PASS …' or 'fuzz: FAIL …'; exit code 0, 1 on a failure, 2 on a bad option.`

function usage (problem: string): never {
  console.error(`fuzz: ${problem}`)
  console.error(USAGE)
  process.exit(2)
}

let values: Record<string, string | boolean | undefined>
try {
  values = parseArgs({
    options: {
      minutes: { type: 'string' },
      seconds: { type: 'string' },
      seed: { type: 'string' },
      properties: { type: 'string' },
      batch: { type: 'string' },
      rounds: { type: 'string' },
      out: { type: 'string' },
      record: { type: 'string' },
      help: { type: 'boolean', default: false }
    },
    strict: true,
    allowPositionals: false
  }).values
} catch (err: any) {
  usage(String(err?.message ?? err).split('\n')[0])
}

if (values.help === true) {
  console.log(USAGE)
  process.exit(0)
}

function positive (name: string, integer = false): number | undefined {
  const raw = values[name]
  if (raw === undefined) return undefined
  const n = Number(raw)
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    usage(`--${name} must be a positive ${integer ? 'integer' : 'number'}, not '${String(raw)}'`)
  }
  return n
}

if (values.minutes !== undefined && values.seconds !== undefined) usage('give --minutes or --seconds, not both')
const seconds = positive('seconds') ?? (positive('minutes') ?? 1) * 60
const batch = positive('batch', true) ?? 200
const maxRounds = positive('rounds', true) ?? Number.POSITIVE_INFINITY
const seedRaw = values.seed
if (seedRaw !== undefined && !/^-?\d+$/.test(String(seedRaw))) usage(`--seed must be an integer, not '${String(seedRaw)}'`)
const seed = seedRaw !== undefined ? Number(seedRaw) : Math.floor(Math.random() * 2 ** 31)
const chosen = (typeof values.properties === 'string' ? values.properties.split(',') : [...PROPERTIES]).map((name) => name.trim())
for (const name of chosen) {
  if (!(PROPERTIES as readonly string[]).includes(name)) usage(`unknown property '${name}': expected ${PROPERTIES.join(', ')}`)
}
const names = chosen as PropertyName[]

interface Failure { property: PropertyName, seed: number, batch: number, path?: string, counterexample: string, error: string, replay: string }
const stats = Object.fromEntries(names.map((name) => [name, { runs: 0, ms: 0, failures: 0 }])) as Record<PropertyName, { runs: number, ms: number, failures: number }>
const failures: Failure[] = []
const timeline: Array<{ seconds: number, runs: number }> = []

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
console.log(`fuzz: replay with: npm run fuzz -- --seed ${seed} --seconds ${seconds} --batch ${batch} --properties ${names.join(',')}`)

const started = Date.now()
const deadline = started + seconds * 1_000
let round = 0
let lastProgress = started
while (Date.now() < deadline && round < maxRounds && failures.length === 0) {
  for (const [i, name] of names.entries()) {
    if (Date.now() >= deadline && round > 0) break
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
        replay: `npm run fuzz -- --seed ${roundSeed} --properties ${name} --rounds 1 --batch ${batch}`
      })
      break
    }
  }
  round++
  const total = names.reduce((sum, name) => sum + stats[name].runs, 0)
  timeline.push({ seconds: (Date.now() - started) / 1_000, runs: total })
  if (Date.now() - lastProgress >= 10_000 || failures.length > 0 || Date.now() >= deadline) {
    lastProgress = Date.now()
    console.log(`fuzz: ${((Date.now() - started) / 1_000).toFixed(1)} s, round ${round}, ${total} runs (${names.map((name) => `${name} ${stats[name].runs}`).join(', ')}), ${failures.length} failed`)
  }
}
await loopback?.stop()

const durationMs = Date.now() - started
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
  timeline
}
for (const failure of failures) {
  console.log(`fuzz: FAILED ${failure.property} (seed ${failure.seed}${failure.path === undefined ? '' : `, path ${failure.path}`}): ${failure.error}`)
  console.log(`fuzz:   counterexample ${failure.counterexample.slice(0, 2_000)}`)
  console.log(`fuzz:   replay: ${failure.replay}`)
}
const out = resolve(typeof values.out === 'string' ? values.out : `.results/fuzz/${summary.date.replace(/[:.]/g, '-')}.json`)
const targets = [out, ...(typeof values.record === 'string' ? [resolve(values.record)] : [])]
for (const target of targets) {
  mkdirSync(dirname(target), { recursive: true })
  writeFileSync(target, JSON.stringify(summary, null, 2) + '\n')
  writeFileSync(target.replace(/\.json$/, '') + '.svg', fuzzChart(summary))
  console.log(`fuzz: summary written to ${target} (chart ${target.replace(/\.json$/, '')}.svg)`)
}
const rate = (totalRuns / (durationMs / 1_000)).toFixed(0)
console.log(failures.length === 0
  ? `fuzz: PASS ${totalRuns} runs of ${names.length} properties in ${(durationMs / 1_000).toFixed(1)} s (${rate}/s), seed ${seed}, nothing found`
  : `fuzz: FAIL ${failures[0].property} after ${totalRuns} runs, seed ${failures[0].seed}: ${failures[0].error.slice(0, 200)}`)
process.exitCode = failures.length === 0 ? 0 : 1
