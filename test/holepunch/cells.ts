/**
 * What `npm run holepunch` runs: cells of (who dials whom, the js nodes'
 * transport, the patches), each run for a number of attempts, and the
 * summary of a cell's attempts. A cell that `expects` direct connections is
 * held to the minimum rate; the others are figures beside it.
 */
import { median } from '../../bench/stats.ts'
import { HOLE_TRANSPORT_NAMES } from './transports.ts'
import type { AttemptResult, Side } from './attempt.ts'
import type { HoleTransport } from './transports.ts'

/** `js-js`: a js node dials a js node; `js-go`: a js node dials the go peer; and so on */
export const PAIRS = ['js-js', 'js-go', 'go-js', 'go-go'] as const
export type Pair = typeof PAIRS[number]

export const PATCH_SETS = ['none', 'all'] as const
export type PatchSet = typeof PATCH_SETS[number]

export interface CellSpec {
  pair: Pair
  transport: HoleTransport
  patches: PatchSet
}

export interface Spread { median: number, min: number, max: number, n: number }

export interface CellSummary {
  attempts: number
  direct: number
  /** direct connections in percent of the attempts */
  rate: number
  directMs?: Spread
  pingMs?: Spread
  echoMs?: Spread
  relayedPingMs?: Spread
  relayedLimits?: { bytes?: number, seconds?: number }
  /** attempts with an uncaught exception or an unhandled rejection in a js node */
  uncaught: number
  /** attempts that left a TCP handle open after stop, or a process that did not exit */
  left: number
  /** the errors of the attempts without a direct connection, counted */
  errors: Record<string, number>
}

export interface CellResult extends CellSpec {
  id: string
  label: string
  /** held to `--min-rate` */
  expects: boolean
  attempts: AttemptResult[]
  summary: CellSummary
}

export const sides = (pair: Pair): { dialer: Side, listener: Side } => {
  const [dialer, listener] = pair.split('-') as [Side, Side]
  return { dialer, listener }
}

/** a go node needs no js transport or patch: the cells without js have one variant */
export const hasJs = (pair: Pair): boolean => pair.includes('js')

/**
 * The cells of a full run: js↔js in every transport with and without the
 * patches; js↔go both ways with rx-tcp's default, with and without them;
 * the obstacle-3 policy (every dial from the listen port) where a js node
 * makes DCUtR's unilateral dial; go↔go for reference.
 */
export const DEFAULT_PLAN: readonly CellSpec[] = [
  ...(['ref', 'rx-noreuse', 'rx-reuse'] as const).flatMap((transport) => PATCH_SETS.map((patches) => ({ pair: 'js-js' as const, transport, patches }))),
  { pair: 'js-js', transport: 'rx-reuse-always', patches: 'all' },
  ...(['js-go', 'go-js'] as const).flatMap((pair) => PATCH_SETS.map((patches) => ({ pair, transport: 'rx-reuse' as const, patches }))),
  { pair: 'go-js', transport: 'rx-reuse-always', patches: 'all' },
  { pair: 'go-go', transport: 'rx-reuse', patches: 'none' }
]

export function cellId (c: CellSpec): string {
  return hasJs(c.pair) ? `${c.pair}/${c.transport}/${c.patches}` : c.pair
}

export function cellLabel (c: CellSpec): string {
  const { dialer, listener } = sides(c.pair)
  const who = `${dialer} dials ${listener}`
  if (!hasJs(c.pair)) return `${who} (go-libp2p both sides)`
  return `${who}, ${HOLE_TRANSPORT_NAMES[c.transport]}, ${c.patches === 'all' ? 'patched libp2p' : 'libp2p as released'}`
}

/**
 * The cells that must reach the minimum rate: rx-tcp with reuse, where the
 * js side that dials with `initiator: false` (the listener, which DCUtR
 * makes the hole punch's multistream-select server) runs the patched libp2p.
 */
export function expectsDirect (c: CellSpec): boolean {
  if (!hasJs(c.pair) || c.transport !== 'rx-reuse') return false
  return c.patches === 'all' && sides(c.pair).listener === 'js'
}

function spread (values: Array<number | undefined>): Spread | undefined {
  const v = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x))
  if (v.length === 0) return undefined
  return { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length }
}

export function summarize (attempts: AttemptResult[]): CellSummary {
  const direct = attempts.filter((a) => a.direct)
  const errors: Record<string, number> = {}
  for (const a of attempts) {
    if (a.direct || a.error == null) continue
    // the same failure in other words per attempt (peer ids, ports, times): keep its shape
    const key = a.error.replace(/12D3Koo\w+/g, '<peer>').replace(/\d+(\.\d+)?/g, 'N').slice(0, 160)
    errors[key] = (errors[key] ?? 0) + 1
  }
  return {
    attempts: attempts.length,
    direct: direct.length,
    rate: attempts.length === 0 ? 0 : Math.round(1000 * direct.length / attempts.length) / 10,
    directMs: spread(direct.map((a) => a.directMs)),
    pingMs: spread(direct.map((a) => a.pingMs)),
    echoMs: spread(direct.map((a) => a.echoMs)),
    relayedPingMs: spread(attempts.map((a) => a.relayedPingMs)),
    relayedLimits: attempts.find((a) => a.relayedLimits != null)?.relayedLimits,
    uncaught: attempts.filter((a) => a.uncaught.length > 0).length,
    left: attempts.filter((a) => a.leftAfterStop.length > 0).length,
    errors
  }
}
