// npm run runtimes -- [--runtime node22,node24,node26,bun,deno] [--transport rx,ref] [--nodes 5]
//   [--minutes 5 | --seconds N] [--seed N] [--parallel 2] [--record NAME]   (--help for all)
// npm run runtimes -- --chart .results/runtimes/latest.json   draws the chart again from a run's JSON
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomSeed } from '../fixtures/seed.ts'
import { parseCli, replayCommand } from '../fixtures/cli.ts'
import { drawChartOnly, recordHelp, resultFile, shown, sibling } from '../fixtures/results.ts'
import { RUNTIMES, whichRuntimes } from '../runtimes/which.ts'
import { renderChurnChart } from './chart.ts'
import { formatTable, verdict } from './report.ts'
import type { RuntimeBinary } from '../runtimes/which.ts'
import type { ChurnResult } from './churn.ts'
import type { ChurnTransport } from './node.ts'
import type { ChurnReport, ChurnRun } from './report.ts'

const values = parseCli({
  tool: 'runtimes',
  summary: 'A churn of K libp2p nodes in one process, on each runtime, for rx-tcp and @libp2p/tcp on the same seed: dials aborted\n' +
    'after 1-60 ms, full dials, pings, hang-ups, a node stopped and replaced every 2-5 s. Counts uncaught exceptions and unhandled\n' +
    'rejections; PASS means 0 for rx-tcp on every runtime, nothing left after the last stop() and a process that exits by itself.\n' +
    'Writes .results/runtimes/ unless --record or --out.',
  options: {
    runtime: { type: 'list', choices: RUNTIMES, default: RUNTIMES, description: 'runtimes to run on' },
    transport: { type: 'list', choices: ['rx', 'ref'], default: ['rx', 'ref'], description: 'rx (rx-tcp), ref (@libp2p/tcp) or both' },
    nodes: { type: 'integer', min: 2, default: 5, description: 'nodes per churn' },
    minutes: { type: 'number', above: 0, default: 5, description: 'length of each churn' },
    seconds: { type: 'number', above: 0, description: 'length of each churn in seconds (wins over --minutes; short runs)' },
    seed: { type: 'integer', min: 0, description: 'seed of the operations (default: random, printed for replay)' },
    parallel: { type: 'integer', min: 1, default: 2, description: 'children at once (2: a runtime\'s two transports side by side)' },
    'exit-timeout': { type: 'number', above: 0, default: 10, placeholder: 'S', description: 'seconds a child may take to exit by itself after its result' },
    out: { type: 'string', placeholder: 'FILE', description: 'write the JSON (and the chart next to it) to FILE' },
    record: { type: 'string', placeholder: 'NAME', description: recordHelp('runtimes', 'docs/results') },
    chart: { type: 'string', placeholder: 'FILE', description: 'draw the chart again from a run\'s JSON, next to it, and stop' }
  },
  examples: ['npm run runtimes -- --seconds 20', 'npm run runtimes -- --runtime bun --minutes 3', 'npm run runtimes -- --seed 20261201 --record runtimes-2026-12-01', 'CHURN_TRACE=1 npm run runtimes -- --runtime bun']
})

drawChartOnly('runtimes', values.chart, renderChurnChart)

const runtimes = values.runtime
const transports = values.transport
const nodes = values.nodes
const seconds = values.seconds ?? values.minutes * 60
const seed = values.seed ?? randomSeed()
const parallel = values.parallel
const exitTimeoutMs = values['exit-timeout'] * 1000

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const child = resolve(repo, 'test/churn/child.ts')

/** how each runtime runs a TypeScript entry point: Node through tsx, Bun and Deno natively */
function command (bin: RuntimeBinary, args: string[]): [string, string[]] {
  switch (bin.runtime) {
    case 'bun': return [bin.path, [child, ...args]]
    case 'deno': return [bin.path, ['run', '--allow-all', child, ...args]]
    default: return [bin.path, ['--import', 'tsx', child, ...args]]
  }
}

const started = Date.now()
const stamp = (): string => `[${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s]`

async function runChild (bin: RuntimeBinary, transport: ChurnTransport): Promise<ChurnRun> {
  const [file, args] = command(bin, ['--transport', transport, '--nodes', String(nodes), '--seconds', String(seconds), '--seed', String(seed), '--label', bin.runtime])
  const run: ChurnRun = { runtime: bin.runtime, version: bin.version, transport, exitCode: null }
  const proc = spawn(file, args, { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } })
  let out = ''
  let err = ''
  let resultAt: number | undefined
  proc.stdout.setEncoding('utf8')
  proc.stdout.on('data', (chunk: string) => {
    out += chunk
    if (resultAt == null && out.includes('churn-result ')) {
      const line = out.slice(out.indexOf('churn-result ')).split('\n')
      if (line.length > 1) {
        resultAt = performance.now()
        try {
          run.result = JSON.parse(line[0].slice('churn-result '.length)) as ChurnResult
        } catch (e: any) {
          run.error = `unreadable result: ${String(e?.message)}`
        }
      }
    }
  })
  proc.stderr.setEncoding('utf8')
  proc.stderr.on('data', (chunk: string) => {
    err += chunk
    const lines = err.split('\n')
    err = lines.pop() ?? ''
    for (const l of lines) if (l.trim() !== '') console.log(`${stamp()} ${l}`)
  })
  // the whole churn, its start and its stops, with room for a loaded machine
  const hang = setTimeout(() => {
    run.error = `no result after ${seconds + 120} s: killed`
    proc.kill('SIGKILL')
  }, (seconds + 120) * 1000)
  const exited = new Promise<void>((resolve) => {
    proc.once('exit', (code, signal) => {
      run.exitCode = code ?? (signal != null ? -1 : null)
      if (resultAt != null && signal == null) run.exitMs = Math.round(performance.now() - resultAt)
      resolve()
    })
  })
  // once the result is out the process must exit by itself, within the bound
  const exitWatch = setInterval(() => {
    if (resultAt != null && performance.now() - resultAt > exitTimeoutMs) {
      run.error ??= `did not exit within ${exitTimeoutMs / 1000} s of its result: killed`
      proc.kill('SIGKILL')
    }
  }, 100)
  await exited
  clearTimeout(hang)
  clearInterval(exitWatch)
  if (err.trim() !== '') console.log(`${stamp()} ${err}`)
  if (run.result == null && run.error == null) run.error = `exited with code ${String(run.exitCode)} and no result`
  return run
}

const loadBefore = loadavg()
const bins = whichRuntimes(runtimes)
console.log(`runtimes: seed=${seed} nodes=${nodes} seconds=${seconds} transports=${transports.join(',')} parallel=${parallel} on ${bins.map(b => `${b.runtime} ${b.version}`).join(', ')}`)
console.log(`runtimes: machine: ${cpus().length} CPUs, load average ${loadBefore.map(l => l.toFixed(1)).join(' ')} before the run`)
console.log(`runtimes: replay with: ${replayCommand('runtimes', { seed, nodes, seconds, runtime: runtimes, transport: transports })}`)

// runtime by runtime, both transports of one runtime next to each other in the queue,
// so that with --parallel 2 they run at the same time and see the same load
const jobs = bins.flatMap(bin => transports.map(transport => ({ bin, transport })))
const runs: ChurnRun[] = new Array(jobs.length)
let next = 0
await Promise.all(Array.from({ length: Math.min(parallel, jobs.length) }, async () => {
  while (next < jobs.length) {
    const i = next++
    const { bin, transport } = jobs[i]
    console.log(`${stamp()} runtimes[${bin.runtime}/${transport}] starting (${bin.runtime} ${bin.version})`)
    const r = runs[i] = await runChild(bin, transport)
    const c = r.result
    console.log(`${stamp()} runtimes[${bin.runtime}/${transport}] done: ${c == null ? r.error : `${c.operations.total} operations, ${c.uncaught.total} uncaught, stop() p50 ${c.stopMs.p50} ms max ${c.stopMs.max} ms, handles left ${c.handles.left}, exit after ${r.exitMs ?? '—'} ms`}`)
    for (const e of c?.uncaught.byMessage.slice(0, 5) ?? []) console.log(`${stamp()} runtimes[${bin.runtime}/${transport}]   ${e.count}× ${e.kind}: ${e.message}`)
  }
}))

const result = verdict(runs)
const report: ChurnReport = {
  date: new Date().toISOString(),
  params: { runtimes, transports, nodes, seconds, seed, parallel },
  machine: { cpus: cpus().length, loadBefore, loadAfter: loadavg() },
  runs,
  verdict: result
}
const file = resultFile({ tool: 'runtimes', committed: 'docs/results', name: 'latest', record: values.record, out: values.out })
writeFileSync(file, JSON.stringify(report, null, 2) + '\n')
writeFileSync(sibling(file, '.svg'), renderChurnChart(report))
console.log('')
console.log(formatTable(runs))
console.log('')
console.log(`runtimes: results in ${shown(file)}, chart ${shown(sibling(file, '.svg'))}`)
for (const r of result.reasons) console.log(`runtimes: ${r}`)
console.log(`runtimes: ${result.pass ? 'PASS' : 'FAIL'} ${result.line}`)
process.exitCode = result.pass ? 0 : 1
