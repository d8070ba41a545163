// npm run bench:proxy -- --help for the options
//
// Two figures of proxyProtocol, each side by side with the same loop
// without a header to read, alternating, medians with their spread:
// - header reads a second on real loopback sockets (v1 and v2 with TLVs):
//   connect, write header + one byte, the listener passes the socket and
//   destroys it; `concurrency` connections in flight. The ceiling is the
//   same loop where the listener destroys each socket at its first byte;
// - what a socket waiting for its header costs the listener's heap: N
//   trusted sockets that sent half a header, against N plain sockets held by
//   a net.Server (and N held by acceptSockets alone) that were sent the same
//   bytes, each mode in a fresh child process, after a full GC.
// The listener is a child process; the clients are this one.
import { fork } from 'node:child_process'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { scanProxyHeader } from '../operators/proxy-protocol/header.ts'
import { parseCli } from '../test/fixtures/cli.ts'
import { sslValue, tlv, v1Header, v2Header, withCrc32c } from '../test/fixtures/proxy-headers.ts'
import { drawChartOnly, resultFile, resultOptions, writeSummary } from '../test/fixtures/results.ts'
import { median, until } from './stats.ts'
import type { ProxyChildMode, ProxyChildReport } from './proxy-header-child.ts'
import type { ChildProcess } from 'node:child_process'
import type { Socket } from 'node:net'

const values = parseCli({
  tool: 'bench:proxy',
  summary: 'proxyProtocol side by side with the same loop without a header: header reads a second on loopback (v1, v2 with\nTLVs), headers parsed in process, and the listener heap of a socket waiting for its header against plain sockets.',
  options: {
    sockets: { type: 'integer', min: 1, default: 2000, description: 'sockets held for the memory figure' },
    seconds: { type: 'integer', min: 1, default: 3, description: 'length of one throughput run' },
    reps: { type: 'integer', min: 1, default: 3, description: 'repetitions of each figure, alternating the sides' },
    concurrency: { type: 'integer', min: 1, default: 32, description: 'connections in flight in the throughput runs' },
    ...resultOptions('bench-proxy', 'bench/results')
  },
  examples: ['npm run bench:proxy -- --reps 1 --seconds 1', 'npm run bench:proxy -- --chart bench/results/proxy-header-2026-12-01.json', 'npm run bench:proxy -- --record proxy-header-2026-12-01']
})
drawChartOnly('bench:proxy', values.chart, chart)
const SOCKETS = values.sockets
const SECONDS = values.seconds
const REPS = values.reps
const CONCURRENCY = values.concurrency
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
          // half a header, on every side: the reader has read it and waits for the rest, a plain socket holds it unread
          socket.write('PROXY TCP4 203.0.113.')
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
const out = resultFile({ tool: 'bench-proxy', committed: 'bench/results', name: 'latest', record: values.record, out: values.out })
writeSummary('bench:proxy', out, summary, chart)
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
