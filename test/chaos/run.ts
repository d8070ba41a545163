// npm run chaos -- [--no-dialer-stop] [--dialer-variant rx|libp2p-tcp] [--rounds 1000] [--seed N] [--round-seed N] [--variant rx|libp2p-tcp|broken] [--kinds a,b] [--out path] [--max-failures N]
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { runChaos, runOneRound } from './harness.ts'
import { randomSeed } from './random.ts'
import { ROUND_KINDS } from './rounds.ts'
import { loadSubject } from './subjects.ts'
import type { RoundKind, RoundResult } from './rounds.ts'
import type { VariantName } from './subjects.ts'

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '1000' },
    seed: { type: 'string' },
    'round-seed': { type: 'string' },
    variant: { type: 'string', default: 'rx' },
    'dialer-variant': { type: 'string' },
    kinds: { type: 'string' },
    out: { type: 'string' },
    'max-failures': { type: 'string' },
    'max-minutes': { type: 'string', default: '30' },
    quiet: { type: 'boolean', default: false },
    'no-dialer-stop': { type: 'boolean', default: false }
  }
})

const variant = values.variant as VariantName
const subject = await loadSubject(variant)
const dialerSubject = values['dialer-variant'] != null ? await loadSubject(values['dialer-variant'] as VariantName) : undefined
const kinds = values.kinds != null ? values.kinds.split(',') as RoundKind[] : ROUND_KINDS
for (const k of kinds) if (!(ROUND_KINDS as readonly string[]).includes(k)) throw new Error(`unknown round kind ${k}: expected one of ${ROUND_KINDS.join(', ')}`)

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
  const roundSeed = Number(values['round-seed'])
  console.log(`chaos: replaying one round, variant=${variant} (${subject.description}) round-seed=${roundSeed}`)
  const r = await runOneRound(subject, roundSeed, kinds, dialerSubject)
  printRound(r)
  process.exitCode = r.ok ? 0 : 1
} else {
  const seed = values.seed != null ? Number(values.seed) : randomSeed()
  const rounds = Number(values.rounds)
  console.log(`chaos: variant=${variant} (${subject.description}) seed=${seed} rounds=${rounds} node=${process.version}${dialerSubject != null ? ` dialers=${dialerSubject.name}` : ''}`)
  console.log(`chaos: replay with: npm run chaos -- --variant ${variant} --seed ${seed} --rounds ${rounds}`)
  const summary = await runChaos({
    subject,
    dialerSubject,
    dialerStop: !values['no-dialer-stop'],
    rounds,
    seed,
    kinds,
    maxFailures: values['max-failures'] != null ? Number(values['max-failures']) : undefined,
    maxDurationMs: Number(values['max-minutes']) * 60_000,
    onRound: (r) => {
      printRound(r)
      if (values.quiet && (r.index + 1) % 50 === 0) console.log(`chaos: ${r.index + 1} rounds done`)
    }
  })
  const out = resolve(values.out ?? (variant === 'rx' ? 'test/chaos/results/latest.json' : `test/chaos/results/${variant}.json`))
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, JSON.stringify(summary, null, 2) + '\n')
  const l = summary.closeLatencyMs
  console.log('')
  console.log(`chaos: ${summary.roundsRun} rounds, ${summary.roundsFailed} failed (hangs ${summary.hangs}, leaks ${summary.leaks}, uncaught ${summary.uncaught}) in ${(summary.durationMs / 1000).toFixed(1)} s`)
  console.log(`chaos: close latency p50=${l.p50}ms p99=${l.p99}ms max=${l.max}ms over ${l.count} closes`)
  const d = summary.dialerStopLatencyMs
  console.log(`chaos: dialer stop with dials in flight p50=${d.p50}ms p99=${d.p99}ms max=${d.max}ms over ${d.count} stops`)
  console.log(`chaos: ${summary.sockets.client} client sockets, ${summary.sockets.accepted} accepted, dials ok ${summary.dials.ok} failed ${summary.dials.failed}`)
  for (const [kind, k] of Object.entries(summary.byKind)) console.log(`chaos:   ${kind.padEnd(17)} ${k.rounds} rounds, ${k.failed} failed`)
  if (summary.failures.length > 0) console.log(`chaos: replay a failed round with: npm run chaos -- --variant ${variant} --round-seed ${summary.failures[0].seed}`)
  console.log(`chaos: summary written to ${out}`)
  console.log(`chaos: ${summary.roundsRun - summary.roundsFailed} passed, ${summary.roundsFailed} failed`)
  process.exitCode = summary.roundsFailed === 0 && summary.roundsRun === rounds ? 0 : 1
}
