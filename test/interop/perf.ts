// npm run interop -- --perf [--reps 5 --upload 100MiB --download 100MiB --round-trips 10000]
// /perf/1.0.0 side by side over loopback: go↔go, rust↔rust, and a JS client
// (rx-tcp, @libp2p/tcp) against the go and rust servers, alternating, medians
// with their spread; then where the JS side's time goes (noise, yamux, the
// transport): the same client against a JS server with noise and with
// plaintext, plain node:net sockets, and a CPU profile of the JS client.
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { cpus } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { multiaddr } from '@multiformats/multiaddr'
import { formatSize, median, parseSize } from '../../bench/stats.ts'
import { interopNode } from './js-node.ts'
import { perf } from './perf-protocol.ts'
import { renderPerfChart } from './perf-chart.ts'
import { profileBuckets } from './profile-buckets.ts'
import { buildPeer, killAllPeers, listenAddr, spawnPeer } from './peers.ts'
import type { JsTransport } from './js-node.ts'
import type { PerfFigure } from './perf-chart.ts'
import type { Peer, PeerBinary, PeerKind } from './peers.ts'

const REPO = resolve(import.meta.dirname, '../..')

const HELP = `npm run interop -- --perf [options]
  --reps N            alternating runs per pair (default 5)
  --upload SIZE       bytes the client sends in the upload figure (default 100MiB)
  --download SIZE     bytes the client asks for in the download figure (default 100MiB)
  --round-trips N     one-byte perf requests in the latency figure (default 10000)
  --pairs LIST        client-server pairs (default go-go,rust-rust,rx-go,ref-go,rx-rust,ref-rust,rx-js,rx-js-plaintext,net-net)
                      rx/ref: a JS client on rx-tcp/@libp2p/tcp; js: a JS server on rx-tcp (a child
                      process, noise unless -plaintext); net-net: plain node:net sockets, no libp2p
  --no-profile        skip the CPU profile of the JS client (rx-tcp → go)
  --out FILE          JSON to write (default .results/interop/perf.json; the chart next to it as .svg)
  --record FILE       also write the JSON (and the chart as FILE.svg) there, e.g. docs/results/interop-perf-<date>.json
  --help              this text`

interface PairSpec {
  id: string
  label: string
  client: 'go' | 'rust' | JsTransport | 'net'
  server: 'go' | 'rust' | 'js' | 'js-plaintext' | 'net'
}

const PAIRS: Record<string, PairSpec> = {
  'go-go': { id: 'go-go', label: 'go → go', client: 'go', server: 'go' },
  'rust-rust': { id: 'rust-rust', label: 'rust → rust', client: 'rust', server: 'rust' },
  'rx-go': { id: 'rx-go', label: 'js rx-tcp → go', client: 'rx', server: 'go' },
  'ref-go': { id: 'ref-go', label: 'js @libp2p/tcp → go', client: 'ref', server: 'go' },
  'rx-rust': { id: 'rx-rust', label: 'js rx-tcp → rust', client: 'rx', server: 'rust' },
  'ref-rust': { id: 'ref-rust', label: 'js @libp2p/tcp → rust', client: 'ref', server: 'rust' },
  'rx-js': { id: 'rx-js', label: 'js rx-tcp → js rx-tcp (noise)', client: 'rx', server: 'js' },
  'ref-js': { id: 'ref-js', label: 'js @libp2p/tcp → js rx-tcp (noise)', client: 'ref', server: 'js' },
  'rx-js-plaintext': { id: 'rx-js-plaintext', label: 'js rx-tcp → js rx-tcp (plaintext)', client: 'rx', server: 'js-plaintext' },
  'net-net': { id: 'net-net', label: 'node:net → node:net (no libp2p)', client: 'net', server: 'net' }
}

function usage (message: string): never {
  process.stderr.write(`interop: ${message}\n\n${HELP}\n`)
  process.exit(2)
}

let parsed
try {
  parsed = parseArgs({
    args: process.argv.slice(2).filter((a) => a !== '--perf'),
    options: {
      reps: { type: 'string', default: '5' },
      upload: { type: 'string', default: '100MiB' },
      download: { type: 'string', default: '100MiB' },
      'round-trips': { type: 'string', default: '10000' },
      pairs: { type: 'string', default: 'go-go,rust-rust,rx-go,ref-go,rx-rust,ref-rust,rx-js,rx-js-plaintext,net-net' },
      'no-profile': { type: 'boolean', default: false },
      out: { type: 'string' },
      record: { type: 'string' },
      help: { type: 'boolean', default: false }
    },
    strict: true
  })
} catch (err: any) {
  usage(String(err?.message ?? err).split('\n')[0])
}
const args = parsed.values
if (args.help === true) {
  console.log(HELP)
  process.exit(0)
}
const reps = Number(args.reps)
if (!Number.isInteger(reps) || reps < 1) usage(`--reps ${args.reps}: not a positive integer`)
const roundTrips = Number(args['round-trips'])
if (!Number.isInteger(roundTrips) || roundTrips < 1) usage(`--round-trips ${args['round-trips']}: not a positive integer`)
let upload = 0
let download = 0
try {
  upload = parseSize(args.upload)
  download = parseSize(args.download)
} catch (err: any) {
  usage(`--upload/--download: ${err.message}`)
}
const pairs = args.pairs.split(',').map((s) => s.trim()).map((id) => PAIRS[id] ?? usage(`--pairs: ${id} is not one of ${Object.keys(PAIRS).join(', ')}`))

const started = Date.now()
const log = (line: string): void => { process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}\n`) }
process.once('exit', killAllPeers)
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { killAllPeers(); process.exit(130) })
const tsx = createRequire(import.meta.url).resolve('tsx/esm')

log(`interop perf on Node ${process.version}; ${reps} alternating runs; upload ${formatSize(upload)}, download ${formatSize(download)}, ${roundTrips} one-byte round trips; pairs ${pairs.map((p) => p.id).join(',')}`)
log(`replay: npm run interop -- --perf --reps ${reps} --upload ${args.upload} --download ${args.download} --round-trips ${roundTrips} --pairs ${pairs.map((p) => p.id).join(',')}`)

const binaries: Partial<Record<PeerKind, PeerBinary>> = {}
const skipped: Record<string, string> = {}
for (const kind of ['go', 'rust'] as const) {
  if (!pairs.some((p) => p.client === kind || p.server === kind)) continue
  const b = buildPeer(kind, log)
  if (b.skip != null || b.failed != null) skipped[kind] = b.skip ?? b.failed ?? ''
  else binaries[kind] = b
  log(`  ${kind}: ${b.skip ?? b.failed ?? 'ready'}`)
}
const runnable = pairs.filter((p) => [p.client, p.server].every((k) => (k !== 'go' && k !== 'rust') || binaries[k] != null))

interface Sample { uploadMBps: number, downloadMBps: number, latencyMs: number }

/** a server for one run; `target` is a multiaddr (libp2p) or a port (net) */
async function startServer (pair: PairSpec): Promise<{ target: string, stop: () => Promise<void> }> {
  if (pair.server === 'go' || pair.server === 'rust') {
    const peer = spawnPeer(binaries[pair.server] as PeerBinary, ['--listen', '/ip4/127.0.0.1/tcp/0'])
    const e = await peer.waitFor((e) => e.event === 'listening', 'listening', 15_000)
    return { target: listenAddr(e, '127.0.0.1'), stop: async () => { await peer.signal('SIGKILL') } }
  }
  const script = pair.server === 'net' ? 'raw-perf.ts' : 'js-peer.ts'
  const extra = pair.server === 'net' ? [] : ['--listen', '/ip4/127.0.0.1/tcp/0', ...(pair.server === 'js-plaintext' ? ['--encrypter', 'plaintext'] : [])]
  const child = spawn(process.execPath, ['--import', tsx, join(import.meta.dirname, script), ...extra], { stdio: 'pipe' })
  const line = await new Promise<any>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`the ${pair.server} server did not start`)) }, 20_000)
    createInterface({ input: child.stdout }).once('line', (l) => { clearTimeout(timer); resolve(JSON.parse(l)) })
  })
  const target = pair.server === 'net' ? String(line.port) : listenAddr(line, '127.0.0.1')
  return {
    target,
    stop: async () => {
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
    }
  }
}

async function peerClient (kind: 'go' | 'rust', target: string, run: string[]): Promise<number[]> {
  const peer: Peer = spawnPeer(binaries[kind] as PeerBinary, ['--dial', target, '--run', 'perf', ...run])
  const e = await peer.waitFor((e) => e.event === 'done' || e.event === 'error', 'done', 600_000)
  if (e.event === 'error') throw new Error(`${kind} client: ${e.message}`)
  await peer.exited
  return peer.events.filter((e) => e.event === 'perf').map((e) => Number(e.seconds))
}

async function measure (pair: PairSpec): Promise<Sample> {
  const server = await startServer(pair)
  try {
    if (pair.client === 'go' || pair.client === 'rust') {
      const [up] = await peerClient(pair.client, server.target, ['--bytes', String(upload), '--download', '0'])
      const [down] = await peerClient(pair.client, server.target, ['--bytes', '0', '--download', String(download)])
      const lat = await peerClient(pair.client, server.target, ['--count', String(roundTrips), '--bytes', '1', '--download', '1'])
      return { uploadMBps: upload / up / 1e6, downloadMBps: download / down / 1e6, latencyMs: median(lat) * 1000 }
    }
    if (pair.client === 'net') {
      const { rawPerf } = await import('./raw-perf.ts')
      const port = Number(server.target)
      const up = await rawPerf(port, upload, 0)
      const down = await rawPerf(port, 0, download)
      // a request per connection here: its latency would be the TCP handshake's, not comparable
      return { uploadMBps: upload / up / 1e6, downloadMBps: download / down / 1e6, latencyMs: Number.NaN }
    }
    return await jsClient(pair.client, server.target, { plaintext: pair.server === 'js-plaintext' })
  } finally {
    await server.stop()
  }
}

async function jsClient (transport: JsTransport, target: string, options: { plaintext?: boolean } = {}): Promise<Sample> {
  const node = await interopNode({ transport, encrypter: options.plaintext === true ? 'plaintext' : 'noise' })
  try {
    const ma = multiaddr(target)
    await node.dial(ma, { signal: AbortSignal.timeout(15_000) })
    const signal = AbortSignal.timeout(600_000)
    const up = await perf(node, ma, { upload, download: 0, signal })
    const down = await perf(node, ma, { upload: 0, download, signal })
    const lat: number[] = []
    for (let i = 0; i < roundTrips; i++) lat.push((await perf(node, ma, { upload: 1, download: 1, signal })).seconds)
    return { uploadMBps: upload / up.seconds / 1e6, downloadMBps: download / down.seconds / 1e6, latencyMs: median(lat) * 1000 }
  } finally {
    await node.stop()
  }
}

const samples: Record<string, Sample[]> = {}
for (let rep = 0; rep < reps; rep++) {
  // forward, then backward: no pair always runs first or on the warmest machine
  const order = rep % 2 === 0 ? runnable : [...runnable].reverse()
  for (const pair of order) {
    const s = await measure(pair)
    ;(samples[pair.id] ??= []).push(s)
    log(`  run ${rep + 1}/${reps} ${pair.label.padEnd(36)} up ${s.uploadMBps.toFixed(1)} MB/s, down ${s.downloadMBps.toFixed(1)} MB/s, latency ${Number.isFinite(s.latencyMs) ? `${s.latencyMs.toFixed(3)} ms` : '—'}`)
  }
}

const spread = (v: number[]): { median: number, min: number, max: number } => {
  const f = v.filter(Number.isFinite)
  return { median: median(f), min: f.length > 0 ? Math.min(...f) : NaN, max: f.length > 0 ? Math.max(...f) : NaN }
}
const figures: PerfFigure[] = [
  { label: `upload ${formatSize(upload)}, client → server`, unit: 'MB/s', better: 'higher', values: {} },
  { label: `download ${formatSize(download)}, server → client`, unit: 'MB/s', better: 'higher', values: {} },
  { label: `latency, ${roundTrips} one-byte requests (median)`, unit: 'ms', better: 'lower', values: {} }
]
for (const pair of runnable) {
  const s = samples[pair.id] ?? []
  figures[0].values[pair.id] = spread(s.map((x) => x.uploadMBps))
  figures[1].values[pair.id] = spread(s.map((x) => x.downloadMBps))
  if (s.some((x) => Number.isFinite(x.latencyMs))) figures[2].values[pair.id] = spread(s.map((x) => x.latencyMs))
}

// where the JS client's time goes: a CPU profile (`node --cpu-prof`) of a
// process that only runs the JS client, one upload + one download, rx-tcp → go
let profileSummary: { file: string, buckets: Record<string, number>, text: string } | undefined
if (args['no-profile'] !== true && binaries.go != null) {
  const dir = join(REPO, '.results/interop/profile')
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const server = await startServer(PAIRS['go-go'])
  try {
    const run = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, '--import', tsx, join(import.meta.dirname, 'perf-client.ts'), server.target, 'rx', String(upload), String(download)], { encoding: 'utf8', timeout: 600_000 })
    const r = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}')
    log(`  profiled run rx-tcp → go (--cpu-prof): up ${(upload / r.upload / 1e6).toFixed(1)} MB/s, down ${(download / r.download / 1e6).toFixed(1)} MB/s`)
  } finally {
    await server.stop()
  }
  const file = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f))[0]
  if (file != null) {
    const text = spawnSync(process.execPath, ['--import', tsx, join(REPO, 'bench/profile-summary.ts'), file, '25'], { encoding: 'utf8' }).stdout
    profileSummary = { file, buckets: profileBuckets(file).layers, text }
  }
}

const fmt = (v: { median: number, min: number, max: number } | undefined, digits = 1): string =>
  v == null || !Number.isFinite(v.median) ? '—' : `${v.median.toFixed(digits)} (${v.min.toFixed(digits)}–${v.max.toFixed(digits)})`
const header = ['client → server', 'upload MB/s', 'download MB/s', 'latency ms']
const table = [
  `| ${header.join(' | ')} |`,
  `| ${header.map(() => '---').join(' | ')} |`,
  ...runnable.map((p) => `| ${p.label} | ${fmt(figures[0].values[p.id])} | ${fmt(figures[1].values[p.id])} | ${fmt(figures[2].values[p.id], 3)} |`)
].join('\n')

const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`
const result = {
  date: new Date().toISOString(),
  node: process.version,
  machine,
  method: `loopback; per run and pair a fresh server process (or JS node) and a fresh client; upload ${formatSize(upload)} (download 0), download ${formatSize(download)} (upload 0), ${roundTrips} one-byte requests each on a new stream of one connection; ${reps} runs, pairs alternating forward/backward; medians, min–max`,
  reps,
  sizes: { upload, download, roundTrips },
  durationSeconds: Math.round((Date.now() - started) / 1000),
  skipped,
  pairs: runnable.map((p) => ({ id: p.id, label: p.label })),
  figures,
  samples,
  table,
  profile: profileSummary != null ? { file: profileSummary.file, buckets: profileSummary.buckets, summary: profileSummary.text } : undefined
}
const out = args.out ?? join(REPO, '.results/interop/perf.json')
const chart = renderPerfChart({ date: result.date, node: result.node, machine, reps, details: `upload ${formatSize(upload)}, download ${formatSize(download)}, ${roundTrips} round trips`, pairs: result.pairs, figures })
for (const file of [out, ...(args.record != null ? [args.record] : [])]) {
  mkdirSync(dirname(resolve(file)), { recursive: true })
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n')
  writeFileSync(file.replace(/\.json$/, '') + '.svg', chart)
  console.log(`wrote ${file} and ${file.replace(/\.json$/, '')}.svg`)
}
console.log(`\ninterop perf, ${result.date}, Node ${process.version}, ${machine}\n${result.method}; ${result.durationSeconds} s\n`)
console.log(table)
if (profileSummary != null) {
  console.log(`\nwhere the JS client's CPU goes (rx-tcp → go, one upload + one download, --cpu-prof, ${profileSummary.text.split('\n')[0]}):`)
  for (const [k, v] of Object.entries(profileSummary.buckets).sort((a, b) => b[1] - a[1])) console.log(`  ${v.toFixed(1).padStart(5)} %  ${k}`)
}
for (const [k, why] of Object.entries(skipped)) console.log(`\n${k} skipped: ${why}`)
const complete = runnable.length === pairs.length && runnable.every((p) => (samples[p.id] ?? []).length === reps)
console.log(complete ? `interop: PASS perf, ${runnable.length} pairs × ${reps} runs` : `interop: FAIL perf, ${runnable.length} of ${pairs.length} pairs ran`)
process.exit(complete ? 0 : 1)
