// npm run runtimes -- [--runtime node22,node24,node26,bun,deno] [--transport rx,ref] [--nodes 5]
//   [--minutes 5 | --seconds N] [--seed N] [--parallel 2] [--record docs/results/runtimes-<name>.json]
// npm run runtimes -- --chart .results/runtimes/latest.json   draws the chart again from a run's JSON
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { randomSeed } from '../chaos/random.ts'
import { isRuntime, RUNTIMES, whichRuntimes } from '../runtimes/which.ts'
import { renderChurnChart } from './chart.ts'
import { formatTable, verdict } from './report.ts'
import type { Runtime, RuntimeBinary } from '../runtimes/which.ts'
import type { ChurnResult } from './churn.ts'
import type { ChurnTransport } from './node.ts'
import type { ChurnReport, ChurnRun } from './report.ts'

const HELP = `npm run runtimes -- [options]
  A churn of K libp2p nodes in one process, on each runtime, for rx-tcp and
  @libp2p/tcp on the same seed: dials aborted after 1-60 ms, full dials, pings,
  hang-ups, and a node stopped and replaced every 2-5 s. Counts uncaught
  exceptions and unhandled rejections; PASS means 0 for rx-tcp everywhere.
  --runtime LIST     runtimes, comma-separated (default ${RUNTIMES.join(',')})
  --transport LIST   rx, ref or both (default rx,ref)
  --nodes N          nodes per churn, at least 2 (default 5)
  --minutes M        length of each churn (default 5)
  --seconds S        length of each churn in seconds (overrides --minutes; short runs)
  --seed N           seed of the operations, printed for replay (default: random)
  --parallel N       children running at once (default 2: a runtime's two transports side by side)
  --exit-timeout S   how long a child may take to exit by itself after its result (default 10)
  --out DIR          where the JSON and the chart go (default .results/runtimes)
  --record FILE      also write the JSON (and the chart next to it) to FILE, for a run the docs quote
  --chart FILE       draw the chart again from a run's JSON, next to it, and stop
  --help             this text`

function usage (problem: string): never {
  console.error(`runtimes: ${problem}\n\n${HELP}`)
  process.exit(2)
}

let values
try {
  ({ values } = parseArgs({
    strict: true,
    allowPositionals: false,
    options: {
      runtime: { type: 'string', default: RUNTIMES.join(',') },
      transport: { type: 'string', default: 'rx,ref' },
      nodes: { type: 'string', default: '5' },
      minutes: { type: 'string', default: '5' },
      seconds: { type: 'string' },
      seed: { type: 'string' },
      parallel: { type: 'string', default: '2' },
      'exit-timeout': { type: 'string', default: '10' },
      out: { type: 'string', default: '.results/runtimes' },
      record: { type: 'string' },
      chart: { type: 'string' },
      help: { type: 'boolean', default: false }
    }
  }))
} catch (err: any) {
  usage(String(err?.message ?? err).split('\n')[0])
}

if (values.help) {
  console.log(HELP)
  process.exit(0)
}

if (values.chart != null) {
  const svg = values.chart.replace(/\.json$/, '') + '.svg'
  writeFileSync(svg, renderChurnChart(JSON.parse(readFileSync(values.chart, 'utf8'))))
  console.log(`runtimes: chart ${svg} drawn from ${values.chart}`)
  process.exit(0)
}

function positive (name: string, text: string, min = 1): number {
  const n = Number(text)
  if (!/^\d+(\.\d+)?$/.test(text) || !Number.isFinite(n) || n < min) usage(`--${name} must be a number of at least ${min}, not '${text}'`)
  return n
}

const runtimes = values.runtime.split(',').map(s => s.trim())
for (const r of runtimes) if (!isRuntime(r)) usage(`--runtime: unknown runtime '${r}' (known: ${RUNTIMES.join(', ')})`)
const transports = values.transport.split(',').map(s => s.trim()) as ChurnTransport[]
for (const t of transports) if (t !== 'rx' && t !== 'ref') usage(`--transport: unknown transport '${t}' (rx or ref)`)
const nodes = Math.floor(positive('nodes', values.nodes, 2))
const seconds = values.seconds != null ? positive('seconds', values.seconds) : positive('minutes', values.minutes, 0.01) * 60
const seed = values.seed != null ? Math.floor(positive('seed', values.seed, 0)) : randomSeed()
const parallel = Math.floor(positive('parallel', values.parallel))
const exitTimeoutMs = positive('exit-timeout', values['exit-timeout']) * 1000

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
const bins = whichRuntimes(runtimes as Runtime[])
console.log(`runtimes: seed=${seed} nodes=${nodes} seconds=${seconds} transports=${transports.join(',')} parallel=${parallel} on ${bins.map(b => `${b.runtime} ${b.version}`).join(', ')}`)
console.log(`runtimes: machine: ${cpus().length} CPUs, load average ${loadBefore.map(l => l.toFixed(1)).join(' ')} before the run`)
console.log(`runtimes: replay with: npm run runtimes -- --seed ${seed} --nodes ${nodes} --seconds ${seconds} --runtime ${runtimes.join(',')} --transport ${transports.join(',')}`)

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
const outDir = resolve(repo, values.out)
mkdirSync(outDir, { recursive: true })
const written = [resolve(outDir, 'latest.json')]
if (values.record != null) written.push(resolve(values.record))
for (const file of written) {
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n')
  writeFileSync(file.replace(/\.json$/, '') + '.svg', renderChurnChart(report))
}
console.log('')
console.log(formatTable(runs))
console.log('')
console.log(`runtimes: results in ${written.join(' and ')} (charts next to them, .svg)`)
for (const r of result.reasons) console.log(`runtimes: ${r}`)
console.log(`runtimes: ${result.pass ? 'PASS' : 'FAIL'} ${result.line}`)
process.exitCode = result.pass ? 0 : 1
