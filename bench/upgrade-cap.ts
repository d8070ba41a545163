// npm run bench:upgrade-cap -- --help for the options
//
// Two figures of upgradeCap:
// - a burst: `clients` clients connect at once to an rx-tcp listener with
//   upgradeCap({ max, policy }), each policy in turn; an upgrade is one round
//   trip with the client (test/fixtures/upgrade-burst.ts). What became of
//   the clients: served, reset (ECONNRESET), closed otherwise, still waiting;
// - what a socket waiting for a slot costs the listener's JS memory (heap +
//   ArrayBuffers): `sockets` sockets held by a plain net.Server, and by
//   acceptSockets alone, against the same number waiting in upgradeCap (and
//   waiting with socket.pause() too),
//   each client having sent `send` bytes, each mode in a fresh child
//   process, after a full GC. The listener is the child; the clients are
//   this process.
import { fork } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { DEFAULT_MAX_WAITING } from '../operators/upgrade-cap.ts'
import { parseCli, usageLine } from '../test/fixtures/cli.ts'
import { drawChartOnly, resultFile, resultOptions, shown, sibling } from '../test/fixtures/results.ts'
import { burst } from '../test/fixtures/upgrade-burst.ts'
import { until } from './stats.ts'
import type { CapChildMode, CapChildReport } from './upgrade-cap-child.ts'
import type { BurstFigures } from '../test/fixtures/upgrade-burst.ts'
import type { Socket } from 'node:net'

const SPEC = {
  tool: 'bench:upgrade-cap',
  summary: 'upgradeCap under a burst (clients served, waiting, reset, per policy) and the JS memory of a socket waiting for a slot.',
  options: {
    clients: { type: 'integer', min: 1, max: 500, default: 60, description: 'clients in the burst' },
    max: { type: 'integer', min: 1, default: 2, description: 'the cap: upgrades at once' },
    sockets: { type: 'integer', min: 1, max: 5_000, default: 500, description: 'waiting sockets held for the memory figure' },
    send: { type: 'list', default: ['0', '64', '1048576'], description: 'bytes each waiting client sends, one memory figure each (64: about a multistream-select header)' },
    ...resultOptions('bench-upgrade-cap', 'bench/results')
  },
  examples: ['npm run bench:upgrade-cap -- --clients 60 --max 2', 'npm run bench:upgrade-cap -- --sockets 200 --send 0', 'npm run bench:upgrade-cap -- --record upgrade-cap-2026-12-07']
} as const
const values = parseCli(SPEC)

interface Result {
  date: string
  node: string
  clients: number
  max: number
  sockets: number
  burst: Record<string, BurstFigures>
  /** per mode and bytes sent: JS memory per held socket (heap + ArrayBuffers), and bytes buffered by Node per socket */
  memory: Array<{ send: number, mode: CapChildMode, bytesPerSocket: number, bufferedPerSocket: number }>
}

drawChartOnly('bench:upgrade-cap', values.chart, chart)
const sends = values.send.map(Number)
if (sends.some((n) => !Number.isInteger(n) || n < 0)) {
  console.error(`bench:upgrade-cap: --send must be byte counts, got ${values.send.join(',')}; usage: ${usageLine(SPEC)} (--help for details)`)
  process.exit(2)
}
const CHILD = fileURLToPath(new URL('upgrade-cap-child.ts', import.meta.url))

async function burstFigure (policy: 'wait' | 'close-server' | 'drop'): Promise<BurstFigures> {
  const cleanup: Array<() => Promise<void> | void> = []
  try {
    return await burst(values.clients, { max: values.max, policy }, cleanup)
  } finally {
    for (const fn of cleanup.reverse()) await fn()
  }
}

/** JS memory of the child per held socket, over its memory with none */
async function memory (mode: CapChildMode, sent: number): Promise<{ bytesPerSocket: number, bufferedPerSocket: number }> {
  const child = fork(CHILD, [mode], { execArgv: ['--expose-gc', '--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const waiting = new Map<string, (msg: CapChildReport) => void>()
  child.on('message', (msg: CapChildReport) => { waiting.get(msg.type)?.(msg) })
  const next = async <T extends CapChildReport['type']>(type: T): Promise<Extract<CapChildReport, { type: T }>> =>
    new Promise((resolve) => { waiting.set(type, resolve as (msg: CapChildReport) => void) })
  const { port } = await next('listening')
  const sockets: Socket[] = []
  const payload = Buffer.alloc(sent, 7)
  try {
    child.send({ type: 'measure', expect: 0, sent: 0 })
    const before = await next('heap')
    for (let i = 0; i < values.sockets; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, values.sockets - i) }, async () => new Promise<void>((resolve, reject) => {
        const socket = net.connect({ port, host: '127.0.0.1' })
        sockets.push(socket)
        socket.on('error', reject)
        socket.once('connect', () => {
          if (sent > 0) socket.write(payload)
          resolve()
        })
      })))
    }
    child.send({ type: 'measure', expect: values.sockets, sent })
    const after = await next('heap')
    const total = (report: { heapUsed: number, arrayBuffers: number }): number => report.heapUsed + report.arrayBuffers
    return { bytesPerSocket: Math.round((total(after) - total(before)) / values.sockets), bufferedPerSocket: Math.round(after.buffered / values.sockets) }
  } finally {
    for (const socket of sockets) socket.destroy()
    await until(10_000, 'the clients to close', () => sockets.every((socket) => socket.closed))
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.send('exit')
    const killer = setTimeout(() => child.kill('SIGKILL'), 5_000)
    await exited
    clearTimeout(killer)
  }
}

console.log(`bench:upgrade-cap: burst of ${values.clients} on max ${values.max}; ${values.sockets} waiting sockets, clients sending ${sends.join(', ')} bytes; node ${process.version}`)
const result: Result = { date: new Date().toISOString(), node: process.version, clients: values.clients, max: values.max, sockets: values.sockets, burst: {}, memory: [] }
for (const policy of ['wait', 'close-server', 'drop'] as const) {
  result.burst[policy] = await burstFigure(policy)
  const f = result.burst[policy]
  console.log(`  burst, ${policy}: served ${f.served}, waiting ${f.waiting}, reset ${f.reset}, closed ${f.closed}`)
}
for (const sent of sends) {
  for (const mode of ['plain', 'held', 'waiting', 'paused'] as const) {
    const figure = await memory(mode, sent)
    result.memory.push({ send: sent, mode, ...figure })
    console.log(`  memory, clients sent ${sent} B, ${mode}: ${figure.bytesPerSocket} B per socket (${figure.bufferedPerSocket} B of it buffered by Node)`)
  }
}

const out = resultFile({ tool: 'bench-upgrade-cap', committed: 'bench/results', name: 'latest', record: values.record, out: values.out })
writeFileSync(out, JSON.stringify(result, null, 2) + '\n')
writeFileSync(sibling(out, '.svg'), chart(result))
console.log(`  written to ${shown(out)} and its chart ${shown(sibling(out, '.svg'))}`)

const wait = result.burst.wait
const silent = result.memory.find(({ send, mode }) => send === 0 && mode === 'waiting')
const fits = values.clients - values.max <= DEFAULT_MAX_WAITING
const pass = !fits || wait.reset + wait.closed <= Math.ceil(values.clients / 10)
console.log(`bench:upgrade-cap: ${pass ? 'PASS' : 'FAIL'} burst of ${values.clients} on max ${values.max}: served ${wait.served}, waiting ${wait.waiting}, reset ${wait.reset}${silent === undefined ? '' : `; a silent waiting socket ${silent.bytesPerSocket} B`}`)
process.exitCode = pass ? 0 : 1

/** Two panels: the burst's outcome per policy, and bytes per waiting socket per mode and bytes sent */
function chart (r: Result): string {
  const W = 780
  const H = 300
  const colors: Record<string, string> = { served: '#2e7d32', waiting: '#f9a825', reset: '#c62828', closed: '#6d4c41', plain: '#90a4ae', held: '#546e7a', waiting_: '#7b1fa2', paused: '#ba68c8' }
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`]
  parts.push(`<text x="10" y="18" font-size="14">upgradeCap: burst of ${r.clients} on max ${r.max} (left), JS memory per held socket (right); ${r.node}, ${r.date.slice(0, 10)}</text>`)
  // left: stacked bars of outcomes, one per policy
  Object.entries(r.burst).forEach(([policy, f], i) => {
    const x = 30 + i * 110
    let y = 260
    for (const key of ['served', 'waiting', 'closed', 'reset'] as const) {
      const h = f[key] / r.clients * 200
      y -= h
      parts.push(`<rect x="${x}" y="${y.toFixed(1)}" width="70" height="${h.toFixed(1)}" fill="${colors[key]}"><title>${key} ${f[key]}</title></rect>`)
    }
    parts.push(`<text x="${x}" y="278">${policy}</text><text x="${x}" y="292">${f.served} served, ${f.reset} reset</text>`)
  })
  // right: bars of bytes per socket, log-free: scaled to the largest
  const top = Math.max(...r.memory.map(({ bytesPerSocket }) => bytesPerSocket), 1)
  r.memory.forEach(({ send, mode, bytesPerSocket }, i) => {
    const x = 380 + i * 30
    const h = bytesPerSocket / top * 200
    parts.push(`<rect x="${x}" y="${(260 - h).toFixed(1)}" width="24" height="${h.toFixed(1)}" fill="${colors[mode === 'waiting' ? 'waiting_' : mode]}"><title>${mode}, sent ${send} B: ${bytesPerSocket} B</title></rect>`)
    parts.push(`<text x="${x}" y="${(255 - h).toFixed(1)}" font-size="9">${(bytesPerSocket / 1024).toFixed(1)}K</text>`)
    if (i % 4 === 0) parts.push(`<text x="${x}" y="278">sent ${send} B</text>`)
  })
  parts.push('<text x="380" y="292">bars: net.Server, acceptSockets, waiting in upgradeCap, + socket.pause()</text>')
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}
