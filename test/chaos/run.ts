// npm run chaos -- --help for the options
import { parseCli, replayCommand } from '../fixtures/cli.ts'
import { drawChartOnly, resultFile, resultOptions, writeSummary } from '../fixtures/results.ts'
import { chaosChart } from './chart.ts'
import { runChaos, runOneRound } from './harness.ts'
import { randomSeed } from '../fixtures/seed.ts'
import { ROUND_KINDS } from './rounds.ts'
import { loadSubject } from './subjects.ts'
import type { RoundKind, RoundResult } from './rounds.ts'

const VARIANTS = ['rx', 'libp2p-tcp', 'broken'] as const

const values = parseCli({
  tool: 'chaos',
  summary: 'Random rounds of hostile clients against one listener, each ended by a close that must finish in bounded time and\nleave nothing open. A seed is printed for replay; the summary goes to .results/chaos/ unless --record or --out.',
  options: {
    rounds: { type: 'integer', min: 1, default: 1000, description: 'rounds to run' },
    seed: { type: 'integer', min: 0, description: 'seed of the run (default: random, printed)' },
    'round-seed': { type: 'integer', min: 0, description: 'replay the one round of this seed' },
    variant: { type: 'string', choices: VARIANTS, default: 'rx', description: 'the listener under test' },
    'dialer-variant': { type: 'string', choices: VARIANTS, description: 'the transport the dialing nodes use (default: the same as the listener)' },
    kinds: { type: 'list', choices: ROUND_KINDS, description: 'round kinds to draw from (default: all)' },
    'max-failures': { type: 'integer', min: 1, description: 'stop after this many failed rounds (default: no limit)' },
    'max-minutes': { type: 'number', above: 0, default: 30, description: 'stop after this many minutes' },
    quiet: { type: 'boolean', description: 'print failed rounds only, and a line every 50 rounds' },
    'no-dialer-stop': { type: 'boolean', description: 'skip stopping the dialing node with dials in flight' },
    ...resultOptions('chaos', 'test/chaos/results')
  },
  examples: ['npm run chaos -- --rounds 50', 'npm run chaos -- --variant libp2p-tcp --seed 42 --record libp2p-tcp', 'npm run chaos -- --chart test/chaos/results/2026-12-07-rx.json']
})
drawChartOnly('chaos', values.chart, chaosChart)

const variant = values.variant
const subject = await loadSubject(variant)
const dialerSubject = values['dialer-variant'] != null ? await loadSubject(values['dialer-variant']) : undefined
const kinds: readonly RoundKind[] = values.kinds ?? ROUND_KINDS

const printRound = (r: RoundResult): void => {
  const status = r.ok ? 'ok  ' : 'FAIL'
  const close = r.closeMs != null ? `${r.closeMs.toFixed(1)}ms` : 'hung'
  if (!r.ok || !values.quiet) {
    const dialerStop = r.dialerStopMs != null ? ` dialer-stop=${r.dialerStopMs.toFixed(1)}ms` : ''
    console.log(`${status} #${String(r.index).padStart(4)} seed=${r.seed} ${r.kind.padEnd(17)} ${r.side.padEnd(4)} close=${close.padStart(9)}${dialerStop} clients=${r.clientSockets} accepted=${r.serverSockets} dials=${r.dialsOk}/${r.dialsOk + r.dialsFailed}`)
  }
  for (const f of r.failures) console.log(`       ${f.replaceAll('\n', '\n       ')}`)
}

if (values['round-seed'] != null) {
  const roundSeed = values['round-seed']
  console.log(`chaos: replaying one round, variant=${variant} (${subject.description}) round-seed=${roundSeed}`)
  const r = await runOneRound(subject, roundSeed, kinds, dialerSubject)
  printRound(r)
  process.exitCode = r.ok ? 0 : 1
} else {
  const seed = values.seed ?? randomSeed()
  const rounds = values.rounds
  console.log(`chaos: variant=${variant} (${subject.description}) seed=${seed} rounds=${rounds} node=${process.version}${dialerSubject != null ? ` dialers=${dialerSubject.name}` : ''}`)
  console.log(`chaos: replay with: ${replayCommand('chaos', { variant, seed, rounds })}`)
  const summary = await runChaos({
    subject,
    dialerSubject,
    dialerStop: !values['no-dialer-stop'],
    rounds,
    seed,
    kinds,
    maxFailures: values['max-failures'],
    maxDurationMs: values['max-minutes'] * 60_000,
    onRound: (r) => {
      printRound(r)
      if (values.quiet && (r.index + 1) % 50 === 0) console.log(`chaos: ${r.index + 1} rounds done`)
    }
  })
  const out = resultFile({ tool: 'chaos', committed: 'test/chaos/results', name: variant === 'rx' ? 'latest' : variant, record: values.record, out: values.out })
  const l = summary.closeLatencyMs
  console.log('')
  console.log(`chaos: ${summary.roundsRun} rounds, ${summary.roundsFailed} failed (hangs ${summary.hangs}, leaks ${summary.leaks}, uncaught ${summary.uncaught}) in ${(summary.durationMs / 1000).toFixed(1)} s`)
  console.log(`chaos: close latency p50=${l.p50}ms p99=${l.p99}ms max=${l.max}ms over ${l.count} closes`)
  const d = summary.dialerStopLatencyMs
  console.log(`chaos: dialer stop with dials in flight p50=${d.p50}ms p99=${d.p99}ms max=${d.max}ms over ${d.count} stops`)
  console.log(`chaos: ${summary.sockets.client} client sockets, ${summary.sockets.accepted} accepted, dials ok ${summary.dials.ok} failed ${summary.dials.failed}`)
  for (const [kind, k] of Object.entries(summary.byKind)) console.log(`chaos:   ${kind.padEnd(17)} ${k.rounds} rounds, ${k.failed} failed`)
  if (summary.failures.length > 0) console.log(`chaos: replay a failed round with: ${replayCommand('chaos', { variant, 'round-seed': summary.failures[0].seed })}`)
  writeSummary('chaos', out, summary, chaosChart)
  const pass = summary.roundsFailed === 0 && summary.roundsRun === rounds
  console.log(`chaos: ${pass ? 'PASS' : 'FAIL'} ${summary.roundsRun - summary.roundsFailed} passed, ${summary.roundsFailed} failed of ${rounds} rounds`)
  process.exitCode = pass ? 0 : 1
}
