/** What `npm run flood` makes of its samples: one step's figures, the verdicts, the highest rate each victim survives. */
import type { GoodWindow, VictimSample } from './protocol.ts'
import type { VictimSpec } from './victims.ts'

export const ATTACK_MODES = ['silent', 'half', 'garbage', 'reset', 'drip', 'mixed'] as const
export const SPREADS = ['many16', 'one24'] as const

/** What the attacker printed */
export interface AttackSummary {
  attempts: number
  connected: number
  connectErrors: Record<string, number>
  closedByVictim: number
  openAtEnd: number
  maxOpen: number
  lifetimeMs: { p50: number, p90: number, p99: number, max: number }
  byMode: Record<string, number>
  sources: number
  durationSec: number
}

export interface StepResult {
  victim: string
  attack: string
  rate: number
  good: {
    dials: number
    dialsOk: number
    dialPct: number
    dialErrors: Record<string, number>
    dialMs: { p50: number, p99: number }
    /** the far peers' alone */
    dialMsFar: { p50: number, p99: number }
    /** good peers whose long-lived connection failed to open before the step */
    notConnected: number
    pingNear: { p50: number, p99: number, n: number }
    pingFar: { p50: number, p99: number, n: number }
    pingsFailed: number
    longLivedLost: number
    echoKiBps: number
  }
  victimCpuPct: number
  /** the victim's CPU over the window, µs, and the window, ms */
  cpuUs: number
  windowMs: number
  /**
   * the victim's CPU per attack connection, µs: its CPU over the window
   * above its quiet step's (good peers cost the same in both), divided by
   * the attack sockets connected in the window's share of the attack
   */
  cpuUsPerAttack?: number
  rssMiB: number
  maxRssMiB: number
  heapMiB: number
  maxHeapMiB: number
  fds: number
  maxFds: number
  loopDelayP99: number
  /** bytes per attack socket the victim held at the window's end (Δ over the step's start, per extra descriptor; heap after a full GC at both) */
  perSocket?: { rssBytes: number, heapBytes: number, sockets: number }
  attacker?: AttackSummary
  uncaught: number
  coolMs: number
  profile?: string
  survived: boolean
  /** why not, when it did not */
  lost?: string
  line: string
}

export interface FloodResult {
  tool: 'flood'
  date: string
  node: string
  seed: number
  /** the machine's load average (1, 5, 15 min) at the start and after every rate */
  loadavg: number[][]
  options: Record<string, unknown>
  victims: VictimSpec[]
  steps: StepResult[]
  /** per attack, per victim: the highest rate at which it and every lower rate kept ≥ 99 % good dials and near ping p99 within 2× of quiet */
  highest: Record<string, Record<string, number>>
  /** the same by good dials alone (≥ 99 %), whatever the ping did */
  highestByDials: Record<string, Record<string, number>>
  uncaught: { victims: Record<string, number>, good: number }
  errors: { victims: Record<string, string[]>, good: string[] }
}

function pct (values: number[], p: number): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}
const MiB = (b: number): number => Math.round(b / 2 ** 20 * 10) / 10

export interface StepInput {
  victim: string
  attack: string
  rate: number
  before: VictimSample
  s0: VictimSample
  s1: VictimSample
  after: VictimSample
  window: GoodWindow
  attack$?: AttackSummary
  coolMs: number
  connected: { ok: number, failed: number }
  profile?: string
  victimErrors: number
}

export function summarize (i: StepInput): StepResult {
  const w = i.window
  const cpuUs = (i.s1.cpuUser + i.s1.cpuSystem) - (i.s0.cpuUser + i.s0.cpuSystem)
  const sockets = i.s1.fds - i.before.fds
  const step: StepResult = {
    victim: i.victim,
    attack: i.attack,
    rate: i.rate,
    good: {
      dials: w.dials,
      dialsOk: w.dialsOk,
      dialPct: w.dials === 0 ? 0 : Math.round(w.dialsOk / w.dials * 1000) / 10,
      dialErrors: w.dialErrors,
      dialMs: { p50: pct(w.dialMs, 0.5), p99: pct(w.dialMs, 0.99) },
      dialMsFar: { p50: pct(w.dialMsFar, 0.5), p99: pct(w.dialMsFar, 0.99) },
      notConnected: i.connected.failed,
      pingNear: { p50: pct(w.pingNear, 0.5), p99: pct(w.pingNear, 0.99), n: w.pingNear.length },
      pingFar: { p50: pct(w.pingFar, 0.5), p99: pct(w.pingFar, 0.99), n: w.pingFar.length },
      pingsFailed: w.pingsFailed,
      longLivedLost: w.longLivedLost,
      echoKiBps: Math.round(w.echoBytesPerSec / 1024)
    },
    victimCpuPct: Math.round(cpuUs / 10 / Math.max(1, i.s1.t - i.s0.t)),
    cpuUs,
    windowMs: i.s1.t - i.s0.t,
    rssMiB: MiB(i.s1.rss),
    maxRssMiB: MiB(Math.max(i.s0.maxRss, i.s1.maxRss)),
    heapMiB: MiB(i.s1.heapUsed),
    maxHeapMiB: MiB(Math.max(i.s0.maxHeapUsed, i.s1.maxHeapUsed)),
    fds: i.s1.fds,
    maxFds: Math.max(i.s0.maxFds, i.s1.maxFds),
    loopDelayP99: i.s1.loopDelayP99,
    perSocket: sockets >= 50 ? { rssBytes: Math.round((i.s1.rss - i.before.rss) / sockets), heapBytes: Math.round((i.s1.heapUsed - i.before.heapUsed) / sockets), sockets } : undefined,
    attacker: i.attack$,
    uncaught: i.after.uncaught - i.before.uncaught,
    coolMs: i.coolMs,
    profile: i.profile,
    survived: false,
    line: ''
  }
  return step
}

/** ≥ 99 % good dials, and the near peers' ping p99 within 2× of the same victim's quiet step (the far peers' where there are no near ones) */
export function judgeStep (step: StepResult, quiet?: StepResult): StepResult {
  const ping = (s: StepResult): { p50: number, p99: number, n: number } => s.good.pingNear.n > 0 ? s.good.pingNear : s.good.pingFar
  const lost: string[] = []
  if (step.good.dialPct < 99) lost.push(`dials ${step.good.dialPct} %`)
  if (quiet != null && step.rate > 0 && ping(step).p99 > 2 * ping(quiet).p99) lost.push(`ping p99 ${ping(step).p99} ms > 2 × ${ping(quiet).p99}`)
  if (ping(step).n === 0) lost.push('no ping answered')
  if (step.good.longLivedLost > 0) lost.push(`${step.good.longLivedLost} long-lived connections lost`)
  const a$ = step.attacker
  if (quiet != null && a$ != null && a$.connected > 0) {
    const above = step.cpuUs - quiet.cpuUs * step.windowMs / Math.max(1, quiet.windowMs)
    step.cpuUsPerAttack = Math.max(0, Math.round(above / (a$.connected * (step.windowMs / 1000) / a$.durationSec)))
  }
  step.survived = lost.length === 0
  step.lost = lost.length > 0 ? lost.join(', ') : undefined
  const a = step.attacker
  step.line = `${step.attack} ${String(step.rate).padStart(4)}/s ${step.victim.padEnd(12)} ` +
    `dials ${step.good.dialsOk}/${step.good.dials} (${step.good.dialPct} %) in p50 ${step.good.dialMs.p50} ms (far ${step.good.dialMsFar.p50}); ${step.good.notConnected > 0 ? `${step.good.notConnected} peers not connected; ` : ''}` +
    `ping near p50/p99 ${step.good.pingNear.p50}/${step.good.pingNear.p99} ms, far ${step.good.pingFar.p50}/${step.good.pingFar.p99}; ` +
    `echo ${step.good.echoKiBps} KiB/s; cpu ${step.victimCpuPct} %${step.cpuUsPerAttack != null ? ` (${step.cpuUsPerAttack} µs per attack socket)` : ''}, rss ${step.maxRssMiB} MiB, fds ${step.maxFds}; ` +
    (a != null ? `attack ${a.connected}/${a.attempts} connected, lived p50 ${Math.round(a.lifetimeMs.p50)} ms, ${a.openAtEnd} open at end; ` : '') +
    `uncaught ${step.uncaught}; ${step.survived ? 'kept' : `LOST (${step.lost ?? ''})`}`
  return step
}

export function highestSurvived (steps: StepResult[], victims: string[], attacks: string[], kept = (s: StepResult): boolean => s.survived): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {}
  for (const attack of attacks) {
    out[attack] = {}
    for (const victim of victims) {
      let highest = 0
      for (const s of steps.filter((x) => x.attack === attack && x.victim === victim && x.rate > 0).sort((a, b) => a.rate - b.rate)) {
        if (!kept(s)) break
        highest = s.rate
      }
      out[attack][victim] = highest
    }
  }
  return out
}

/** The claims of issue 22 that this run can judge, each a line; the last line is `flood: PASS|FAIL …` */
export function verdict (r: FloodResult, expect?: { victim: string, rate: number }): { pass: boolean, lines: string[], last: string } {
  const lines: string[] = []
  const failed: string[] = []
  const held: string[] = []
  for (const [attack, byVictim] of Object.entries(r.highest)) {
    lines.push(`flood: ${attack} highest rate kept: ${Object.entries(byVictim).map(([v, rate]) => `${v} ${rate}/s`).join(', ')}`)
    lines.push(`flood: ${attack} highest rate kept by dials alone: ${Object.entries(r.highestByDials[attack]).map(([v, rate]) => `${v} ${rate}/s`).join(', ')}`)
  }
  const rxUncaught = r.steps.filter((s) => s.victim.startsWith('rx') && s.uncaught > 0)
  if (rxUncaught.length > 0) failed.push(`${rxUncaught.length} rx-tcp steps with uncaught errors`)
  if (expect != null) {
    for (const s of r.steps.filter((x) => x.victim === expect.victim && x.rate === expect.rate)) {
      const claim = `${expect.victim} keeps ${s.good.dialPct} % of good dials at ${s.rate}/s ${s.attack}`
      ;(s.good.dialPct >= 99 ? held : failed).push(claim)
    }
    if (held.length + failed.length === 0) failed.push(`no step of ${expect.victim} at ${expect.rate}/s`)
  } else {
    for (const attack of Object.keys(r.highest)) {
      const at = (victim: string): StepResult[] => r.steps.filter((s) => s.attack === attack && s.victim === victim && s.rate > 0)
      if (at('rx-bare').length > 0 && at('tcp-default').length > 0) {
        const win = at('rx-bare').find((s) => s.good.dialPct >= 99 && at('tcp-default').some((t) => t.rate === s.rate && t.good.dialPct === 0))
        const claim = win != null ? `${attack}: rx-bare keeps ${win.good.dialPct} % of good dials at ${win.rate}/s where tcp-default keeps 0 %` : `${attack}: no rate where rx-bare keeps ≥ 99 % and tcp-default none`
        ;(win != null ? held : failed).push(claim)
      }
      const pub = r.highest[attack]['rx-public']
      const tuned = r.highest[attack]['tcp-tuned']
      if (pub != null && tuned != null) {
        // by the full criterion and by dials alone: a quiet step's noisy ping p99 must not hand either side a win
        const pubDials = r.highestByDials[attack]['rx-public']
        const tunedDials = r.highestByDials[attack]['tcp-tuned']
        const ratio = (a: number, b: number): string => b === 0 ? '∞' : String(Math.round(a / b * 10) / 10)
        const claim = `${attack}: rx-public keeps ${pub}/s, ${ratio(pub, tuned)}× tcp-tuned's ${tuned}/s (by dials alone ${pubDials}/s, ${ratio(pubDials, tunedDials)}× ${tunedDials}/s)`
        ;(pub >= 2 * tuned && pub > 0 && pubDials >= 2 * tunedDials ? held : failed).push(claim)
      }
    }
  }
  for (const claim of held) lines.push(`flood: held: ${claim}`)
  for (const claim of failed) lines.push(`flood: not held: ${claim}`)
  const pass = failed.length === 0
  return { pass, lines, last: `flood: ${pass ? 'PASS' : 'FAIL'} ${pass ? held.length : failed.length} of ${held.length + failed.length} claims ${pass ? 'held' : 'not held'}; seed ${r.seed}` }
}
