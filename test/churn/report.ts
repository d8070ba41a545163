/**
 * The report of `npm run runtimes`: what each child answered, the table the
 * run prints, and the verdict of its last line.
 */
import { TRANSPORT_NAMES } from './node.ts'
import type { ChurnResult } from './churn.ts'
import type { ChurnTransport } from './node.ts'

/** One child: one runtime, one transport. */
export interface ChurnRun {
  runtime: string
  /** the version the runtime's binary reports */
  version: string
  transport: ChurnTransport
  /** the child's answer; absent when it crashed or hung */
  result?: ChurnResult
  /** ms from the result to the child's exit, which it must reach by itself; absent if it had to be killed */
  exitMs?: number
  exitCode: number | null
  /** what went wrong with the child itself (crash, hang, no result) */
  error?: string
}

export interface ChurnReport {
  date: string
  params: { runtimes: string[], transports: ChurnTransport[], nodes: number, seconds: number, seed: number, parallel: number }
  machine: { cpus: number, loadBefore: number[], loadAfter: number[] }
  runs: ChurnRun[]
  verdict: { pass: boolean, line: string, reasons: string[] }
}

const ms = (v: number | undefined): string => v == null ? '—' : v >= 100 ? v.toFixed(0) : v.toFixed(1)

/** runtime × transport, one row each, the two transports of a runtime next to each other */
export function formatTable (runs: ChurnRun[]): string {
  const header = ['runtime', 'transport', 'operations', 'uncaught', 'stop() p50 ms', 'stop() max ms', 'stops', 'handles left', 'exit after ms']
  const rows = runs.map(r => {
    const c = r.result
    return [
      `${r.runtime} ${r.version}`,
      TRANSPORT_NAMES[r.transport],
      c == null ? '—' : String(c.operations.total),
      c == null ? '—' : String(c.uncaught.total),
      ms(c?.stopMs.p50),
      ms(c?.stopMs.max),
      c == null ? '—' : String(c.stopMs.count),
      c == null ? (r.error ?? 'no result') : `${c.handles.left} (${c.handles.method === 'resources' ? 'getActiveResourcesInfo' : 'sockets held, ports'})`,
      (r.exitMs == null ? 'killed' : ms(r.exitMs)) + ((c?.channelsClosed ?? 0) > 0 ? ` (${c?.channelsClosed} channel closed)` : '')
    ]
  })
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(row => row[i].length)))
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`
  return [line(header), `|${widths.map(w => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n')
}

/**
 * PASS when every rx-tcp child ran to its end with 0 uncaught exceptions and
 * unhandled rejections, nothing of the transport left after the final
 * stop(), and then exited by itself. `@libp2p/tcp`'s figures are the
 * comparison, not the verdict.
 */
export function verdict (runs: ChurnRun[]): ChurnReport['verdict'] {
  const reasons: string[] = []
  const rx = runs.filter(r => r.transport === 'rx')
  for (const r of rx) {
    const name = `${r.runtime}/rx-tcp`
    if (r.result == null) {
      reasons.push(`${name}: ${r.error ?? 'no result'}`)
      continue
    }
    if (r.result.uncaught.total > 0) reasons.push(`${name}: ${r.result.uncaught.total} uncaught (${r.result.uncaught.byMessage.slice(0, 2).map(e => `${e.count}× ${e.message}`).join('; ')})`)
    if (r.result.handles.left > 0) reasons.push(`${name}: ${r.result.handles.left} handles left (${r.result.handles.detail.slice(0, 2).join('; ')})`)
    if (r.exitMs == null) reasons.push(`${name}: did not exit by itself after its last stop()`)
  }
  const ops = rx.reduce((n, r) => n + (r.result?.operations.total ?? 0), 0)
  const uncaught = rx.reduce((n, r) => n + (r.result?.uncaught.total ?? 0), 0)
  const ref = runs.filter(r => r.transport === 'ref')
  const refUncaught = ref.reduce((n, r) => n + (r.result?.uncaught.total ?? 0), 0)
  const pass = reasons.length === 0 && rx.length > 0
  const line = `${uncaught} uncaught for rx-tcp over ${ops} operations on ${rx.map(r => r.runtime).join(', ')}` +
    (ref.length > 0 ? `; @libp2p/tcp on the same seed: ${refUncaught} uncaught` : '') +
    (pass ? '' : ` (${reasons.length} problem${reasons.length === 1 ? '' : 's'})`)
  return { pass, line, reasons }
}
