// npm run bench -- --help for the options
// rx-tcp against @libp2p/tcp in one process, alternating, medians and ratios.
import { writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { parseCli } from '../test/fixtures/cli.ts'
import { drawChartOnly, recordHelp, resultFile, shown, sibling } from '../test/fixtures/results.ts'
import { renderChart } from './chart.ts'
import type { ChartFigure } from './chart.ts'
import { FIGURES, groups } from './figures/index.ts'
import { fdLimit } from './figures/max-conns.ts'
import { formatSize, median, MiB } from './stats.ts'
import { loadSubjects } from './subjects.ts'
import type { Options, Sample } from './figures/types.ts'
import type { FigureSpec } from './figures/index.ts'
import type { Subject } from './subjects.ts'

const GROUPS = ['throughput', 'noise', 'plaintext', 'rpc', 'bare', 'accept', 'close', 'memory', 'memory-listener', 'maxconns'] as const

const args = parseCli({
  tool: 'bench',
  summary: 'rx-tcp and @libp2p/tcp side by side in one process, alternating: medians, spread and ratios, and the chart drawn\nfrom the same JSON. Writes .results/bench/latest.json (partial.json with --only) unless --record or --out.',
  options: {
    reps: { type: 'integer', min: 1, default: 5, description: 'repetitions per figure and transport' },
    size: { type: 'size', min: 1, default: '64MiB', description: 'bytes echoed by the throughput figures' },
    'bare-size': { type: 'size', min: 1, default: '256MiB', description: 'bytes echoed by the bare-connection figure and plain sockets' },
    chunk: { type: 'size', min: 1, default: '64KiB', description: 'write size for the throughput figures' },
    messages: { type: 'integer', min: 1, default: 5000, description: 'round trips for the small-message figure' },
    'message-size': { type: 'size', min: 1, default: '1KiB', description: 'size of one small message' },
    accept: { type: 'integer', min: 1, default: 500, description: 'connections for the accept figure' },
    concurrency: { type: 'integer', min: 1, default: 32, description: 'concurrent dials for the accept figure' },
    stalled: { type: 'integer', min: 1, default: 1000, description: 'stalled handshakes for the close figure' },
    idle: { type: 'integer', min: 1, default: 500, description: 'idle connections for the memory figures' },
    'max-conns': { type: 'integer', min: 1, default: 20000, description: 'cap of the max-connections figure' },
    only: { type: 'list', choices: GROUPS, description: 'groups to run (throughput is noise and plaintext)' },
    rx: { type: 'string', placeholder: 'FILE', description: 'take rx-tcp from another entry file (an experimental copy of src/index.ts)' },
    ref: { type: 'string', placeholder: 'FILE', description: 'put another rx-tcp entry file in the reference\'s seat (experiments)' },
    aa: { type: 'boolean', description: 'compare @libp2p/tcp with itself (A/A), to see the harness\'s noise' },
    record: { type: 'string', placeholder: 'NAME', description: recordHelp('bench', 'bench/results') },
    out: { type: 'string', placeholder: 'FILE', description: 'write the JSON to FILE (the chart next to it)' },
    chart: { type: 'string', placeholder: 'FILE', description: 'only draw the chart of a run\'s JSON, next to it' }
  },
  examples: ['npm run bench -- --reps 3 --only rpc --messages 500', 'npm run bench -- --record 2026-12-01', 'npm run bench -- --chart bench/results/2026-11-30.json']
})

drawChartOnly('bench', args.chart, renderChart)

const started = Date.now()
function log (line: string): void {
  const s = ((Date.now() - started) / 1000).toFixed(0).padStart(4)
  process.stderr.write(`[${s}s] ${line}\n`)
}

const opts: Options = {
  reps: args.reps,
  size: args.size,
  bareSize: args['bare-size'],
  chunk: args.chunk,
  window: 4 * MiB,
  messages: args.messages,
  messageSize: args['message-size'],
  acceptConns: args.accept,
  acceptConcurrency: args.concurrency,
  stalled: args.stalled,
  idleConns: args.idle,
  maxConns: args['max-conns'],
  log
}

const { rx, ref, aa } = await loadSubjects(args.aa, args.rx, args.ref)

const only = args.only?.flatMap((s) => s === 'throughput' ? ['noise', 'plaintext'] : [s])
const selected = groups(aa, args.rx, args.ref).filter((g) => only == null || only.includes(g.id))
if (selected.length === 0) {
  console.error(`bench: --only ${args.only?.join(',')} selects no group here (the memory groups need their own subjects); see npm run bench -- --help`)
  process.exit(2)
}

function details (f: FigureSpec): string {
  switch (f.group) {
    case 'noise': case 'plaintext': return `${formatSize(opts.size)} in ${formatSize(opts.chunk)} writes`
    case 'bare': return `${formatSize(opts.bareSize)} in ${formatSize(opts.chunk)} writes`
    case 'rpc': return `${opts.messages} × ${formatSize(opts.messageSize)}`
    case 'accept': return `${opts.acceptConns} conns, ${opts.acceptConcurrency} at a time`
    case 'close': return `${opts.stalled} stalled`
    case 'memory': return `${opts.idleConns} conns, both ends`
    case 'memory-listener': return `${opts.idleConns} conns, listener side`
    case 'maxconns': return `cap ${opts.maxConns}`
    default: return ''
  }
}

type Samples = Record<string, { rx: number[], ref: number[], ceiling: number[] }>
const samples: Samples = {}
const notes: Record<string, Record<string, string>> = {}
function record (side: 'rx' | 'ref' | 'ceiling', sample: Sample): void {
  for (const [id, value] of Object.entries(sample)) {
    samples[id] ??= { rx: [], ref: [], ceiling: [] }
    samples[id][side].push(value)
  }
}
function brief (sample: Sample): string {
  return Object.entries(sample).map(([id, v]) => `${id} ${v.toFixed(v < 10 ? 2 : 0)}`).join(', ')
}

log(`rx-tcp bench on Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; A = ${rx.name}, B = ${ref.name}${aa ? ' (A/A run)' : ''}`)
log(`sizes: echo ${formatSize(opts.size)} (bare ${formatSize(opts.bareSize)}) in ${formatSize(opts.chunk)} writes (${formatSize(opts.window)} in flight), ${opts.messages} × ${formatSize(opts.messageSize)} round trips, accept ${opts.acceptConns}/${opts.acceptConcurrency}, ${opts.stalled} stalled, ${opts.idleConns} idle, cap ${opts.maxConns}; ${opts.reps} reps`)

for (const group of selected) {
  const reps = group.reps?.(opts) ?? opts.reps
  log(`${group.id}: ${group.title}, ${reps} rep(s) per side`)
  if (group.warmup != null) {
    for (const subject of [rx, ref]) await group.warmup(subject, opts)
  }
  for (let rep = 0; rep < reps; rep++) {
    // A B, then B A: neither side always runs first
    const order: Subject[] = rep % 2 === 0 ? [rx, ref] : [ref, rx]
    for (const subject of order) {
      const sample = await group.run(subject, opts)
      record(subject.key, sample)
      log(`  rep ${rep + 1}/${reps} ${subject.name.padEnd(18)} ${brief(sample)}`)
    }
    if (group.ceiling != null) {
      const sample = await group.ceiling(opts)
      record('ceiling', sample)
      log(`  rep ${rep + 1}/${reps} ${'node:net'.padEnd(18)} ${brief(sample)}`)
    }
  }
  if (group.notes != null) notes[group.id] = group.notes
}

interface Row extends ChartFigure {
  id: string
  samples: { rx: number[], ref: number[], ceiling?: number[] }
}

function check (f: FigureSpec, row: Row): boolean | undefined {
  if (f.target == null) return undefined
  const value = f.target.kind === 'ratio' ? row.ratio : f.target.kind === 'ceiling' ? (row.ceilingRatio ?? Number.NaN) : row.rx
  return f.target.op === '>=' ? value >= f.target.value : value <= f.target.value
}

function targetText (f: FigureSpec): string | undefined {
  if (f.target == null) return undefined
  const what = f.target.kind === 'ratio' ? 'rx/ref' : f.target.kind === 'ceiling' ? 'rx/net' : 'rx'
  const unit = f.target.kind === 'absolute' ? ` ${f.unit}` : ''
  return `${what} ${f.target.op === '>=' ? '≥' : '≤'} ${f.target.value}${unit}`
}

const rows: Row[] = []
for (const f of FIGURES) {
  const s = samples[f.id]
  if (s == null) continue
  const row: Row = {
    id: f.id,
    label: f.label,
    details: details(f),
    unit: f.unit,
    better: f.better,
    rx: median(s.rx),
    ref: median(s.ref),
    ratio: median(s.rx) / median(s.ref),
    samples: { rx: s.rx, ref: s.ref }
  }
  if (s.ceiling.length > 0) {
    row.ceiling = median(s.ceiling)
    row.ceilingRatio = row.rx / row.ceiling
    row.samples.ceiling = s.ceiling
  }
  row.target = targetText(f)
  row.met = check(f, row)
  rows.push(row)
}

function fmt (v: number | undefined): string {
  if (v == null || !Number.isFinite(v)) return '—'
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)
}

const header = ['figure', 'sizes', 'unit', rx.name, ref.name, 'rx/ref', 'node:net', 'target', 'met']
const lines = rows.map((r) => [
  r.label, r.details, r.unit, fmt(r.rx), fmt(r.ref), r.ratio.toFixed(2),
  r.ceiling != null ? `${fmt(r.ceiling)} (rx/net ${(r.ceilingRatio ?? 0).toFixed(2)})` : '',
  r.target ?? '', r.met == null ? '' : r.met ? 'yes' : 'no'
])
const table = [
  `| ${header.join(' | ')} |`,
  `| ${header.map(() => '---').join(' | ')} |`,
  ...lines.map((l) => `| ${l.join(' | ')} |`)
].join('\n')

const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ulimit -n ${fdLimit()}`
const result = {
  date: new Date().toISOString(),
  node: process.version,
  machine,
  aa,
  subjects: { rx: rx.name, ref: ref.name },
  method: `one process, ${opts.reps} repetitions per side (max conns: 1), alternating A B / B A, one untimed warm-up per side for throughput, round trips, bare and accept; medians`,
  sizes: {
    echo: opts.size,
    bareEcho: opts.bareSize,
    chunk: opts.chunk,
    window: opts.window,
    messages: opts.messages,
    messageSize: opts.messageSize,
    acceptConns: opts.acceptConns,
    acceptConcurrency: opts.acceptConcurrency,
    stalled: opts.stalled,
    idleConns: opts.idleConns,
    maxConns: opts.maxConns
  },
  reps: opts.reps,
  durationSeconds: Math.round((Date.now() - started) / 1000),
  figures: rows,
  notes
}

const out = resultFile({ tool: 'bench', committed: 'bench/results', name: only == null ? 'latest' : 'partial', record: args.record, out: args.out })
writeFileSync(out, JSON.stringify(result, null, 2) + '\n')
const svg = sibling(out, '.svg')
writeFileSync(svg, renderChart(result))

console.log(`\nrx-tcp bench, ${result.date}, Node ${process.version}, ${machine}`)
console.log(`${result.method}; ${Math.round((Date.now() - started) / 1000)} s\n`)
console.log(table)
for (const [group, byKey] of Object.entries(notes)) {
  for (const [key, note] of Object.entries(byKey)) console.log(`\n${group}, ${key === 'rx' ? rx.name : ref.name}: ${note}`)
}
console.log(`\nwrote ${shown(out)} and ${shown(svg)}`)
