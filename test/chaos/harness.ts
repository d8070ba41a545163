import { ErrorTrap } from './probe.ts'
import { createRandom } from './random.ts'
import { ROUND_KINDS, planRound, runRound } from './rounds.ts'
import type { RoundKind, RoundResult } from './rounds.ts'
import type { Subject } from './subjects.ts'

export interface ChaosOptions {
  subject: Subject
  /** the transport of the dialer nodes (default: the subject's own) */
  dialerSubject?: Subject
  rounds: number
  seed: number
  kinds?: readonly RoundKind[]
  /** include rounds that stop the dialer nodes with their dials in flight (default true) */
  dialerStop?: boolean
  /** stop after this many failed rounds (the rest are not run) */
  maxFailures?: number
  /** stop starting new rounds after this long */
  maxDurationMs?: number
  onRound?: (result: RoundResult) => void
}

export interface LatencySummary { p50: number, p99: number, max: number, mean: number, count: number }

export interface ChaosSummary {
  variant: string
  description: string
  seed: number
  roundsPlanned: number
  roundsRun: number
  roundsFailed: number
  hangs: number
  leaks: number
  uncaught: number
  closeLatencyMs: LatencySummary
  listenerCloseLatencyMs: LatencySummary
  /** dialer nodes stopped with their dials in flight */
  dialerStopLatencyMs: LatencySummary
  byKind: Record<string, { rounds: number, failed: number }>
  sockets: { client: number, accepted: number }
  dials: { ok: number, failed: number }
  durationMs: number
  node: string
  failures: Array<{ index: number, seed: number, kind: RoundKind, side: string, failures: string[] }>
}

export function latency (values: number[]): LatencySummary {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number): number => sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]
  const round = (n: number): number => Math.round(n * 100) / 100
  return {
    p50: round(at(0.5)),
    p99: round(at(0.99)),
    max: round(sorted.at(-1) ?? 0),
    mean: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)),
    count: sorted.length
  }
}

/**
 * Runs `rounds` rounds against one subject. Round i's own seed is drawn from
 * the run's seed, so a run replays from its seed and a single round from
 * its round seed.
 */
export async function runChaos (opts: ChaosOptions): Promise<ChaosSummary> {
  const started = performance.now()
  const rng = createRandom(opts.seed)
  const trap = new ErrorTrap().install()
  const results: RoundResult[] = []
  try {
    for (let i = 0; i < opts.rounds; i++) {
      const roundSeed = Math.floor(rng.next() * 4294967296) >>> 0
      if (opts.maxDurationMs != null && performance.now() - started > opts.maxDurationMs) break
      const result = await runRound(opts.subject, planRound(i, roundSeed, opts.kinds ?? ROUND_KINDS, { dialerStop: opts.dialerStop }), trap, opts.dialerSubject)
      results.push(result)
      opts.onRound?.(result)
      if (opts.maxFailures != null && results.filter(r => !r.ok).length >= opts.maxFailures) break
    }
  } finally {
    trap.uninstall()
  }
  return summarise(opts, results, performance.now() - started)
}

/** replays exactly one round from its own seed */
export async function runOneRound (subject: Subject, roundSeed: number, kinds?: readonly RoundKind[], dialerSubject?: Subject): Promise<RoundResult> {
  const trap = new ErrorTrap().install()
  try {
    return await runRound(subject, planRound(0, roundSeed, kinds), trap, dialerSubject)
  } finally {
    trap.uninstall()
  }
}

function summarise (opts: ChaosOptions, results: RoundResult[], durationMs: number): ChaosSummary {
  const byKind: ChaosSummary['byKind'] = {}
  for (const r of results) {
    byKind[r.kind] ??= { rounds: 0, failed: 0 }
    byKind[r.kind].rounds++
    if (!r.ok) byKind[r.kind].failed++
  }
  const failed = results.filter(r => !r.ok)
  const has = (r: RoundResult, re: RegExp): boolean => r.failures.some(f => re.test(f))
  return {
    variant: opts.subject.name,
    description: opts.subject.description,
    seed: opts.seed,
    roundsPlanned: opts.rounds,
    roundsRun: results.length,
    roundsFailed: failed.length,
    hangs: results.filter(r => has(r, /did not resolve within/)).length,
    leaks: results.filter(r => has(r, /above baseline|still open|not destroyed|did not see 'close'/)).length,
    uncaught: results.filter(r => has(r, /^(uncaughtException|unhandledRejection)/)).length,
    closeLatencyMs: latency(results.flatMap(r => r.closeMs != null ? [r.closeMs] : [])),
    listenerCloseLatencyMs: latency(results.flatMap(r => r.listenerCloseMs != null ? [r.listenerCloseMs] : [])),
    dialerStopLatencyMs: latency(results.flatMap(r => r.dialerStopMs != null ? [r.dialerStopMs] : [])),
    byKind,
    sockets: {
      client: results.reduce((n, r) => n + r.clientSockets, 0),
      accepted: results.reduce((n, r) => n + r.serverSockets, 0)
    },
    dials: {
      ok: results.reduce((n, r) => n + r.dialsOk, 0),
      failed: results.reduce((n, r) => n + r.dialsFailed, 0)
    },
    durationMs: Math.round(durationMs),
    node: process.version,
    failures: failed.map(r => ({ index: r.index, seed: r.seed, kind: r.kind, side: r.side, failures: r.failures }))
  }
}
