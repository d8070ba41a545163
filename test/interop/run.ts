// npm run interop [-- --peers go --transports rx --scenarios ping,echo --netns off]
// js-libp2p on rx-tcp and on @libp2p/tcp against go-libp2p and rust-libp2p
// peers, both directions, over loopback and (as root) two lossy network
// namespaces: a matrix of pair × scenario, JSON in .results/interop/.
// `--perf` runs the perf comparison instead (test/interop/perf.ts).
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { cpus, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { runCell } from './cells.ts'
import { parseCli } from '../fixtures/cli.ts'
import { CLOSE_TIMEOUT_MS } from './js-node.ts'
import { netnsPair } from './netns-pair.ts'
import { buildDir, buildPeer, killAllPeers } from './peers.ts'
import { SCENARIOS, STOP_MARGIN_MS } from './scenarios.ts'
import type { CellResult, CellSpec, Direction, Network, Placement } from './cells.ts'
import type { JsTransport } from './js-node.ts'
import type { PeerBinary, PeerKind } from './peers.ts'

const REPO = resolve(import.meta.dirname, '../..')

const TRANSPORTS: JsTransport[] = ['rx', 'ref']
const DIRECTIONS: Record<string, Direction> = { dial: 'js-dials', listen: 'js-listens' }
const PEERS: PeerKind[] = ['go', 'rust', 'js']

if (process.argv.includes('--perf')) {
  await import('./perf.ts')
} else {
  await matrix()
}

async function matrix (): Promise<void> {
  const args = parseCli({
    tool: 'interop',
    summary: 'go-libp2p and rust-libp2p peers against js-libp2p on rx-tcp and on @libp2p/tcp, both directions, every\n' +
      'scenario, over loopback and across two lossy namespaces. The peers are built by test/interop/{go,rust}/build.sh\n' +
      'into test/interop/.build/ (rebuilt only when their sources or lockfile change); without go or cargo their cells\n' +
      'are skipped, saying why. --perf runs the perf comparison instead (see --perf --help).',
    options: {
      peers: { type: 'list', choices: PEERS, default: ['go', 'rust'], description: 'go, rust; js adds the JavaScript stand-in (test/interop/js-peer.ts)' },
      transports: { type: 'list', choices: TRANSPORTS, default: TRANSPORTS, description: 'rx (rx-tcp from src/), ref (@libp2p/tcp 11)' },
      directions: { type: 'list', choices: Object.keys(DIRECTIONS), default: Object.keys(DIRECTIONS), description: 'dial: the JS node dials; listen: the JS node listens' },
      scenarios: { type: 'list', choices: Object.keys(SCENARIOS), default: Object.keys(SCENARIOS), description: 'the scenarios to run' },
      netns: { type: 'string', choices: ['auto', 'on', 'off'], default: 'auto', description: 'auto: the same cells across two namespaces with 3 % loss where root, iproute2 and nftables exist; on: fail without them' },
      loss: { type: 'number', min: 0, max: 50, default: 3, placeholder: 'PERCENT', description: 'loss on each side of the namespace link' },
      out: { type: 'string', placeholder: 'FILE', description: 'JSON to write (default .results/interop/latest.json)' },
      record: { type: 'string', placeholder: 'NAME', description: 'also write the JSON to docs/results/NAME.json (a committed run; a path is taken as it is)' },
      perf: { type: 'boolean', description: 'run the perf comparison instead (see --perf --help)' }
    },
    examples: ['npm run interop -- --peers go --transports rx --scenarios ping,echo --netns off', 'npm run interop -- --record interop-2026-12-01']
  })
  const peers = args.peers as PeerKind[]
  const transports = args.transports as JsTransport[]
  const directions = args.directions.map((d) => DIRECTIONS[d])
  const scenarios = args.scenarios
  const loss = args.loss
  const record = args.record == null ? undefined : /[/\\]|\.json$/.test(args.record) ? args.record : join(REPO, 'docs/results', `${args.record}.json`)

  const started = Date.now()
  const log = (line: string): void => { process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}\n`) }
  process.once('exit', killAllPeers)
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { killAllPeers(); process.exit(130) })

  log(`interop on Node ${process.version}; peers ${peers.join(',')}; transports ${transports.join(',')}; directions ${directions.join(',')}; scenarios ${scenarios.join(',')}; netns ${args.netns} (loss ${loss} %); build dir ${buildDir()}`)
  log(`replay: npm run interop -- --peers ${peers.join(',')} --transports ${transports.join(',')} --directions ${Object.entries(DIRECTIONS).filter(([, d]) => directions.includes(d)).map(([k]) => k).join(',')} --scenarios ${scenarios.join(',')} --netns ${args.netns} --loss ${loss}`)

  const binaries: Record<string, PeerBinary> = {}
  const skipped: Record<string, string> = {}
  const failedBuilds: Record<string, string> = {}
  for (const kind of peers) {
    log(`building the ${kind} peer`)
    const b = buildPeer(kind, log)
    log(`  ${kind}: ${b.skip != null ? `skip (${b.skip})` : b.failed != null ? `build FAILED: ${b.failed}` : `ready (${b.buildSeconds.toFixed(1)} s)`}`)
    if (b.skip != null) skipped[kind] = b.skip
    else if (b.failed != null) failedBuilds[kind] = b.failed
    else binaries[kind] = b
  }

  const networks: Network[] = ['loopback']
  let netnsNote = 'not run (--netns off)'
  let pair: ReturnType<typeof netnsPair> | undefined
  if (args.netns !== 'off') {
    pair = netnsPair(loss)
    if (typeof pair === 'string') {
      netnsNote = `skipped: ${pair}`
      if (args.netns === 'on') { log(`netns: ${pair}`); failedBuilds.netns = pair }
      log(`netns cells ${netnsNote}`)
    } else {
      networks.push('netns')
      netnsNote = `${pair.jsNs} ↔ ${pair.peerNs}, ${pair.impairment}`
      log(`netns: ${netnsNote}`)
    }
  }

  const plan: CellSpec[] = []
  for (const network of networks) {
    for (const peer of peers) {
      if (binaries[peer] == null) continue
      for (const transport of transports) {
        for (const direction of directions) {
          for (const scenario of scenarios) plan.push({ peer, transport, direction, scenario, network })
        }
      }
    }
  }
  log(`${plan.length} cells`)

  const results: CellResult[] = []
  const report = (r: CellResult, i: number): void => {
    results.push(r)
    log(`  ${String(i + 1).padStart(3)}/${plan.length} ${r.status.toUpperCase().padEnd(4)} ${rowName(r).padEnd(36)} ${r.scenario.padEnd(13)} ${r.ms} ms  ${r.detail}`)
  }
  const loopback: Placement = { jsIp: '127.0.0.1', peerIp: '127.0.0.1', slow: 1 }
  const local = plan.filter((c) => c.network === 'loopback')
  for (const [i, spec] of local.entries()) report(await runCell(spec, SCENARIOS[spec.scenario], binaries[spec.peer], loopback), i)
  const remote = plan.filter((c) => c.network === 'netns')
  if (remote.length > 0 && pair != null && typeof pair !== 'string') {
    const place: Placement = { jsIp: pair.jsIp, peerIp: pair.peerIp, peerNetns: pair.peerNs, slow: 3 }
    await inNamespace(pair.jsNs, remote, binaries, place, (r) => { report(r, results.length) }, log)
    const dropped = pair.dropped()
    netnsNote += `; the loss rules dropped ${dropped.js ?? '?'} packets leaving the JS side and ${dropped.peer ?? '?'} leaving the peer's`
    log(`netns: ${netnsNote}`)
    pair.teardown()
  }

  // summary
  const counts = { pass: 0, fail: 0, na: 0 }
  for (const r of results) {
    if (r.status === 'pass') counts.pass++
    else if (r.status === 'fail') counts.fail++
    else counts.na++
  }
  const buildFailures = Object.keys(failedBuilds).length
  const uncaught = results.reduce((n, r) => n + r.uncaught.length, 0)
  const table = renderMatrix(results, scenarios)
  console.log(`\ninterop matrix (${new Date().toISOString()}, Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'})`)
  console.log(`stop bound: closeTimeout ${CLOSE_TIMEOUT_MS} ms + margin ${STOP_MARGIN_MS} ms (× 3 in the namespaces); netns: ${netnsNote}\n`)
  console.log(table)
  const failures = results.filter((r) => r.status === 'fail')
  if (failures.length > 0) {
    console.log('\nfailures:')
    for (const f of failures) console.log(`- ${rowName(f)} ${f.scenario}: ${f.detail}`)
  }
  for (const [k, why] of Object.entries(skipped)) console.log(`\n${k} peer skipped: ${why}`)
  for (const [k, why] of Object.entries(failedBuilds)) console.log(`\n${k} FAILED: ${why}`)

  const result = {
    date: new Date().toISOString(),
    node: process.version,
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
    durationSeconds: Math.round((Date.now() - started) / 1000),
    options: { peers, transports, directions, scenarios, netns: args.netns, loss },
    stopBoundMs: CLOSE_TIMEOUT_MS + STOP_MARGIN_MS,
    netns: netnsNote,
    builds: Object.fromEntries(peers.map((k) => [k, binaries[k] != null ? { seconds: binaries[k].buildSeconds } : { skip: skipped[k], failed: failedBuilds[k] }])),
    counts: { passed: counts.pass, failed: counts.fail + buildFailures, notApplicable: counts.na, uncaught },
    matrix: table,
    cells: results
  }
  const out = args.out ?? join(REPO, '.results/interop/latest.json')
  for (const file of [out, ...(record != null ? [record] : [])]) {
    mkdirSync(dirname(resolve(file)), { recursive: true })
    writeFileSync(file, JSON.stringify(result, null, 2) + '\n')
    console.log(`\nwrote ${file}`)
  }
  const failed = counts.fail + buildFailures
  const ranNothing = results.length === 0
  const notes = [
    `${counts.na} n/a`,
    `${uncaught} uncaught`,
    ...Object.keys(skipped).map((k) => `${k} skipped`),
    networks.includes('netns') ? 'loopback + netns' : 'loopback only',
    `${result.durationSeconds} s`
  ].join(', ')
  if (failed > 0 || ranNothing) {
    console.log(`interop: FAIL ${counts.pass} passed, ${failed} failed (${ranNothing ? 'no cell ran; ' : ''}${notes})`)
    process.exit(1)
  }
  console.log(`interop: PASS ${counts.pass} passed, 0 failed (${notes})`)
  process.exit(0)
}

function rowName (r: CellSpec): string {
  return `${r.peer} × ${r.transport === 'rx' ? 'rx-tcp' : '@libp2p/tcp'} ${r.direction}${r.network === 'netns' ? ' [netns]' : ''}`
}

function renderMatrix (results: CellResult[], scenarios: string[]): string {
  const rows = new Map<string, Map<string, CellResult>>()
  for (const r of results) {
    const name = rowName(r)
    if (!rows.has(name)) rows.set(name, new Map())
    rows.get(name)?.set(r.scenario, r)
  }
  const mark = (r: CellResult | undefined): string => r == null ? '' : r.status === 'pass' ? 'PASS' : r.status === 'fail' ? '**FAIL**' : 'n/a'
  const header = ['pair (peer × JS transport, direction)', ...scenarios]
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...[...rows].map(([name, cells]) => `| ${name} | ${scenarios.map((s) => mark(cells.get(s))).join(' | ')} |`)
  ].join('\n')
}

/** runs `cells` in a child process inside the JS namespace, reporting each result as it comes */
async function inNamespace (ns: string, cells: CellSpec[], binaries: Record<string, PeerBinary>, place: Placement, report: (r: CellResult) => void, log: (line: string) => void): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'rx-tcp-interop-'))
  const planFile = join(dir, 'plan.json')
  writeFileSync(planFile, JSON.stringify({ cells, binaries, place }))
  const tsx = createRequire(import.meta.url).resolve('tsx/esm')
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', tsx, join(import.meta.dirname, 'netns-cells.ts'), planFile], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000) })
  const done = new Set<string>()
  const key = (c: CellSpec): string => `${c.peer}/${c.transport}/${c.direction}/${c.scenario}`
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      const msg = JSON.parse(line)
      if (msg.event === 'cell') { done.add(key(msg.result)); report(msg.result) }
    } catch {
      log(`netns child: ${line}`)
    }
  })
  // each cell is bounded inside the child; this bounds the child as a whole
  const code = await new Promise<number | string>((resolve) => {
    const timer = setTimeout(() => { child.kill('SIGKILL') }, cells.length * 200_000)
    child.once('exit', (c, s) => { clearTimeout(timer); resolve(c ?? s ?? 'unknown') })
  })
  rmSync(dir, { recursive: true, force: true })
  for (const c of cells) {
    if (!done.has(key(c))) report({ ...c, status: 'fail', detail: `the namespace child exited (${code}) before this cell: ${stderr.trim().split('\n').slice(-3).join(' | ')}`, ms: 0, uncaught: [] })
  }
}
