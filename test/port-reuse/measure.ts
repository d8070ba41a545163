// npm run port-reuse -- [--trials N] [--time-wait-limit S] [--out FILE] [--record NAME]   (root, Linux: network namespaces)
/**
 * What happens to a dial from the listen port after an earlier dial from it
 * to the same address: the measurements behind `portReuse: 'auto'`
 * (docs/port-reuse.md). Two namespaces joined by a veth pair (no loopback
 * shortcuts such as `tcp_tw_reuse=2`), a listener with `SO_REUSEPORT` on
 * 10.77.0.1:4001 in one, a plain `net` peer on 10.77.0.2 in the other, and
 * raw `net.BoundSocket` dials from 4001, then the same cases through rx-tcp
 * (which must fall back, counted). Each case is bounded in trials and time.
 */
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { tcp } from '../../src/index.ts'
import { canDialFromListenPort } from '../../src/reuse.ts'
import { parseCli } from '../fixtures/cli.ts'
import { recordingMetrics } from '../fixtures/metrics.ts'
import { netnsUnavailable, sh } from '../fixtures/netns.ts'
import { recordHelp, resultFile, shown, sibling } from '../fixtures/results.ts'
import { passThroughUpgrader } from '../fixtures/upgraders.ts'
import { portReuseChart } from './chart.ts'
import type { Transport } from '@libp2p/interface'

const NS_A = 'rxtcp-reuse-a'
const NS_B = 'rxtcp-reuse-b'
const A = '10.77.0.1'
const B = '10.77.0.2'
const PORT = 4001
/** the peer's ports: 5001, 5011, 5021 and 5031 answer and stay, 5002 ends each connection at once, 5003 is a listen port the peer dials from */
const STAYS = 5001
/** for the TIME_WAIT cases: a 4-tuple each for the raw dials and rx-tcp's, with the peer's timestamps on and off */
const TIME_WAIT_PORTS = { raw: [5001, 5011], rx: [5021, 5031] }
const ENDS = 5002
const PEER_LISTEN = 5003

const values = parseCli({
  tool: 'port-reuse',
  summary: 'Dials from the listen port after an earlier dial from it to the same address: TIME_WAIT, an aborted SYN, a\n4-tuple the peer holds, across two network namespaces (root, Linux). JSON to .results/port-reuse/ unless --record or --out.',
  options: {
    trials: { type: 'integer', min: 1, max: 50, default: 5, description: 'trials of each quick case' },
    'time-wait-limit': { type: 'integer', min: 5, max: 120, default: 75, description: 'seconds to keep retrying a dial from the port of a socket in TIME_WAIT' },
    out: { type: 'string', placeholder: 'FILE', description: 'write the JSON here' },
    record: { type: 'string', placeholder: 'NAME', description: recordHelp('port-reuse', 'test/port-reuse/results') },
    chart: { type: 'string', placeholder: 'FILE', description: 'only draw the chart of a run\'s JSON, next to it' },
    inside: { type: 'boolean', description: '(internal) run the cases: the process is already in the namespace' }
  },
  examples: ['npm run port-reuse -- --trials 10 --record 2026-12-07', 'npm run port-reuse -- --chart test/port-reuse/results/2026-12-07.json']
})

/** The peer in NS_B: a plain Node script, spawned by the process in NS_A */
const PEER_SCRIPT = `
const net = require('node:net')
for (const port of [5001, 5011, 5021, 5031]) net.createServer(s => s.on('error', () => {})).listen(port, '${B}')
const end = net.createServer(s => { s.on('error', () => {}); s.end() }).listen(${ENDS}, '${B}')
const own = net.createServer(s => s.on('error', () => {})).listen({ port: ${PEER_LISTEN}, host: '${B}', reusePort: true })
let last
process.stdin.on('data', (d) => {
  // 'dial': a dial from the peer's listen port to ours, as a go-libp2p peer (or rx-tcp) makes; the one before is reset (no TIME_WAIT)
  last?.resetAndDestroy()
  const s = last = new net.Socket({ handle: new net.BoundSocket({ host: '${B}', port: ${PEER_LISTEN}, reusePort: true }) })
  s.on('error', (e) => console.log('dial-error ' + e.code)).connect(${PORT}, '${A}', () => console.log('dialed'))
})
console.log('ready')
`

interface Attempt { ok: boolean, code?: string, localPort?: number }

/** one raw dial from PORT with net.BoundSocket, settled */
async function rawDial (host: string, port: number, opts: { abortAfter?: number } = {}): Promise<Attempt & { socket?: net.Socket }> {
  return await new Promise((resolve) => {
    let socket: net.Socket
    try {
      const handle = new (net as any).BoundSocket({ host: host === '127.0.0.1' ? '127.0.0.1' : A, port: PORT, reusePort: true })
      socket = new net.Socket({ handle } as any)
    } catch (err: any) {
      resolve({ ok: false, code: `bind ${err.code as string}` })
      return
    }
    // every dial bounded: an answer that never comes is an outcome too
    const timer = setTimeout(() => { socket.destroy(); resolve({ ok: false, code: opts.abortAfter != null ? 'aborted' : 'no answer in 5 s' }) }, opts.abortAfter ?? 5000)
    socket.once('connect', () => { clearTimeout(timer); socket.resume(); resolve({ ok: true, localPort: socket.localPort, socket }) })
    socket.once('error', (err: NodeJS.ErrnoException) => { clearTimeout(timer); resolve({ ok: false, code: err.code }) })
    socket.connect(port, host)
  })
}

async function closeFirst (socket: net.Socket): Promise<void> {
  await new Promise<void>((resolve) => { socket.once('close', () => { resolve() }); socket.end() })
}

/** dials from PORT every `everyMs` until one connects or `limitS` passes; the seconds it took, or undefined */
async function secondsUntilReusable (host: string, port: number, limitS: number, everyMs = 250): Promise<{ seconds?: number, codes: string[] }> {
  const start = Date.now()
  const codes = new Set<string>()
  while (Date.now() - start < limitS * 1000) {
    const attempt = await rawDial(host, port)
    if (attempt.ok) {
      // a reset leaves nothing of the 4-tuple behind (a close would leave FIN_WAIT, then TIME_WAIT)
      attempt.socket?.resetAndDestroy()
      return { seconds: (Date.now() - start) / 1000, codes: [...codes] }
    }
    codes.add(attempt.code ?? 'unknown')
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
  return { codes: [...codes] }
}

/** the same dial through rx-tcp: where it left from, and what it counted */
async function rxDial (transport: Transport, events: Record<string, number>, host: string, port: number): Promise<{ ok: boolean, fromListenPort: boolean, reuseFallback: number, code?: string }> {
  const before = events.reuse_fallback ?? 0
  try {
    const conn: any = await transport.dial(multiaddr(`/ip4/${host}/tcp/${port}`), { upgrader: passThroughUpgrader(), signal: AbortSignal.timeout(5000) })
    // the connection's own socket (a private field of rx-tcp's MultiaddrConnection): where the dial left from
    const fromListenPort = conn.maConn.socket.localPort === PORT
    await conn.maConn.close()
    return { ok: true, fromListenPort, reuseFallback: (events.reuse_fallback ?? 0) - before }
  } catch (err: any) {
    return { ok: false, fromListenPort: false, reuseFallback: (events.reuse_fallback ?? 0) - before, code: err.code }
  }
}

async function inside (): Promise<void> {
  const peer = spawn('ip', ['netns', 'exec', NS_B, process.execPath, '-e', PEER_SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines: string[] = []
  let wake = (): void => {}
  peer.stdout.setEncoding('utf8').on('data', (d: string) => { lines.push(...d.trim().split('\n')); wake() })
  const next = async (what: string): Promise<string> => {
    const until = Date.now() + 5000
    while (lines.length === 0) {
      if (Date.now() > until) throw new Error(`port-reuse: the peer did not answer (${what})`)
      await new Promise<void>(resolve => { wake = resolve; setTimeout(resolve, 100) })
    }
    return lines.shift() as string
  }
  await next('ready')

  const metrics = recordingMetrics()
  const transport = tcp()({ logger: defaultLogger(), metrics }) as Transport & { stop(): Promise<void> }
  const listener = transport.createListener({ upgrader: passThroughUpgrader() })
  await listener.listen(multiaddr(`/ip4/${A}/tcp/${PORT}`))
  const loop = transport.createListener({ upgrader: passThroughUpgrader() })
  await loop.listen(multiaddr(`/ip4/127.0.0.1/tcp/${PORT}`))
  metrics.values.libp2p_tcp_dialer_events_total ??= {}
  const events = metrics.values.libp2p_tcp_dialer_events_total
  /** one case of the JSON: its name, a line for the log, and what it measured */
  interface Case { name: string, summary: string, rx?: Awaited<ReturnType<typeof rxDial>>, [measured: string]: unknown }
  const cases: Case[] = []
  const rxResults: Array<Awaited<ReturnType<typeof rxDial>>> = []
  const report = (c: Case): void => {
    cases.push(c)
    if (c.rx != null) rxResults.push(c.rx)
    console.log(`port-reuse: ${c.name}: ${c.summary}`)
  }

  // 1. we closed first: our side holds the 4-tuple in TIME_WAIT. Linux lets a socket bound to its port
  // reuse it at once when both ends sent TCP timestamps (tcp_twsk_unique); a peer without them
  // (Windows' default) leaves it taken for the whole TIME_WAIT (60 s)
  // (a port of its own each: a 4-tuple whose TIME_WAIT had timestamps would be reused at once)
  for (const [i, timestamps] of [1, 0].entries()) {
    sh('ip', ['netns', 'exec', NS_B, 'sysctl', '-q', '-w', `net.ipv4.tcp_timestamps=${timestamps}`])
    const closedFirst = async (port: number): Promise<boolean> => {
      const first = await rawDial(B, port)
      if (first.socket == null) throw new Error(`port-reuse: the first dial to ${B}:${port} failed: ${first.code ?? ''}`)
      await closeFirst(first.socket)
      return sh('ip', ['netns', 'exec', NS_A, 'ss', '-tanH', 'state', 'time-wait', `dst ${B}:${port}`]).trim() !== ''
    }
    const rxTimeWait = await closedFirst(TIME_WAIT_PORTS.rx[i])
    const rx = await rxDial(transport, events, B, TIME_WAIT_PORTS.rx[i])
    const rawTimeWait = await closedFirst(TIME_WAIT_PORTS.raw[i])
    const wait = await secondsUntilReusable(B, TIME_WAIT_PORTS.raw[i], timestamps === 1 ? 5 : values['time-wait-limit'])
    report({
      name: `time-wait-timestamps-${timestamps === 1 ? 'on' : 'off'}`,
      timeWait: rxTimeWait && rawTimeWait,
      rx,
      wait,
      summary: `we closed first (TIME_WAIT seen: ${rxTimeWait && rawTimeWait ? 'yes' : 'no'}), peer's TCP timestamps ${timestamps === 1 ? 'on' : 'off'}: rx-tcp at once ${rx.ok ? 'connected' : `failed ${rx.code ?? ''}`} from ${rx.fromListenPort ? 'the listen port' : 'an ephemeral port'} (reuse_fallback +${rx.reuseFallback}); raw dials from ${PORT} failed with ${wait.codes.length > 0 ? wait.codes.join(',') : 'nothing'} and connected after ${wait.seconds?.toFixed(1) ?? `more than ${values['time-wait-limit']}`} s`
    })
  }
  sh('ip', ['netns', 'exec', NS_B, 'sysctl', '-q', '-w', 'net.ipv4.tcp_timestamps=1'])

  // 2. the peer closed first: no TIME_WAIT on our side, but our socket's 'close' comes before the
  // kernel lets the 4-tuple go (LAST_ACK until the peer's last ACK)
  const peerFirst: Array<{ seconds?: number, codes: string[] }> = []
  for (let i = 0; i < values.trials; i++) {
    const first = await rawDial(B, ENDS)
    if (first.socket == null) {
      peerFirst.push({ codes: [`first dial: ${first.code ?? ''}`] })
      continue
    }
    await new Promise(resolve => first.socket?.once('close', resolve))
    peerFirst.push(await secondsUntilReusable(B, ENDS, 5, 5))
  }
  const atOnce = peerFirst.filter(w => w.codes.length === 0).length
  const waits = peerFirst.filter(w => w.codes.length > 0 && w.seconds != null).map(w => (w.seconds as number) * 1000)
  report({ name: 'peer-closed-first', attempts: peerFirst, summary: `the peer closed first; a dial again from ${PORT} after our 'close', retried every 5 ms: ${atOnce}/${peerFirst.length} connected at once, ${waits.length} after EADDRNOTAVAIL for ${waits.length > 0 ? `${Math.min(...waits).toFixed(0)}-${Math.max(...waits).toFixed(0)} ms` : '-'}, ${peerFirst.length - atOnce - waits.length} not within 5 s` })

  // 3. a dial from the port that got no answer (SYN dropped), aborted after 1 s, then a dial again to the same address
  const aborted: Attempt[] = []
  for (let i = 0; i < values.trials; i++) {
    sh('ip', ['netns', 'exec', NS_B, 'ip', 'route', 'add', 'blackhole', `${A}/32`])
    const first = await rawDial(B, STAYS, { abortAfter: 1000 })
    sh('ip', ['netns', 'exec', NS_B, 'ip', 'route', 'del', 'blackhole', `${A}/32`])
    const again = await rawDial(B, STAYS)
    again.socket?.resetAndDestroy()
    aborted.push({ ok: again.ok && first.code === 'aborted', code: again.code ?? first.code, localPort: again.localPort })
  }
  report({ name: 'aborted-syn', attempts: aborted, summary: `a dial from ${PORT} whose SYN got no answer, aborted after 1 s; the dial again at once: ${aborted.filter(a => a.ok).length}/${aborted.length} connected from ${PORT} (the host keeps nothing of the aborted socket: what breaks a hole punch after it is the NAT's state, issue 21 obstacle 3)` })

  // 4. the peer dialed us from its listen port: the 4-tuple is that connection's
  const taken: Array<{ raw: Attempt, rx: Awaited<ReturnType<typeof rxDial>> }> = []
  for (let i = 0; i < values.trials; i++) {
    peer.stdin.write('dial\n')
    const answer = await next('its dial')
    if (answer !== 'dialed') throw new Error(`port-reuse: the peer's dial from ${B}:${PEER_LISTEN} to ${A}:${PORT} failed: ${answer}; its sockets: ${sh('ip', ['netns', 'exec', NS_B, 'ss', '-tanoH'])}`)
    const raw = await rawDial(B, PEER_LISTEN)
    raw.socket?.resetAndDestroy()
    const rx = await rxDial(transport, events, B, PEER_LISTEN)
    taken.push({ raw: { ok: raw.ok, code: raw.code }, rx })
  }
  report({ name: 'four-tuple-taken', attempts: taken, summary: `the peer dialed us from its listen port ${PEER_LISTEN}; our dial from ${PORT} to it: raw ${taken.map(t => t.raw.ok ? 'ok' : t.raw.code).join(',')}; rx-tcp connected ${taken.filter(t => t.rx.ok).length}/${taken.length}, from an ephemeral port ${taken.filter(t => t.rx.ok && !t.rx.fromListenPort).length}, reuse_fallback +${taken.reduce((n, t) => n + t.rx.reuseFallback, 0)}` })

  peer.kill()
  await transport.stop()
  const out = resultFile({ tool: 'port-reuse', committed: 'test/port-reuse/results', name: 'latest', record: values.record, out: values.out })
  const kernel = spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.trim()
  const run = { tool: 'port-reuse', date: new Date().toISOString(), node: process.version, kernel, trials: values.trials, cases }
  writeFileSync(out, JSON.stringify(run, null, 2) + '\n')
  writeFileSync(sibling(out, '.svg'), portReuseChart(run))
  console.log(`port-reuse: results written to ${shown(out)} (chart ${shown(sibling(out, '.svg'))})`)
  const pass = aborted.every(a => a.ok) && taken.every(t => t.rx.ok && !t.rx.fromListenPort) && rxResults.every(rx => rx.ok)
  console.log(`port-reuse: ${pass ? 'PASS' : 'FAIL'} ${cases.length} cases, ${values.trials} trials each (time-wait: 1), node ${process.version}, kernel ${kernel}`)
  process.exitCode = pass ? 0 : 1
}

function setUp (): void {
  tearDown()
  sh('ip', ['netns', 'add', NS_A])
  sh('ip', ['netns', 'add', NS_B])
  sh('ip', ['link', 'add', 'rxreuse-a', 'netns', NS_A, 'type', 'veth', 'peer', 'name', 'rxreuse-b', 'netns', NS_B])
  for (const [ns, dev, ip] of [[NS_A, 'rxreuse-a', A], [NS_B, 'rxreuse-b', B]]) {
    sh('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${ip}/24`, 'dev', dev])
    sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', dev, 'up'])
    sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up'])
  }
}

function tearDown (): void {
  for (const ns of [NS_A, NS_B]) spawnSync('ip', ['netns', 'del', ns])
}

if (values.chart !== undefined) {
  const svg = sibling(values.chart, '.svg')
  writeFileSync(svg, portReuseChart(JSON.parse(readFileSync(values.chart, 'utf8'))))
  console.log(`port-reuse: chart of ${shown(values.chart)} drawn to ${shown(svg)}`)
} else if (values.inside) {
  await inside().catch((err) => {
    console.log(`port-reuse: FAIL ${String(err?.stack ?? err)}`)
    process.exit(1)
  })
} else {
  const why = netnsUnavailable()
  if (why != null) {
    console.log(`port-reuse: FAIL cannot run: ${why}`)
    process.exit(1)
  }
  if (!canDialFromListenPort) {
    console.log(`port-reuse: FAIL this runtime (${process.version}) has no net.BoundSocket`)
    process.exit(1)
  }
  console.log(`port-reuse: trials=${values.trials} time-wait-limit=${values['time-wait-limit']}s node=${process.version}; namespaces ${NS_A} (${A}, listener on ${PORT}) and ${NS_B} (${B})`)
  setUp()
  try {
    const args = ['netns', 'exec', NS_A, process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), '--inside', ...process.argv.slice(2)]
    const child = spawnSync('ip', args, { stdio: 'inherit', timeout: (values['time-wait-limit'] + 120) * 1000 })
    process.exitCode = child.status ?? 1
  } finally {
    tearDown()
  }
}
