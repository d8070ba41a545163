// npm run worker-exit -- [--runtime node22,node24,node26,bun,deno] [--transport rx,ref] [--reps 3] [--bound 5000] [--record NAME]   (--help for all)
// A libp2p node in a worker thread, stopped with connections, dials and
// handshakes in flight; how long after stop() resolved the thread exits by
// itself, on each runtime, for rx-tcp and @libp2p/tcp. One child process per
// runtime runs this same file with --child and answers JSON.
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { median } from '../../bench/stats.ts'
import { parseCli } from '../fixtures/cli.ts'
import { recordHelp, resultFile, shown } from '../fixtures/results.ts'
import { RUNTIMES, whichRuntimes } from '../runtimes/which.ts'
import { TRANSPORT_NAMES } from '../churn/node.ts'
import type { RuntimeBinary } from '../runtimes/which.ts'
import type { ChurnTransport } from '../churn/node.ts'
import type { WorkerExitResult } from './host.ts'

const values = parseCli({
  tool: 'worker-exit',
  summary: 'A libp2p node in a worker_threads Worker (inbound and outbound connections, two dials in flight, two inbound\n' +
    'handshakes halfway) is stopped and its code returns without process.exit: how long until the thread exits by itself,\n' +
    'on each runtime, for rx-tcp and @libp2p/tcp. Writes .results/worker-exit/ unless --record or --out.',
  options: {
    runtime: { type: 'list', choices: RUNTIMES, default: RUNTIMES, description: 'runtimes to run on' },
    transport: { type: 'list', choices: ['rx', 'ref'], default: ['rx', 'ref'], description: 'rx (rx-tcp), ref (@libp2p/tcp) or both' },
    reps: { type: 'integer', min: 1, default: 3, description: 'runs per runtime and transport' },
    bound: { type: 'integer', min: 1, default: 5000, placeholder: 'MS', description: 'how long a thread may take to exit after stop()' },
    'close-channels': { type: 'boolean', description: 'also run with the BroadcastChannels that cannot be unref\'d (Deno: mortice\'s) closed after stop()' },
    out: { type: 'string', placeholder: 'FILE', description: 'write the JSON to FILE' },
    record: { type: 'string', placeholder: 'NAME', description: recordHelp('worker-exit', 'docs/results') },
    child: { type: 'boolean', description: 'run the runs in this runtime and answer one JSON line (what the parent spawns)' }
  },
  examples: ['npm run worker-exit -- --runtime node22,node24,node26 --reps 2', 'npm run worker-exit -- --runtime deno --close-channels --bound 20000']
})
const runtimes = values.runtime
const transports = values.transport
const reps = values.reps
const boundMs = values.bound

interface Row { runtime: string, version: string, transport: ChurnTransport, closeChannels: boolean, results: WorkerExitResult[], error?: string }

if (values.child) {
  // in the runtime under test: every transport × rep here, one JSON line out
  // first, so that it sees the channels libp2p opens (Deno's cannot be unref'd)
  await import('../churn/channels.ts')
  const { runWorkerExit } = await import('./host.ts')
  const out: Array<{ transport: ChurnTransport, closeChannels: boolean, results: WorkerExitResult[], error?: string }> = []
  for (const closeChannels of values['close-channels'] ? [false, true] : [false]) {
    for (const transport of transports) {
      const results: WorkerExitResult[] = []
      try {
        for (let i = 0; i < reps; i++) results.push(await runWorkerExit({ transport, boundMs, closeChannels }))
        out.push({ transport, closeChannels, results })
      } catch (err: any) {
        out.push({ transport, closeChannels, results, error: `${err?.name}: ${err?.message}` })
      }
      process.stderr.write(`worker-exit: ${transport}${closeChannels ? ' (channels closed)' : ''}: ${results.map(r => r.exitAfterMs ?? 'no exit').join(', ')}\n`)
    }
  }
  process.stdout.write(`worker-exit-result ${JSON.stringify(out)}\n`)
  // the host's own nodes are stopped; on Deno mortice's channel would hold this process too
  const { closeHeldChannels } = await import('../churn/channels.ts')
  closeHeldChannels()
} else {
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
  const self = fileURLToPath(import.meta.url)
  const command = (bin: RuntimeBinary, args: string[]): [string, string[]] => {
    switch (bin.runtime) {
      case 'bun': return [bin.path, [self, ...args]]
      case 'deno': return [bin.path, ['run', '--allow-all', self, ...args]]
      default: return [bin.path, ['--import', 'tsx', self, ...args]]
    }
  }
  const bins = whichRuntimes(runtimes)
  console.log(`worker-exit: reps=${reps} bound=${boundMs}ms transports=${transports.join(',')} on ${bins.map(b => `${b.runtime} ${b.version}`).join(', ')}; ${cpus().length} CPUs, load ${loadavg().map(l => l.toFixed(1)).join(' ')}`)
  const rows: Row[] = []
  for (const bin of bins) {
    const [file, args] = command(bin, ['--child', '--transport', transports.join(','), '--reps', String(reps), '--bound', String(boundMs), ...(values['close-channels'] ? ['--close-channels'] : [])])
    const proc = spawn(file, args, { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NO_COLOR: '1' } })
    let out = ''
    proc.stdout.setEncoding('utf8').on('data', (c: string) => { out += c })
    const killer = setTimeout(() => { proc.kill('SIGKILL') }, (reps * transports.length * 2 * (boundMs + 30_000)) + 60_000)
    const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => { resolve(c) }))
    clearTimeout(killer)
    const line = out.split('\n').find(l => l.startsWith('worker-exit-result '))
    if (line == null) {
      for (const transport of transports) rows.push({ runtime: bin.runtime, version: bin.version, transport, closeChannels: false, results: [], error: `the ${bin.runtime} child exited with code ${String(code)} and no result` })
      continue
    }
    for (const r of JSON.parse(line.slice('worker-exit-result '.length)) as Array<Omit<Row, 'runtime' | 'version'>>) rows.push({ runtime: bin.runtime, version: bin.version, ...r })
  }
  const fmt = (r: Row): string[] => {
    const exits = r.results.map(x => x.exitAfterMs)
    const ok = exits.filter((x): x is number => x != null)
    const left = [...new Set(r.results.flatMap(x => x.resourcesLeft))].join(', ')
    return [
      `${r.runtime} ${r.version}`,
      TRANSPORT_NAMES[r.transport] + (r.closeChannels ? ' (channels closed)' : ''),
      `${ok.length}/${r.results.length}${r.error != null ? ` (${r.error})` : ''}`,
      ok.length > 0 ? String(median(ok)) : '—',
      ok.length > 0 ? String(Math.max(...ok)) : '—',
      r.results.length > 0 ? String(median(r.results.map(x => x.stopMs))) : '—',
      left === '' ? (ok.length < r.results.length ? '(none listed)' : '') : left
    ]
  }
  const header = ['runtime', 'transport', 'exited', 'exit after stop() p50 ms', 'max ms', 'stop() p50 ms', 'still active when it did not exit']
  const table = rows.map(fmt)
  const widths = header.map((h, i) => Math.max(h.length, ...table.map(t => t[i].length)))
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`
  console.log('')
  console.log([line(header), `|${widths.map(w => '-'.repeat(w + 2)).join('|')}|`, ...table.map(line)].join('\n'))
  // rx-tcp fails where its thread did not exit and @libp2p/tcp's did (or was not run):
  // where neither exits, something in the stack holds the thread (on Deno: see docs/runtimes.md)
  const held = (r: Row | undefined): boolean => r == null || r.error != null || r.results.some(x => x.exitAfterMs == null)
  const stack = rows.filter(r => r.transport === 'rx' && held(r) && rows.some(q => q.runtime === r.runtime && q.transport === 'ref' && q.closeChannels === r.closeChannels && held(q) && q.results.length > 0))
  for (const r of stack) console.log(`worker-exit: ${r.runtime}${r.closeChannels ? ' (channels closed)' : ''}: neither transport's thread exited within ${boundMs} ms: the stack holds it, not the transport`)
  const failed = rows.filter(r => r.transport === 'rx' && !r.closeChannels && held(r) && !stack.includes(r))
  const report = { date: new Date().toISOString(), params: { runtimes, transports, reps, boundMs }, machine: { cpus: cpus().length, load: loadavg() }, rows }
  const file = resultFile({ tool: 'worker-exit', committed: 'docs/results', name: 'latest', record: values.record, out: values.out })
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n')
  console.log('')
  console.log(`worker-exit: results in ${shown(file)}`)
  const n = rows.filter(r => r.transport === 'rx' && !r.closeChannels).reduce((s, r) => s + r.results.length, 0)
  const exitedRx = rows.filter(r => r.transport === 'rx' && !r.closeChannels).reduce((s, r) => s + r.results.filter(x => x.exitAfterMs != null).length, 0)
  console.log(`worker-exit: ${failed.length === 0 ? 'PASS' : 'FAIL'} rx-tcp's worker exited by itself within ${boundMs} ms of stop() in ${exitedRx} of ${n} runs` +
    (failed.length > 0 ? `; the transport is to blame on ${failed.map(r => r.runtime).join(', ')}` : '') +
    (stack.length > 0 ? `; held by the stack on both transports on ${[...new Set(stack.map(r => r.runtime))].join(', ')}` : ''))
  process.exitCode = failed.length === 0 ? 0 : 1
}
