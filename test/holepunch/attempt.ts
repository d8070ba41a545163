/**
 * One hole punch attempt: a listener behind NAT B and a dialer behind NAT A
 * (each a js-libp2p node, test/holepunch/peer.ts, or the go interop peer),
 * both with a slot on the relay; the dialer dials the listener through the
 * relay and reports whether DCUtR gave it a direct connection, when, and a
 * ping and an echo over it. Every process runs in its namespace, is bounded
 * in time, and is gone when the attempt returns.
 *
 * @example
 * const relay = await startRelay(net)
 * const r = await runAttempt(net, relay, { dialer: 'js', listener: 'go', transport: 'rx-reuse', libp2p: entry, port: 20001 }, log)
 */
import { spawn } from 'node:child_process'
import { createWriteStream, mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { jsonLines } from '../fixtures/netns.ts'
import type { PeerConfig } from './peer.ts'
import type { Topology } from './topology.ts'
import type { HoleTransport } from './transports.ts'
import type { JsonLines } from '../fixtures/netns.ts'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'

export type Side = 'js' | 'go'

/**
 * Where the nodes listen: `wildcard` (`/ip6/::/tcp/P`) or `own` (their own,
 * private, address): rx-tcp dials from the port of a listener of the dial's
 * scope or of the wildcard, so a node that listens on its private address
 * dials the internet from an ephemeral port (go-libp2p asks the routing
 * table instead, and dials from the listen port either way).
 */
export type ListenOn = 'wildcard' | 'own'

export interface AttemptSpec {
  dialer: Side
  listener: Side
  /** the js nodes' TCP transport */
  transport: HoleTransport
  /** the js nodes' libp2p: a patched copy's entry, or undefined for node_modules' */
  libp2p?: string
  /** the port both nodes listen on, fresh per attempt so that no NAT mapping or TIME_WAIT of an earlier attempt is met */
  port: number
  /** the nodes listen on the wildcard address (`::`) or on their own address (fd00:…) */
  listenOn: ListenOn
  /** how long the dialer waits for the direct connection after the relayed dial */
  directTimeoutMs: number
  echoBytes: number
  /** the go peer's command */
  goPeer?: string[]
}

export interface AttemptResult {
  direct: boolean
  /** relayed dial started → relayed connection up */
  relayedMs?: number
  /** relayed dial started → direct connection up (the dialer's view) */
  directMs?: number
  pingMs?: number
  echoMs?: number
  echoOk?: boolean
  relayedPingMs?: number
  relayedLimits?: { bytes?: number, seconds?: number }
  directAddr?: string
  /** the listener saw the direct connection too */
  listenerDirect?: boolean
  error?: string
  /** uncaught exceptions and unhandled rejections in the js nodes */
  uncaught: string[]
  /** TCP handles a js node still had after stop, or a process that did not exit by itself */
  leftAfterStop: string[]
  stopMs: number[]
  /** with HOLEPUNCH_STDERR=N: the last N lines each process wrote to stderr */
  stderr?: Record<string, string>
}

let logged = 0
/**
 * How long a node may take to come up (a listening or ready line) and to
 * exit once asked to stop. Generous: on a loaded 2-core machine a node's
 * start (tsx compiling libp2p's modules) has taken over 30 s; these bound
 * the harness, not the hole punch, whose own bound is `directTimeoutMs`.
 */
const START_MS = 120_000
const STOP_MS = 30_000

const tsx = createRequire(import.meta.url).resolve('tsx/esm')
const PEER = join(import.meta.dirname, 'peer.ts')

/** every child this process started and has not seen exit: killed on the way out whatever happens */
const children = new Set<ChildProcessWithoutNullStreams>()
export function killAll (): void {
  for (const c of children) c.kill('SIGKILL')
}

interface Proc {
  child: ChildProcessWithoutNullStreams
  lines: JsonLines
  events: any[]
  /** the first event `pick` accepts, seen or to come */
  waitFor: (pick: (e: any) => boolean, what: string, ms: number) => Promise<any>
  exited: Promise<number | string>
  label: string
}

function start (ns: string, command: string[], label: string): Proc {
  const child = spawn('ip', ['netns', 'exec', ns, ...command], { stdio: ['pipe', 'pipe', 'pipe'] })
  children.add(child)
  // a line to a child that has just exited fails with EPIPE, asynchronously: its exit is what counts
  child.stdin.on('error', () => {})
  const exited = new Promise<number | string>((resolve) => { child.once('exit', (code, sig) => { children.delete(child); resolve(code ?? sig ?? 'unknown') }) })
  const lines = jsonLines(child, label)
  // HOLEPUNCH_LOGS=<dir>: every process's whole stderr in a file of its own (with DEBUG=libp2p:* for the js nodes)
  if (process.env.HOLEPUNCH_LOGS != null) {
    mkdirSync(process.env.HOLEPUNCH_LOGS, { recursive: true })
    child.stderr.pipe(createWriteStream(join(process.env.HOLEPUNCH_LOGS, `${String(++logged).padStart(4, '0')}-${label.replace(/\W+/g, '-')}.log`)))
  }
  const events: any[] = []
  const waiters: Array<{ pick: (e: any) => boolean, resolve: (e: any) => void }> = []
  lines.onEach((e) => {
    events.push(e)
    for (const w of waiters.splice(0)) {
      if (w.pick(e)) w.resolve(e)
      else waiters.push(w)
    }
  })
  const waitFor = async (pick: (e: any) => boolean, what: string, ms: number): Promise<any> => {
    const seen = events.find(pick)
    if (seen != null) return seen
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`${label}: no ${what} within ${ms} ms; stderr: ${lines.stderr().trim().split('\n').slice(-3).join(' | ')}`)) }, ms)
      const failed = (e: any): boolean => e.event === 'error'
      waiters.push({ pick: (e) => pick(e) || failed(e), resolve: (e) => { clearTimeout(timer); if (failed(e) && !pick(e)) reject(new Error(`${label}: ${String(e.message).split('\n')[0]}`)); else resolve(e) } })
      void exited.then((code) => { clearTimeout(timer); reject(new Error(`${label} exited (${code}) before ${what}; stderr: ${lines.stderr().trim().split('\n').slice(-3).join(' | ')}`)) })
    })
  }
  return { child, lines, events, waitFor, exited, label }
}

function jsPeer (ns: string, config: PeerConfig, label: string): Proc {
  return start(ns, [process.execPath, '--import', tsx, PEER, JSON.stringify(config)], label)
}

/** asks a process to stop (a line, then stdin's end), and kills it if it has not exited within `ms` */
async function stop (p: Proc, ms: number): Promise<{ exitedByItself: boolean, code: number | string }> {
  if (p.child.exitCode == null && p.child.signalCode == null) {
    try { p.child.stdin.write('stop\n'); p.child.stdin.end() } catch {}
  }
  let timer: NodeJS.Timeout | undefined
  const killed = new Promise<'killed'>((resolve) => { timer = setTimeout(() => { p.child.kill('SIGKILL'); resolve('killed') }, ms) })
  const how = await Promise.race([p.exited, killed])
  clearTimeout(timer)
  const code = how === 'killed' ? await p.exited : how
  return { exitedByItself: how !== 'killed', code }
}

export interface Relay {
  addr: string
  stop: () => Promise<AttemptResult['leftAfterStop']>
}

/** the js relay on the internet, for the whole run */
export async function startRelay (net: Topology): Promise<Relay> {
  const p = jsPeer(net.ns.relay, { role: 'relay', transport: 'rx-noreuse', listen: `/ip6/${net.relayIp}/tcp/4001`, announce: `/ip6/${net.relayIp}/tcp/4001` }, 'relay')
  const e = await p.waitFor((e) => e.event === 'listening', 'listening line', START_MS)
  const addr = (e.addrs as string[]).find((a) => a.includes(net.relayIp))
  if (addr == null) throw new Error(`the relay listens on ${String(e.addrs)}, not on ${net.relayIp}`)
  return {
    addr,
    stop: async () => {
      const s = await stop(p, STOP_MS)
      const stopped = p.events.find((e) => e.event === 'stopped')
      return [...(s.exitedByItself ? [] : [`relay: killed ${STOP_MS / 1000} s after stop`]), ...(stopped?.tcpHandles ?? []).map((h: string) => `relay: ${h}`)]
    }
  }
}

/** one attempt, bounded; never throws: a failure is in the result */
export async function runAttempt (net: Topology, relay: Relay, spec: AttemptSpec): Promise<AttemptResult> {
  const result: AttemptResult = { direct: false, uncaught: [], leftAfterStop: [], stopMs: [] }
  const nodeAddr = (s: 'a' | 'b'): { listen: string, announce: string } => ({
    listen: `/ip6/${spec.listenOn === 'wildcard' ? '::' : net.node[s].ip}/tcp/${spec.port}`,
    announce: `/ip6/${net.node[s].publicIp}/tcp/${spec.port}`
  })
  const procs: Proc[] = []
  try {
    // both nodes start at once; the js dialer is told whom to dial once the listener has its slot on the relay
    const a = nodeAddr('a')
    const b = nodeAddr('b')
    let dialer: Proc | undefined
    if (spec.dialer === 'js') {
      dialer = jsPeer(net.ns.a, { role: 'dialer', transport: spec.transport, libp2p: spec.libp2p, listen: a.listen, announce: a.announce, relay: relay.addr, directTimeoutMs: spec.directTimeoutMs, echoBytes: spec.echoBytes }, 'dialer (js)')
      procs.push(dialer)
    }
    let listener: Proc
    let circuit: string
    if (spec.listener === 'js') {
      listener = jsPeer(net.ns.b, { role: 'listener', transport: spec.transport, libp2p: spec.libp2p, listen: b.listen, announce: b.announce, relay: relay.addr }, 'listener (js)')
      procs.push(listener)
      const ready = await listener.waitFor((e) => e.event === 'ready', 'ready line', START_MS)
      if (ready.circuit == null) throw new Error(`the js listener has no relayed address: ${String(ready.addrs)}`)
      circuit = ready.circuit
    } else {
      listener = start(net.ns.b, [...goCommand(spec), '--listen', b.listen, '--announce', b.announce, '--relay', relay.addr, '--hole-punch'], 'listener (go)')
      procs.push(listener)
      circuit = (await listener.waitFor((e) => e.event === 'reserved', 'reserved line', START_MS)).addrs[0]
    }

    let r: any
    if (dialer != null) {
      await dialer.waitFor((e) => e.event === 'ready', 'ready line', START_MS)
      dialer.child.stdin.write(`dial ${circuit}\n`)
      r = await dialer.waitFor((e) => e.event === 'result', 'result line', spec.directTimeoutMs + 60_000)
    } else {
      const p = start(net.ns.a, [...goCommand(spec), '--listen', a.listen, '--announce', a.announce, '--relay', relay.addr, '--hole-punch',
        '--dial', circuit, '--run', 'holepunch', '--count', '1', '--bytes', String(spec.echoBytes), '--direct-timeout-ms', String(spec.directTimeoutMs)], 'dialer (go)')
      procs.push(p)
      const end = await p.waitFor((e) => e.event === 'done' || e.event === 'error', 'done line', spec.directTimeoutMs + 60_000).catch((err) => ({ event: 'error', message: err.message }))
      const direct = p.events.find((e) => e.event === 'direct')
      const echo = p.events.find((e) => e.event === 'echo')
      r = {
        direct: direct != null,
        directMs: direct?.ms,
        directAddr: direct?.remoteAddr,
        pingMs: p.events.find((e) => e.event === 'ping')?.rttMs,
        echoMs: p.events.find((e) => e.event === 'echoed')?.ms,
        echoOk: echo != null ? echo.sha256 === echo.echoSha256 : undefined,
        error: end.event === 'error' ? String(end.message) : undefined
      }
    }
    Object.assign(result, {
      direct: r.direct === true && r.error == null,
      relayedMs: r.relayedMs,
      directMs: r.directMs,
      pingMs: r.pingMs,
      echoMs: r.echoMs,
      echoOk: r.echoOk,
      relayedPingMs: r.relayedPingMs,
      relayedLimits: r.relayedLimits,
      directAddr: r.directAddr,
      error: r.error
    })
    if (r.direct === true && r.echoOk !== true && result.error == null) result.error = 'the echo over the direct connection did not come back intact'
  } catch (err: any) {
    result.error = String(err?.message ?? err).split('\n')[0]
  } finally {
    // stop both (the listener last, so it sees the dialer go), and collect what they left
    for (const p of [...procs].sort((x, y) => Number(x.label.startsWith('listener')) - Number(y.label.startsWith('listener')))) {
      const s = await stop(p, STOP_MS)
      const stopped = p.events.find((e) => e.event === 'stopped')
      if (stopped != null) {
        result.stopMs.push(stopped.stopMs)
        result.uncaught.push(...stopped.uncaught.map((u: string) => `${p.label}: ${u.split('\n')[0]}`))
        result.leftAfterStop.push(...stopped.tcpHandles.map((h: string) => `${p.label}: ${h}`))
        if (p.label.startsWith('listener')) result.listenerDirect = (stopped.connections as any[]).some((c) => c.relayed !== true && c.peer !== relay.addr.split('/p2p/')[1])
      }
      const err = p.events.find((e) => e.event === 'error')
      if (err?.uncaught != null) result.uncaught.push(...err.uncaught.map((u: string) => `${p.label}: ${u.split('\n')[0]}`))
      if (!s.exitedByItself) result.leftAfterStop.push(`${p.label}: did not exit within ${STOP_MS / 1000} s of stop (killed)`)
      if (p.label.includes('(go)') && p.label.startsWith('listener')) {
        result.listenerDirect = p.events.some((e) => e.event === 'connected' && !String(e.remoteAddr).includes('p2p-circuit') && !relay.addr.includes(String(e.peerId)))
      }
    }
  }
  if (process.env.HOLEPUNCH_STDERR != null) {
    result.stderr = Object.fromEntries(procs.map((p) => [p.label, p.lines.stderr().trim().split('\n').slice(-Number(process.env.HOLEPUNCH_STDERR ?? 6)).join('\n')]))
  }
  return result
}

function goCommand (spec: AttemptSpec): string[] {
  if (spec.goPeer == null) throw new Error('the go peer is not built')
  return spec.goPeer
}
