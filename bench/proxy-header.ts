// npm run bench:proxy -- [--sockets 2000] [--seconds 3] [--reps 3] [--concurrency 32] [--out path] [--record path] [--help]
//
// Two figures of proxyProtocol, each side by side with the same loop
// without a header to read, alternating, medians with their spread:
// - header reads a second on real loopback sockets (v1 and v2 with TLVs):
//   connect, write header + one byte, the listener passes the socket and
//   destroys it; `concurrency` connections in flight. The ceiling is the
//   same loop where the listener destroys each socket at its first byte;
// - what a socket waiting for its header costs the listener's heap: N
//   trusted sockets that sent half a header, against N plain sockets held by
//   a net.Server, each mode in a fresh child process, after a full GC.
// The listener is a child process; the clients are this one.
import { fork } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { scanProxyHeader } from '../operators/internal/proxy-header.ts'
import { median, until } from './stats.ts'
import { sslValue, tlv, v1Header, v2Header, withCrc32c } from '../test/fixtures/proxy-headers.ts'
import type { ProxyChildMode, ProxyChildReport } from './proxy-header-child.ts'
import type { ChildProcess } from 'node:child_process'
import type { Socket } from 'node:net'

const USAGE = `usage: npm run bench:proxy -- [options]

  --sockets N       sockets held for the memory figure (default 2000)
  --seconds S       length of one throughput run (default 3)
  --reps N          repetitions of each figure, alternating the sides (default 3)
  --concurrency N   connections in flight in the throughput runs (default 32)
  --out PATH        JSON summary (default .results/bench-proxy/<date>.json, a chart beside it)
  --record PATH     also write the JSON there (e.g. docs/results/proxy-header-<date>.json)
  --help            this text`

function usage (problem: string): never {
  console.error(`bench:proxy: ${problem}`)
  console.error(USAGE)
  process.exit(2)
}

let values: Record<string, string | boolean | undefined>
try {
  values = parseArgs({
    options: {
      sockets: { type: 'string' },
      seconds: { type: 'string' },
      reps: { type: 'string' },
      concurrency: { type: 'string' },
      out: { type: 'string' },
      record: { type: 'string' },
      help: { type: 'boolean', default: false }
    },
    strict: true
  }).values
} catch (err: any) {
  usage(String(err?.message ?? err).split('\n')[0])
}
if (values.help === true) {
  console.log(USAGE)
  process.exit(0)
}
const positive = (name: string, fallback: number): number => {
  const raw = values[name]
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (typeof raw !== 'string' || !Number.isInteger(n) || n <= 0) usage(`--${name} must be a positive integer, not '${String(raw)}'`)
  return n
}
const SOCKETS = positive('sockets', 2000)
const SECONDS = positive('seconds', 3)
const REPS = positive('reps', 3)
const CONCURRENCY = positive('concurrency', 32)
const CHILD = fileURLToPath(new URL('proxy-header-child.ts', import.meta.url))

interface Child { child: ChildProcess, port: number, next: (type: ProxyChildReport['type']) => Promise<ProxyChildReport> }

async function startChild (mode: ProxyChildMode): Promise<Child> {
  const child = fork(CHILD, [mode], { execArgv: ['--expose-gc', '--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const waiting = new Map<string, (msg: ProxyChildReport) => void>()
  child.on('message', (msg: ProxyChildReport) => { waiting.get(msg.type)?.(msg) })
  const next = async (type: ProxyChildReport['type']): Promise<ProxyChildReport> => new Promise((resolve) => { waiting.set(type, resolve) })
  const listening = await next('listening') as { port: number }
  return { child, port: listening.port, next }
}

async function stopChild ({ child }: Child): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.send('exit')
  const killer = setTimeout(() => child.kill('SIGKILL'), 5_000)
  await exited
  clearTimeout(killer)
}

/** header reads (or plain accepts) a second: `CONCURRENCY` loops of connect, write, wait for the close */
async function throughput (mode: 'reads' | 'accepts', bytes: Buffer): Promise<number> {
  const child = await startChild(mode)
  const until = Date.now() + SECONDS * 1_000
  let done = 0
  const loop = async (): Promise<void> => {
    while (Date.now() < until) {
      await new Promise<void>((resolve) => {
        const socket = net.connect({ port: child.port, host: '127.0.0.1', noDelay: true })
        socket.on('error', () => {})
        socket.once('connect', () => { socket.write(bytes) })
        socket.once('close', () => { resolve() })
      })
      done++
    }
  }
  const started = Date.now()
  await Promise.all(Array.from({ length: CONCURRENCY }, loop))
  const elapsed = (Date.now() - started) / 1_000
  child.child.send({ type: 'count' })
  const { passed } = await child.next('count') as { passed: number }
  await stopChild(child)
  if (passed < done * 0.99) throw new Error(`the listener passed ${passed} of ${done} sockets`)
  return passed / elapsed
}

/** the listener's heap (JS heap + ArrayBuffers outside it) with SOCKETS held, per socket, over its heap with none */
async function memory (mode: 'plain' | 'held' | 'waiting'): Promise<{ heap: number, arrayBuffers: number }> {
  const child = await startChild(mode)
  const sockets: Socket[] = []
  try {
    child.child.send({ type: 'measure', expect: 0 })
    const before = await child.next('heap') as { heapUsed: number, arrayBuffers: number }
    for (let i = 0; i < SOCKETS; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, SOCKETS - i) }, async () => new Promise<void>((resolve, reject) => {
        const socket = net.connect({ port: child.port, host: '127.0.0.1' })
        sockets.push(socket)
        socket.on('error', reject)
        socket.once('connect', () => {
          // half a header: the reader has read bytes and waits for the rest
          if (mode === 'waiting') socket.write('PROXY TCP4 203.0.113.')
          resolve()
        })
      })))
    }
    child.child.send({ type: 'measure', expect: SOCKETS })
    const after = await child.next('heap') as { heapUsed: number, arrayBuffers: number }
    return { heap: (after.heapUsed - before.heapUsed) / SOCKETS, arrayBuffers: (after.arrayBuffers - before.arrayBuffers) / SOCKETS }
  } finally {
    for (const socket of sockets) socket.destroy()
    await until(10_000, 'the clients to close', () => sockets.every((socket) => socket.closed))
    await stopChild(child)
  }
}

/** scanProxyHeader alone, in this process: headers a second over 200,000 calls */
function parses (bytes: Buffer): number {
  const n = 200_000
  const started = process.hrtime.bigint()
  let found = 0
  for (let i = 0; i < n; i++) {
    if (scanProxyHeader(bytes, 4096).kind === 'header') found++
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  if (found !== n) throw new Error('a header did not parse')
  return n / seconds
}

const spread = (xs: number[]): string => `${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))}`

const v1 = Buffer.concat([v1Header('203.0.113.9', 40000), Buffer.from('x')])
const v2 = Buffer.concat([withCrc32c(v2Header({
  ip: '203.0.113.9',
  port: 40000,
  tlvs: [[0x01, Buffer.from('h2')], [0x02, Buffer.from('app.example.com')], [0x05, Buffer.from('rx-203.0.113.9-40000')], [0x20, sslValue(0x01, 0, [tlv(0x21, 'TLSv1.3'), tlv(0x23, 'TLS_AES_256_GCM_SHA384')])]]
})), Buffer.from('x')])

console.log(`bench:proxy: sockets=${SOCKETS} seconds=${SECONDS} reps=${REPS} concurrency=${CONCURRENCY} node=${process.version}; v1 header ${v1.length - 1} B, v2 header ${v2.length - 1} B (CRC32C, ALPN, authority, unique ID, SSL)`)
const runs: Record<string, number[]> = { v1: [], v2: [], accepts: [], plain: [], held: [], waiting: [], plainArrayBuffers: [], heldArrayBuffers: [], waitingArrayBuffers: [], parseV1: [], parseV2: [] }
for (let rep = 0; rep < REPS; rep++) {
  // alternate the order of the sides each repetition
  const order: Array<[string, () => Promise<number>]> = [
    ['v1', async () => throughput('reads', v1)],
    ['v2', async () => throughput('reads', v2)],
    ['accepts', async () => throughput('accepts', Buffer.from('x'))]
  ]
  for (const [name, run] of rep % 2 === 0 ? order : order.reverse()) {
    runs[name].push(await run())
    console.log(`bench:proxy: rep ${rep + 1}/${REPS} ${name.padEnd(8)} ${Math.round(runs[name].at(-1) as number)}/s`)
  }
  for (const [name, bytes] of [['parseV1', v1], ['parseV2', v2]] as const) {
    runs[name].push(parses(bytes))
    console.log(`bench:proxy: rep ${rep + 1}/${REPS} ${name.padEnd(8)} ${Math.round(runs[name].at(-1) as number)} headers/s parsed in process`)
  }
  for (const mode of rep % 2 === 0 ? ['plain', 'held', 'waiting'] as const : ['waiting', 'held', 'plain'] as const) {
    const { heap, arrayBuffers } = await memory(mode)
    runs[mode].push(heap)
    runs[`${mode}ArrayBuffers`].push(arrayBuffers)
    console.log(`bench:proxy: rep ${rep + 1}/${REPS} ${mode.padEnd(8)} ${Math.round(heap)} B of JS heap and ${Math.round(arrayBuffers)} B of ArrayBuffers per socket`)
  }
}

const figures = {
  v1ReadsPerSecond: { median: median(runs.v1), runs: runs.v1 },
  v2ReadsPerSecond: { median: median(runs.v2), runs: runs.v2 },
  acceptsPerSecond: { median: median(runs.accepts), runs: runs.accepts },
  parseV1PerSecond: { median: median(runs.parseV1), runs: runs.parseV1 },
  parseV2PerSecond: { median: median(runs.parseV2), runs: runs.parseV2 },
  plainHeapPerSocket: { median: median(runs.plain), runs: runs.plain },
  heldHeapPerSocket: { median: median(runs.held), runs: runs.held },
  waitingHeapPerSocket: { median: median(runs.waiting), runs: runs.waiting },
  plainArrayBuffersPerSocket: { median: median(runs.plainArrayBuffers), runs: runs.plainArrayBuffers },
  heldArrayBuffersPerSocket: { median: median(runs.heldArrayBuffers), runs: runs.heldArrayBuffers },
  waitingArrayBuffersPerSocket: { median: median(runs.waitingArrayBuffers), runs: runs.waitingArrayBuffers }
}
const summary = { tool: 'bench:proxy', date: new Date().toISOString(), node: process.version, sockets: SOCKETS, seconds: SECONDS, reps: REPS, concurrency: CONCURRENCY, headerBytes: { v1: v1.length - 1, v2: v2.length - 1 }, figures }
const out = resolve(typeof values.out === 'string' ? values.out : `.results/bench-proxy/${summary.date.replace(/[:.]/g, '-')}.json`)
for (const target of [out, ...(typeof values.record === 'string' ? [resolve(values.record)] : [])]) {
  mkdirSync(dirname(target), { recursive: true })
  writeFileSync(target, JSON.stringify(summary, null, 2) + '\n')
  writeFileSync(target.replace(/\.json$/, '') + '.svg', chart(summary))
  console.log(`bench:proxy: summary written to ${target}`)
}
const f = figures
console.log(`bench:proxy: header reads/s, median (spread) over ${REPS}: v1 ${Math.round(f.v1ReadsPerSecond.median)} (${spread(runs.v1)}), v2 ${Math.round(f.v2ReadsPerSecond.median)} (${spread(runs.v2)}); the same loop without a header ${Math.round(f.acceptsPerSecond.median)} (${spread(runs.accepts)}): v1 ${(f.v1ReadsPerSecond.median / f.acceptsPerSecond.median).toFixed(2)}x, v2 ${(f.v2ReadsPerSecond.median / f.acceptsPerSecond.median).toFixed(2)}x`)
console.log(`bench:proxy: headers parsed in process (scanProxyHeader alone): v1 ${Math.round(f.parseV1PerSecond.median)}/s (${spread(runs.parseV1)}), v2 ${Math.round(f.parseV2PerSecond.median)}/s (${spread(runs.parseV2)})`)
console.log(`bench:proxy: heap per socket, median (spread): waiting for its header ${Math.round(f.waitingHeapPerSocket.median)} B (${spread(runs.waiting)}), held by acceptSockets without proxyProtocol ${Math.round(f.heldHeapPerSocket.median)} B (${spread(runs.held)}), plain net.Server ${Math.round(f.plainHeapPerSocket.median)} B (${spread(runs.plain)}): waiting costs +${Math.round(f.waitingHeapPerSocket.median - f.plainHeapPerSocket.median)} B over plain, +${Math.round(f.waitingHeapPerSocket.median - f.heldHeapPerSocket.median)} B over held`)
console.log(`bench:proxy: ArrayBuffers per socket, median: waiting ${Math.round(f.waitingArrayBuffersPerSocket.median)} B (${spread(runs.waitingArrayBuffers)}), held ${Math.round(f.heldArrayBuffersPerSocket.median)} B, plain ${Math.round(f.plainArrayBuffersPerSocket.median)} B`)
console.log(`bench:proxy: PASS v1 ${Math.round(f.v1ReadsPerSecond.median)}/s, v2 ${Math.round(f.v2ReadsPerSecond.median)}/s, a waiting socket +${Math.round(f.waitingHeapPerSocket.median - f.plainHeapPerSocket.median)} B of heap`)

function chart (s: typeof summary): string {
  const rows: Array<[string, number, string]> = [
    ['v1 header reads/s', s.figures.v1ReadsPerSecond.median, '#7b1fa2'],
    ['v2 header reads/s', s.figures.v2ReadsPerSecond.median, '#7b1fa2'],
    ['accepts/s, no header', s.figures.acceptsPerSecond.median, '#b0bec5'],
    ['heap B/socket, waiting', s.figures.waitingHeapPerSocket.median, '#7b1fa2'],
    ['heap B/socket, held', s.figures.heldHeapPerSocket.median, '#b0bec5'],
    ['heap B/socket, plain', s.figures.plainHeapPerSocket.median, '#b0bec5']
  ]
  const max = (i: number): number => i < 3 ? Math.max(...rows.slice(0, 3).map(([, v]) => v)) : Math.max(...rows.slice(3).map(([, v]) => v))
  const bars = rows.map(([label, v, color], i) => {
    const y = 40 + i * 26 + (i >= 3 ? 14 : 0)
    const w = Math.max(1, Math.round(v / max(i) * 400))
    return `<text x="10" y="${y + 12}" font-size="12">${label}</text><rect x="190" y="${y}" width="${w}" height="16" fill="${color}"/><text x="${198 + w}" y="${y + 12}" font-size="12">${Math.round(v)}</text>`
  }).join('\n')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="720" height="240" font-family="sans-serif">
<text x="10" y="20" font-size="13">proxyProtocol ${s.date}: medians of ${s.reps} alternating runs, ${s.sockets} sockets, node ${s.node}</text>
${bars}
</svg>
`
}
