// npm run holepunch -- --help for the options
// The first TCP hole punch between js-libp2p nodes behind NATs, proven: two
// nodes, each behind its own NAT66 router, reserve a slot on a
// circuit-relay-v2 relay on a 3fff::/20 "internet"; one dials the other
// through the relay and @libp2p/dcutr upgrades the connection to a direct
// one. Side by side: @libp2p/tcp, rx-tcp without and with port reuse, the
// released libp2p and libp2p with the proposed upstream fixes
// (test/holepunch/patches/), and go-libp2p on either side. JSON in
// .results/holepunch/, a chart beside it. See docs/holepunch.md.
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { renderPerfChart } from '../interop/perf-chart.ts'
import { parseCli } from '../fixtures/cli.ts'
import { resultFile, shown, sibling } from '../fixtures/results.ts'
import { buildPeer } from '../interop/peers.ts'
import { killAll, runAttempt, startRelay } from './attempt.ts'
import type { ListenOn, Relay } from './attempt.ts'
import { cellId, cellLabel, DEFAULT_PLAN, expectsDirect, hasJs, PAIRS, PATCH_SETS, sides, summarize } from './cells.ts'
import { PATCHES, patchedLibp2p } from './patched.ts'
import { buildTopology, RELAY_LIMITS } from './topology.ts'
import { HOLE_TRANSPORTS } from './transports.ts'
import type { AttemptResult } from './attempt.ts'
import type { CellResult, CellSpec, Pair, PatchSet } from './cells.ts'
import type { Topology, Unsolicited } from './topology.ts'
import type { HoleTransport } from './transports.ts'

const args = parseCli({
  tool: 'holepunch',
  summary: 'TCP hole punching (DCUtR) between two nodes, each behind its own NAT66 router, through a circuit-relay-v2 relay on\n' +
    'a 3fff::/20 "internet" of network namespaces (root, iproute2, nftables). Every cell (pair × js transport × patches) runs\n' +
    '--attempts fresh pairs of nodes and reports the direct-connection rate, the time from the relayed dial to the direct\n' +
    'connection, a ping and an echo over it, and the relayed connection\'s limits. The go peer comes from test/interop/go/.',
  options: {
    pairs: { type: 'list', choices: PAIRS, default: ['js-js', 'js-go', 'go-js', 'go-go'], description: 'who dials whom through the relay: js-js, js-go (a js node dials the go peer), go-js, go-go' },
    transports: { type: 'list', choices: HOLE_TRANSPORTS, default: HOLE_TRANSPORTS, description: 'the js nodes\' TCP transport: ref (@libp2p/tcp), rx-noreuse (rx-tcp, ephemeral dial ports), rx-reuse (rx-tcp, dials from the listen port)' },
    patches: { type: 'list', choices: PATCH_SETS, default: PATCH_SETS, description: 'none: libp2p as released; all: with the proposed upstream fixes of test/holepunch/patches/' },
    every: { type: 'boolean', description: 'every combination of --pairs, --transports and --patches, instead of the cells of a full run that match them (docs/holepunch.md)' },
    attempts: { type: 'integer', min: 1, max: 500, default: 20, description: 'attempts per cell' },
    'direct-timeout': { type: 'integer', min: 1000, max: 120_000, default: 15_000, placeholder: 'MS', description: 'how long the dialer waits for the direct connection after its relayed dial' },
    'echo-bytes': { type: 'size', min: 1, default: '1MiB', description: 'the echo over the direct connection' },
    'listen-on': { type: 'string', choices: ['wildcard', 'own'], default: 'wildcard', description: 'the nodes listen on /ip6/::/tcp/P (wildcard) or on their own private address (own)' },
    parallel: { type: 'integer', min: 1, max: 8, default: 1, description: 'cells run at once, each in a network of its own' },
    unsolicited: { type: 'string', choices: ['drop', 'reset'], default: 'drop', description: 'what a NAT does with a SYN no mapping matches: drop (a home router) or reset (its own stack answers)' },
    'min-rate': { type: 'number', min: 0, max: 100, default: 90, placeholder: 'PERCENT', description: 'the direct-connection rate the cells that expect a hole punch must reach' },
    out: { type: 'string', placeholder: 'FILE', description: 'write the JSON to FILE (default .results/holepunch/latest.json)' },
    record: { type: 'string', placeholder: 'NAME', description: 'write the run to docs/results/holepunch-NAME.json and .svg (committed, quoted by docs/holepunch.md) instead of .results/holepunch/; NAME may be a path' }
  },
  examples: [
    'npm run holepunch -- --pairs js-js --transports rx-reuse --patches all --attempts 5',
    'npm run holepunch -- --record 2026-12-07'
  ]
})

const started = Date.now()
const log = (line: string): void => { process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}\n`) }

// the plan: the default cells, or every combination, that match the options; go-only pairs have one cell
const wanted = (c: CellSpec): boolean => args.pairs.includes(c.pair) && (!hasJs(c.pair) || (args.transports.includes(c.transport) && args.patches.includes(c.patches)))
const plan: CellSpec[] = (args.every
  ? (args.pairs as Pair[]).flatMap((pair): CellSpec[] => hasJs(pair)
      ? (args.transports as HoleTransport[]).flatMap((transport) => (args.patches as PatchSet[]).map((patches) => ({ pair, transport, patches })))
      : [{ pair, transport: 'rx-reuse', patches: 'none' }])
  : DEFAULT_PLAN.filter(wanted))
const echoBytes = args['echo-bytes']
const replay = `npm run holepunch -- --pairs ${args.pairs.join(',')} --transports ${args.transports.join(',')} --patches ${args.patches.join(',')} --attempts ${args.attempts} --direct-timeout ${args['direct-timeout']} --echo-bytes ${echoBytes} --listen-on ${args['listen-on']} --unsolicited ${args.unsolicited} --parallel ${args.parallel}${args.every ? ' --every' : ''}`
log(`holepunch on Node ${process.version}; ${plan.length} cells × ${args.attempts} attempts, ${args.parallel} at once; nodes listen on ${args['listen-on'] === 'wildcard' ? '::' : 'their own address'}; NATs ${args.unsolicited} unsolicited SYNs; direct timeout ${args['direct-timeout']} ms; echo ${echoBytes} bytes`)
log(`replay: ${replay}`)

const topologies: Topology[] = []
const cleanUp = (): void => {
  killAll()
  for (const t of topologies) t.teardown()
}
process.once('exit', cleanUp)
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { log(`${sig}: stopping, removing the namespaces`); cleanUp(); process.exit(130) })

let goPeer: string[] | undefined
let goNote: string | undefined
if (plan.some((c) => c.pair.includes('go'))) {
  const b = buildPeer('go', log)
  if (b.skip != null || b.failed != null) goNote = b.skip ?? b.failed
  else goPeer = b.command
  log(`go peer: ${goNote ?? `ready (${b.buildSeconds.toFixed(1)} s)`}`)
}

const entries: Record<PatchSet, string | undefined> = { none: undefined, all: undefined }
if (plan.some((c) => c.patches === 'all' && hasJs(c.pair))) {
  entries.all = patchedLibp2p(PATCHES)
  log(`patched libp2p: ${PATCHES.join(', ')} applied to a copy in .results/holepunch/patched/`)
}

const failures: string[] = []
const cells: CellResult[] = []
const left: string[] = []
const dropped = { natA: 0, natB: 0 }
let next = 0

/** one network and one relay, running the plan's cells one after another until none is left */
async function worker (w: number): Promise<void> {
  const net = buildTopology(args.unsolicited as Unsolicited)
  if (typeof net === 'string') {
    failures.push(`no network: ${net}`)
    log(`cannot build the network: ${net}`)
    return
  }
  topologies.push(net)
  log(`network ${w}: relay ${net.relayIp} in ${net.ns.relay}; A ${net.node.a.ip} behind ${net.node.a.publicIp}; B ${net.node.b.ip} behind ${net.node.b.publicIp}`)
  try {
    const relay = await startRelay(net)
    log(`relay ${w}: ${relay.addr}`)
    while (next < plan.length) {
      const i = next++
      cells[i] = await runCell(net, relay, plan[i], i)
    }
    left.push(...await relay.stop())
  } catch (err: any) {
    failures.push(`network ${w}: ${String(err?.message ?? err).split('\n')[0]}`)
  } finally {
    const d = net.dropped()
    dropped.natA += d.natA ?? 0
    dropped.natB += d.natB ?? 0
    net.teardown()
    left.push(...net.left().map((n) => `namespace ${n}`))
  }
}

async function runCell (net: Topology, relay: Relay, spec: CellSpec, i: number): Promise<CellResult> {
  const id = cellId(spec)
  const label = cellLabel(spec)
  const expects = expectsDirect(spec)
  const attempts: AttemptResult[] = []
  const say = (line: string): void => { log(`${args.parallel > 1 ? `[${id}] ` : ''}${line}`) }
  say(`cell ${i + 1}/${plan.length}: ${label}${expects ? ` (must reach ${args['min-rate']} %)` : ''}`)
  const { dialer, listener } = sides(spec.pair)
  if (spec.pair.includes('go') && goPeer == null) {
    failures.push(`${id}: the go peer is not available (${goNote ?? 'unknown'})`)
    return { ...spec, id, label, expects, attempts, summary: summarize(attempts) }
  }
  // ports of their own per cell and attempt: no NAT mapping or TIME_WAIT of another attempt is met
  let port = 20_000 + i * 500
  for (let n = 0; n < args.attempts; n++) {
    const r = await runAttempt(net, relay, { dialer, listener, transport: spec.transport, libp2p: entries[spec.patches], port: port++, listenOn: args['listen-on'] as ListenOn, directTimeoutMs: args['direct-timeout'], echoBytes, goPeer })
    attempts.push(r)
    const what = r.direct
      ? `direct in ${r.directMs ?? '?'} ms, ping ${r.pingMs ?? '?'} ms, echo ${r.echoOk === true ? 'ok' : 'BAD'}${r.echoMs != null ? ` ${r.echoMs} ms` : ''}`
      : `relayed only: ${(r.error ?? 'no direct connection').slice(0, 140)}`
    const dirty = [...(r.uncaught.length > 0 ? [`${r.uncaught.length} uncaught`] : []), ...(r.leftAfterStop.length > 0 ? [`left ${r.leftAfterStop.join('; ')}`] : [])]
    say(`  ${String(n + 1).padStart(3)}/${args.attempts} ${r.direct ? 'DIRECT ' : 'relayed'} ${what}${dirty.length > 0 ? ` — ${dirty.join(', ')}` : ''}`)
  }
  const summary = summarize(attempts)
  say(`  ${label}: ${summary.direct}/${summary.attempts} direct (${summary.rate} %)${summary.directMs != null ? `, direct after ${summary.directMs.median.toFixed(0)} ms median` : ''}, ${summary.uncaught} with uncaught, ${summary.left} left something`)
  return { ...spec, id, label, expects, attempts, summary }
}

await Promise.all(Array.from({ length: Math.min(args.parallel, plan.length) }, async (_, w) => await worker(w + 1)))
for (const [i, spec] of plan.entries()) if (cells[i] == null) failures.push(`${cellId(spec)}: not run`)
cells.splice(0, cells.length, ...cells.filter((c) => c != null))
log(`the NATs dropped ${dropped.natA} (A) and ${dropped.natB} (B) unsolicited packets; left after the run: ${left.length === 0 ? 'nothing' : left.join(', ')}`)

// verdicts: every attempt must be clean; a cell that expects the hole punch must reach the rate
let passed = 0
let failed = failures.length
for (const c of cells) {
  for (const a of c.attempts) {
    if (a.uncaught.length === 0 && a.leftAfterStop.length === 0) passed++
    else { failed++; failures.push(`${c.id}: an attempt left ${[...a.uncaught, ...a.leftAfterStop].join('; ').slice(0, 300)}`) }
  }
  if (c.expects) {
    if (c.summary.attempts > 0 && c.summary.rate >= args['min-rate']) passed++
    else { failed++; failures.push(`${c.id}: ${c.summary.direct}/${c.summary.attempts} direct (${c.summary.rate} %), below ${args['min-rate']} %`) }
  }
}
for (const l of left) { failed++; failures.push(`left after the run: ${l}`) }

const table = renderTable(cells)
console.log(`\nholepunch (${new Date().toISOString()}, Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'})\n`)
console.log(`the relayed connection: at most ${Number(RELAY_LIMITS.bytes) / 1024} KiB each way and ${RELAY_LIMITS.ms / 60_000} min (the relay's limits, circuit-relay-v2's defaults); the direct one: no limit`)
console.log(`★: must reach ${args['min-rate']} % direct; times are medians (min–max) over the attempts that got a direct connection\n`)
console.log(table)
if (failures.length > 0) {
  console.log('\nfailures:')
  for (const f of failures) console.log(`- ${f}`)
}

const result = {
  date: new Date().toISOString(),
  node: process.version,
  machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
  durationSeconds: Math.round((Date.now() - started) / 1000),
  replay,
  options: { pairs: args.pairs, transports: args.transports, patches: args.patches, attempts: args.attempts, directTimeoutMs: args['direct-timeout'], echoBytes, unsolicited: args.unsolicited, minRate: args['min-rate'] },
  patches: PATCHES,
  relayLimits: { bytes: Number(RELAY_LIMITS.bytes), seconds: RELAY_LIMITS.ms / 1000 },
  network: { relay: '3fff::1', nodes: { a: 'fd00:a::2 behind 3fff:0:a::2', b: 'fd00:b::2 behind 3fff:0:b::2' }, listenOn: args['listen-on'], nat: `NAT66 masquerade (source port kept), unsolicited SYNs: ${args.unsolicited}`, parallel: args.parallel },
  go: goNote ?? 'go-libp2p v0.52.0 (test/interop/go)',
  counts: { passed, failed },
  failures,
  table,
  cells
}
const out = resultFile({ tool: 'holepunch', committed: 'docs/results', name: 'latest', record: args.record == null ? undefined : args.record.includes('/') || args.record.endsWith('.json') ? args.record : `holepunch-${args.record}`, out: args.out })
writeFileSync(out, JSON.stringify(result, null, 2) + '\n')
const svg = sibling(out, '.svg')
writeFileSync(svg, chart(result))
console.log(`\nwrote ${shown(out)} and ${shown(svg)}`)
const verdict = failed === 0 && cells.length > 0 ? 'PASS' : 'FAIL'
const best = cells.filter((c) => c.expects).map((c) => `${c.id} ${c.summary.direct}/${c.summary.attempts}`).join(', ')
console.log(`holepunch: ${verdict} ${passed} passed, ${failed} failed (${cells.length} cells × ${args.attempts} attempts${best !== '' ? `; ${best} direct` : ''}, ${result.durationSeconds} s)`)
process.exit(verdict === 'PASS' ? 0 : 1)

function renderTable (cells: CellResult[]): string {
  const ms = (s?: { median: number, min: number, max: number }): string => s == null ? '–' : `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`
  const fmt = (v: number): string => v >= 100 ? v.toFixed(0) : v.toFixed(1)
  const header = ['cell', 'direct', 'relayed dial → direct, ms', 'ping direct, ms', `echo ${echoBytes >= 1 << 20 ? `${echoBytes / (1 << 20)} MiB` : `${echoBytes} B`}, ms`, 'ping relayed, ms', 'uncaught / left']
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...cells.map((c) => {
      const s = c.summary
      return `| ${c.label}${c.expects ? ' ★' : ''} | ${s.direct}/${s.attempts} (${s.rate} %) | ${ms(s.directMs)} | ${ms(s.pingMs)} | ${ms(s.echoMs)} | ${ms(s.relayedPingMs)} | ${s.uncaught} / ${s.left} |`
    })
  ].join('\n')
}

function chart (r: typeof result): string {
  const pairs = r.cells.map((c) => ({ id: c.id, label: c.id }))
  const value = (s?: { median: number, min: number, max: number }): { median: number, min: number, max: number } | undefined => s == null ? undefined : { median: s.median, min: s.min, max: s.max }
  const figure = (label: string, unit: string, better: 'higher' | 'lower', pick: (c: CellResult) => { median: number, min: number, max: number } | undefined): any => ({
    label,
    unit,
    better,
    values: Object.fromEntries(r.cells.map((c) => [c.id, pick(c)]).filter(([, v]) => v != null))
  })
  return renderPerfChart({
    title: `TCP hole punch through two NAT66 routers (DCUtR over a circuit-relay-v2 relay) — ${r.options.attempts} attempts per cell`,
    date: r.date,
    node: r.node,
    machine: r.machine,
    reps: r.options.attempts,
    details: `unsolicited SYNs: ${r.options.unsolicited}; patches: ${r.patches.join(', ')}`,
    pairs,
    figures: [
      figure('direct connections', '%', 'higher', (c) => ({ median: c.summary.rate, min: c.summary.rate, max: c.summary.rate })),
      figure('relayed dial → direct connection', 'ms', 'lower', (c) => value(c.summary.directMs)),
      figure('ping over the direct connection', 'ms', 'lower', (c) => value(c.summary.pingMs)),
      figure('ping over the relayed connection', 'ms', 'lower', (c) => value(c.summary.relayedPingMs)),
      figure(`echo of ${r.options.echoBytes} bytes over the direct connection`, 'ms', 'lower', (c) => value(c.summary.echoMs))
    ]
  })
}
