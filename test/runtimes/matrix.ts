// npm run runtimes:matrix -- [--runtimes node22,bun] [--checks close,chaos] [--chaos-rounds 20] [--seed N] [--timeout S] [--out FILE] [--record NAME] [--chart FILE]
/**
 * The runtime matrix: each check (the compliance suite, interop with
 * `@libp2p/tcp`, the close contract, a bounded chaos run) run by vitest itself
 * on each runtime (Node 22, 24 and 26, Bun, Deno), installed first by
 * `install.sh`. Prints a progress line per cell, then the table, writes the
 * JSON and an SVG chart drawn from it, and ends `runtimes-matrix: PASS …` or
 * `runtimes-matrix: FAIL …`.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseCli, replayCommand } from '../fixtures/cli.ts'
import { recordHelp, resultFile, shown, sibling } from '../fixtures/results.ts'
import { randomSeed } from '../fixtures/seed.ts'
import { matrixSvg } from './chart.ts'
import { CHECKS, IDENTITY_SPEC, vitestCommand } from './checks.ts'
import { RUNTIMES, whichRuntimes } from './which.ts'
import type { Check, CheckOptions } from './checks.ts'
import type { Runtime, RuntimeBinary } from './which.ts'

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
/** where the committed runs the docs quote live */
const COMMITTED = 'test/runtimes/results'
/** each cell's vitest report and log, for a user's run and a recorded one alike (never committed) */
const CELLS = join(repo, '.results', 'runtimes-matrix', 'cells')

/** One cell of the matrix: one check on one runtime. */
export interface Cell {
  runtime: Runtime
  version: string
  check: string
  ok: boolean
  passed: number
  failed: number
  skipped: number
  durationMs: number
  /** why a cell failed beyond its failed tests (timeout, no report, a crash) */
  note?: string
  /** the failed tests' names with the first line of their error */
  failures: string[]
  log: string
}

/** What the matrix writes as JSON. */
export interface MatrixResult {
  tool: 'runtimes-matrix'
  date: string
  seed: number
  chaosRounds: number
  runtimes: RuntimeBinary[]
  checks: string[]
  cells: Cell[]
  totals: { cells: number, cellsFailed: number, passed: number, failed: number, skipped: number, durationMs: number }
}

function options (): { runtimes: Runtime[], checks: Check[], opts: CheckOptions, timeoutMs: number, json: string, record: boolean, chart?: string } {
  const values = parseCli({
    tool: 'runtimes:matrix',
    summary: 'The runtime matrix: each check run by vitest itself on each runtime (installed first by test/runtimes/install.sh,\ncached). Prints a line per cell and the table; the JSON and its chart go to .results/runtimes-matrix/ unless --record or --out.\nchecks: ' +
      CHECKS.map(c => `${c.name} (${c.description})`).join('; '),
    options: {
      runtimes: { type: 'list', choices: RUNTIMES, default: RUNTIMES, placeholder: 'A,B', description: 'runtimes to run on' },
      checks: { type: 'list', choices: CHECKS.map(c => c.name), default: CHECKS.map(c => c.name), placeholder: 'A,B', description: 'checks to run' },
      'chaos-rounds': { type: 'integer', min: 1, default: 20, description: 'rounds of the chaos check on each runtime' },
      seed: { type: 'integer', min: 0, description: 'chaos seed, the same on every runtime (default: drawn, printed)' },
      timeout: { type: 'integer', min: 1, default: 300, placeholder: 'S', description: 'seconds one cell may take before it is killed and failed' },
      out: { type: 'string', placeholder: 'FILE', description: 'write the JSON (and its chart, .svg) there' },
      record: { type: 'string', placeholder: 'NAME', description: recordHelp('runtimes-matrix', COMMITTED) },
      chart: { type: 'string', placeholder: 'FILE', description: 'only redraw the chart of a JSON this tool wrote (next to it, .svg), then exit' }
    },
    examples: ['npm run runtimes:matrix -- --runtimes bun,deno --checks close,chaos', 'npm run runtimes:matrix -- --record 2026-12-01']
  })
  const checks = values.checks.map(name => CHECKS.find(c => c.name === name) as Check)
  const seed = values.seed ?? randomSeed()
  const json = values.chart != null ? resolve(values.chart) : resultFile({ tool: 'runtimes-matrix', committed: COMMITTED, name: 'latest', record: values.record, out: values.out })
  return { runtimes: values.runtimes, checks, opts: { chaosRounds: values['chaos-rounds'], seed }, timeoutMs: values.timeout * 1000, json, record: values.record != null, chart: values.chart }
}

interface VitestReport {
  numPassedTests: number
  numFailedTests: number
  numPendingTests: number
  numTodoTests?: number
  testResults?: Array<{ name: string, status: string, message?: string, assertionResults?: Array<{ fullName: string, status: string, failureMessages?: string[] }> }>
}

/** Runs one check on one runtime, killing the whole process group past `timeoutMs` */
async function runCell (rt: RuntimeBinary, check: Check, opts: CheckOptions, timeoutMs: number): Promise<Cell> {
  const base = `${rt.runtime}-${check.name}`
  const report = join(CELLS, `${base}.json`)
  const log = join(CELLS, `${base}.log`)
  mkdirSync(dirname(report), { recursive: true })
  mkdirSync(dirname(log), { recursive: true })
  rmSync(report, { force: true })
  const args = ['run', ...check.files, IDENTITY_SPEC, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`]
  const [cmd, ...rest] = vitestCommand(rt.runtime, rt.path, args)
  const started = performance.now()
  const child = spawn(cmd, rest, {
    cwd: repo,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...check.env?.(opts), RX_TCP_RUNTIME: rt.runtime, RX_TCP_RUNTIME_VERSION: rt.version, NO_COLOR: '1', FORCE_COLOR: '0', CI: process.env.CI ?? '' }
  })
  const chunks: Buffer[] = []
  child.stdout.on('data', (b: Buffer) => chunks.push(b))
  child.stderr.on('data', (b: Buffer) => chunks.push(b))
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    try { process.kill(-(child.pid ?? 0), 'SIGKILL') } catch {}
  }, timeoutMs)
  const code = await new Promise<number | null>(resolve => child.on('close', (c) => { resolve(c) }))
  clearTimeout(timer)
  // a worker the runner left behind must not outlive the cell
  try { process.kill(-(child.pid ?? 0), 'SIGKILL') } catch {}
  const durationMs = performance.now() - started
  writeFileSync(log, Buffer.concat(chunks))

  const cell: Cell = { runtime: rt.runtime, version: rt.version, check: check.name, ok: false, passed: 0, failed: 0, skipped: 0, durationMs, failures: [], log: relative(repo, log) }
  if (timedOut) {
    cell.failed = 1
    cell.note = `killed after ${timeoutMs / 1000} s`
    return cell
  }
  if (!existsSync(report)) {
    cell.failed = 1
    cell.note = `vitest exited ${code} without a report`
    return cell
  }
  const r = JSON.parse(readFileSync(report, 'utf8')) as VitestReport
  const files = r.testResults ?? []
  // a file that failed to load or run has no failed test of its own, but it failed
  const brokenFiles = files.filter(f => f.status === 'failed' && (f.assertionResults ?? []).every(a => a.status !== 'failed'))
  cell.passed = r.numPassedTests
  cell.failed = r.numFailedTests + brokenFiles.length
  cell.skipped = r.numPendingTests + (r.numTodoTests ?? 0)
  for (const f of files) {
    for (const a of f.assertionResults ?? []) {
      if (a.status === 'failed') cell.failures.push(`${a.fullName}: ${(a.failureMessages?.[0] ?? '').split('\n')[0]}`)
    }
  }
  for (const f of brokenFiles) cell.failures.push(`${relative(repo, f.name)}: ${(f.message ?? 'failed').split('\n')[0]}`)
  const identity = files.find(f => f.name.endsWith(IDENTITY_SPEC))?.assertionResults?.[0]
  if (identity?.status !== 'passed') {
    cell.note = `the runtime check did not pass (${identity?.status ?? 'not run'}): the tests may not have run on ${rt.runtime}`
    cell.failed += identity?.status === 'failed' ? 0 : 1
  } else if (code !== 0 && cell.failed === 0) {
    // vitest exits non-zero on errors outside any test (an unhandled rejection)
    cell.note = `vitest exited ${code}: errors outside the tests (see the log)`
    cell.failed = 1
  }
  // the identity test is the matrix's own, not one of the check's
  if (identity?.status === 'passed') cell.passed -= 1
  cell.ok = cell.failed === 0 && cell.passed > 0
  if (!cell.ok && cell.failed === 0) {
    cell.note = 'no test of the check passed'
    cell.failed = 1
  }
  return cell
}

function cellText (c: Cell | undefined): string {
  if (c == null) return '-'
  return `${c.ok ? 'PASS' : 'FAIL'} ${c.passed}/${c.passed + c.failed}${c.skipped > 0 ? ` (${c.skipped} skip)` : ''} ${(c.durationMs / 1000).toFixed(0)}s`
}

/** The table runtime × check, as printed */
export function table (result: MatrixResult): string {
  const head = ['runtime', ...result.checks]
  const rows = result.runtimes.map(rt => [`${rt.runtime} ${rt.version}`, ...result.checks.map(ch => cellText(result.cells.find(c => c.runtime === rt.runtime && c.check === ch)))])
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)))
  const line = (cols: string[]): string => `| ${cols.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`
  return [line(head), `|${widths.map(w => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n')
}

async function main (): Promise<void> {
  const { runtimes, checks, opts, timeoutMs, json, record, chart } = options()
  if (chart != null) {
    const saved = JSON.parse(readFileSync(json, 'utf8')) as MatrixResult
    const svg = sibling(json, '.svg')
    writeFileSync(svg, matrixSvg(saved))
    console.log(table(saved))
    console.log(`runtimes-matrix: chart drawn to ${shown(svg)}`)
    return
  }
  console.log(`runtimes-matrix: runtimes=${runtimes.join(',')} checks=${checks.map(c => c.name).join(',')} chaos-rounds=${opts.chaosRounds} seed=${opts.seed} timeout=${timeoutMs / 1000}s`)
  console.log(`runtimes-matrix: replay with: ${replayCommand('runtimes:matrix', { runtimes, checks: checks.map(c => c.name), 'chaos-rounds': opts.chaosRounds, seed: opts.seed, timeout: timeoutMs / 1000 })}`)
  let binaries: RuntimeBinary[]
  try {
    binaries = whichRuntimes(runtimes)
  } catch (err) {
    console.log(`runtimes-matrix: FAIL could not install the runtimes: ${(err as Error).message.split('\n')[0]}`)
    process.exitCode = 1
    return
  }
  for (const b of binaries) console.log(`runtimes-matrix: ${b.runtime} ${b.version} at ${relative(repo, b.path)}`)

  const started = performance.now()
  const cells: Cell[] = []
  for (const rt of binaries) {
    for (const check of checks) {
      console.log(`runtimes-matrix: ${rt.runtime} ${check.name} ...`)
      const cell = await runCell(rt, check, opts, timeoutMs)
      cells.push(cell)
      console.log(`runtimes-matrix: ${rt.runtime} ${check.name} ${cellText(cell)}${cell.note != null ? ` (${cell.note})` : ''}`)
      for (const f of cell.failures.slice(0, 10)) console.log(`runtimes-matrix:   failed: ${f}`)
      if (!cell.ok) {
        // CI keeps only what is printed: the end of the log says what happened
        const tail = readFileSync(join(repo, cell.log), 'utf8').split('\n').slice(-40)
        console.log(`runtimes-matrix:   last lines of ${cell.log}:\n${tail.map(l => `    ${l}`).join('\n')}`)
      }
    }
  }
  const totals = {
    cells: cells.length,
    cellsFailed: cells.filter(c => !c.ok).length,
    passed: cells.reduce((n, c) => n + c.passed, 0),
    failed: cells.reduce((n, c) => n + c.failed, 0),
    skipped: cells.reduce((n, c) => n + c.skipped, 0),
    durationMs: Math.round(performance.now() - started)
  }
  const result: MatrixResult = { tool: 'runtimes-matrix', date: new Date().toISOString(), seed: opts.seed, chaosRounds: opts.chaosRounds, runtimes: binaries, checks: checks.map(c => c.name), cells, totals }

  writeFileSync(json, JSON.stringify(result, null, 2) + '\n')
  const svg = sibling(json, '.svg')
  writeFileSync(svg, matrixSvg(result))
  console.log('')
  console.log(table(result))
  console.log('')
  console.log(`runtimes-matrix: ${record ? 'recorded' : 'JSON written'} to ${shown(json)}, chart to ${shown(svg)}, each cell's log in ${shown(CELLS)}`)
  const verdict = totals.cellsFailed === 0 ? 'PASS' : 'FAIL'
  console.log(`runtimes-matrix: ${verdict} ${totals.cells - totals.cellsFailed}/${totals.cells} cells, ${totals.passed} tests passed, ${totals.failed} failed, ${totals.skipped} skipped in ${(totals.durationMs / 1000).toFixed(0)} s (seed ${opts.seed})`)
  process.exitCode = verdict === 'PASS' ? 0 : 1
}

await main()
