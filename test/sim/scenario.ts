/**
 * One mode of the simulation from start to finish: start a host process per
 * namespace, start the nodes (bootstrap nodes first), warm up, then for
 * `seconds` keep up the load (gossipsub publishes, DHT puts and gets, pings,
 * dials aborted mid-upgrade) and the churn (a node stops, a fresh one joins),
 * drain, stop everything and collect what each host saw. Every choice (who
 * publishes when, which keys, which pairs, who leaves, where the newcomer
 * goes) is drawn from the seeded generator, so two modes run on one seed get
 * the same plan; timing still differs run to run.
 */
import { createRandom } from '../chaos/random.ts'
import { startHost } from './hosts.ts'
import { summarise } from './summary.ts'
import { topology, waitFormed } from './topology.ts'
import type { Random } from '../chaos/random.ts'
import type { HostProcess } from './hosts.ts'
import type { SimNetwork } from './network.ts'
import type { SimTransport } from './node.ts'
import type { FinishReply, Reply } from './protocol.ts'
import type { ModeSummary } from './summary.ts'

export type SimMode = 'rx' | 'ref' | 'mixed'

export interface ScenarioOptions {
  mode: SimMode
  seed: number
  nodes: number
  seconds: number
  /** each node publishes once per this many ms */
  publishEveryMs: number
  /** a DHT put or get every this many ms, network-wide */
  dhtEveryMs: number
  /** a ping between a random pair every this many ms */
  pingEveryMs: number
  /** a dial aborted mid-upgrade every this many ms */
  abortEveryMs: number
  /** a node stops and a fresh one joins every this many ms */
  churnEveryMs: number
  /** a node takes part (publishes, is expected to receive) this long after it started */
  settleMs: number
  /** a message is expected at a node only if the node runs this long after it was published */
  graceMs: number
  onProgress?: (line: string) => void
}

/** what the parent knows of one node */
export interface NodeRecord {
  name: string
  host: number
  transport: SimTransport
  ip: string
  bootstrap: boolean
  addr?: string
  /** when it had started and subscribed (wall clock, ms) */
  readyAt?: number
  /** when the parent told it to stop (wall clock, ms) */
  stopAt?: number
  stopMs?: number
  received?: Array<[string, number]>
  /** it had a connection within 20 s of its start (bootstrap nodes: always) */
  joined?: boolean
}

export interface OpRecord {
  kind: 'put' | 'get' | 'ping' | 'abort-dial'
  ok: boolean
  /** the node doing it or the node it aimed at was stopped before it ended: not counted either way */
  interrupted: boolean
  value?: number
  error?: string
}

export interface RunState {
  nodes: NodeRecord[]
  messages: Map<string, { sender: string, t: number }>
  ops: OpRecord[]
  churned: number
  /** keys put with success: what gets look up */
  keys: Array<{ key: string, value: string, by: string, at: number }>
  finish: FinishReply[]
  hostErrors: string[]
  /** whether the network formed before the load began (see waitFormed), and how long that took */
  formed?: boolean
  formMs?: number
}

const now = (): number => performance.timeOrigin + performance.now()
const tick = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
// a DHT query crosses several peers, each on a loop that may run seconds late
const OP_TIMEOUT_MS = 30_000

export async function runScenario (net: SimNetwork, opts: ScenarioOptions): Promise<ModeSummary> {
  const started = now()
  // the loss rules' counters run across modes: this mode's drops are the difference
  const droppedBefore = net.dropped()
  const rng = createRandom(opts.seed)
  const state: RunState = { nodes: [], messages: new Map(), ops: [], churned: 0, keys: [], finish: [], hostErrors: [] }
  const hosts = await Promise.all(net.hosts.map(async (spec, i) => startHost(i, spec)))
  const inflight = new Set<Promise<unknown>>()
  const track = (p: Promise<unknown>): void => {
    const q = p.catch(() => {}).finally(() => inflight.delete(q))
    inflight.add(q)
  }
  const say = (line: string): void => opts.onProgress?.(`sim[${opts.mode}] ${line}`)
  try {
    await startNodes(hosts, state, opts)
    say(`${state.nodes.length} nodes up on ${hosts.length} hosts in ${((now() - started) / 1000).toFixed(1)} s; waiting for the network to form`)
    const formStart = now()
    state.formed = await waitFormed(hosts, opts.nodes, say)
    state.formMs = now() - formStart
    // and at least the settle time, which newcomers of churn get too
    if (now() - formStart < opts.settleMs) await tick(opts.settleMs - (now() - formStart))
    const loadStart = now()
    const loadEnd = loadStart + opts.seconds * 1000
    const nextPublish = new Map<string, number>()
    let nextDht = loadStart
    let nextPing = loadStart
    let nextAbort = loadStart
    let nextChurn = loadStart + opts.churnEveryMs
    let nextProgress = loadStart + 10_000
    let seq = 0
    while (now() < loadEnd) {
      const t = now()
      const live = eligible(state, t, opts.settleMs)
      for (const n of live) {
        const due = nextPublish.get(n.name) ?? t + rng.next() * opts.publishEveryMs
        if (due > t) { nextPublish.set(n.name, due); continue }
        nextPublish.set(n.name, due + opts.publishEveryMs)
        const id = `${n.name}#${seq++}`
        track(hosts[n.host].request({ op: 'publish', name: n.name, id }, OP_TIMEOUT_MS).then(r => {
          if (r.ok === true) state.messages.set(id, { sender: n.name, t: r.t })
        }))
      }
      if (t >= nextDht && live.length >= 2) {
        nextDht += opts.dhtEveryMs
        track(dhtOp(hosts, state, live, rng))
      }
      if (t >= nextPing && live.length >= 2) {
        nextPing += opts.pingEveryMs
        const [a, b] = pair(live, rng)
        track(op(state, 'ping', [a, b], hosts[a.host].request({ op: 'ping', name: a.name, addr: b.addr as string, timeoutMs: OP_TIMEOUT_MS }, OP_TIMEOUT_MS + 5_000), r => r.rtt))
      }
      if (t >= nextAbort && live.length >= 2) {
        nextAbort += opts.abortEveryMs
        const [a, b] = pair(live, rng)
        // short enough to land in the TCP connect or the noise/yamux upgrade
        const abortAfterMs = rng.int(2, 40)
        track(op(state, 'abort-dial', [a, b], hosts[a.host].request({ op: 'abort-dial', name: a.name, addr: b.addr as string, abortAfterMs }, OP_TIMEOUT_MS), r => r.ms, r => r.aborted === true))
      }
      if (t >= nextChurn) {
        nextChurn += opts.churnEveryMs
        track(churn(hosts, state, opts, rng))
      }
      if (t >= nextProgress) {
        nextProgress += 10_000
        say(progress(state, t - loadStart))
        track(topology(hosts).then(t => { say(t.line) }))
      }
      await tick(20)
    }
    say(`load over after ${opts.seconds} s; draining (at least ${opts.graceMs / 1000} s, operations in flight: ${inflight.size})`)
    const drainEnd = now() + opts.graceMs
    await Promise.race([Promise.allSettled([...inflight]), tick(OP_TIMEOUT_MS + 10_000)])
    if (now() < drainEnd) await tick(drainEnd - now())
    say(progress(state, now() - loadStart))
    say('stopping every node')
    const finishing = hosts.map(async h => {
      const r = await h.request({ op: 'finish' }, 180_000)
      if (r.ok !== true) throw new Error(`host ${h.index} could not finish: ${r.error}`)
      return r as unknown as FinishReply
    })
    for (const [i, result] of (await Promise.allSettled(finishing)).entries()) {
      if (result.status === 'fulfilled') {
        state.finish.push(result.value)
        for (const s of result.value.stops) Object.assign(byName(state, s.name), { stopMs: s.stopMs, received: s.received, stopAt: byName(state, s.name).stopAt ?? now() })
      } else {
        state.hostErrors.push(`host ${i}: ${String(result.reason?.message ?? result.reason)}`)
      }
    }
  } finally {
    await Promise.all(hosts.map(async h => h.kill()))
  }
  return summarise(opts, state, net, now() - started, droppedBefore)
}

/**
 * Starts every host once, with a node of each transport that dials the
 * first, and stops them: unmeasured. The first mode of a run otherwise pays
 * for what later modes find cached (tsx's transforms, V8's code cache, the
 * page cache): in two runs on one seed with the order swapped, whichever
 * mode came first started its nodes 1.2–1.8 times slower and had the
 * larger event-loop delays.
 */
export async function warmUp (net: SimNetwork): Promise<void> {
  const hosts = await Promise.all(net.hosts.map(async (spec, i) => startHost(i, spec)))
  try {
    await Promise.all(hosts.map(async (h) => {
      const [ipA, ipB] = h.freeIps
      const a = await h.request({ op: 'start', name: 'warm-a', transport: 'rx', ip: ipA, bootstrap: [] }, 60_000)
      await h.request({ op: 'start', name: 'warm-b', transport: 'ref', ip: ipB, bootstrap: [a.addr] }, 60_000)
      await h.request({ op: 'finish' }, 60_000)
    }))
  } finally {
    await Promise.all(hosts.map(async h => h.kill()))
  }
}

function byName (state: RunState, name: string): NodeRecord {
  const n = state.nodes.find(x => x.name === name)
  if (n == null) throw new Error(`no node ${name}`)
  return n
}

function eligible (state: RunState, t: number, settleMs: number): NodeRecord[] {
  return state.nodes.filter(n => n.readyAt != null && n.stopAt == null && n.readyAt + settleMs <= t)
}

function pair (live: NodeRecord[], rng: Random): [NodeRecord, NodeRecord] {
  const a = rng.pick(live)
  const others = live.filter(n => n !== a)
  return [a, rng.pick(others)]
}

function transportOf (mode: SimMode, index: number): SimTransport {
  return mode === 'mixed' ? (index % 2 === 0 ? 'rx' : 'ref') : mode
}

async function startNode (hosts: HostProcess[], state: RunState, host: number, transport: SimTransport, bootstrap: boolean): Promise<NodeRecord | undefined> {
  const h = hosts[host]
  const ip = h.freeIps.shift()
  if (ip == null) return undefined
  const record: NodeRecord = { name: `n${state.nodes.length}`, host, transport, ip, bootstrap }
  state.nodes.push(record)
  const list = state.nodes.filter(n => n.bootstrap && n.addr != null).map(n => n.addr as string)
  const r = await h.request({ op: 'start', name: record.name, transport, ip, bootstrap: list }, 60_000)
  if (r.ok !== true) throw new Error(`could not start ${record.name} on host ${host} (${ip}): ${r.error}`)
  record.addr = `${String(r.addr)}`
  record.readyAt = r.readyAt
  record.joined = r.joined === true
  return record
}

/**
 * One bootstrap node per host first, one after the other; then the rest, two
 * at a time, each start waiting for the node's first connection. Started all
 * at once, 26 nodes dialing 4 bootstrap nodes are more noise handshakes than
 * a loaded 2-core machine finishes within libp2p's 10 s dial timeout, on
 * either transport; @libp2p/bootstrap does not dial again, and a third of
 * the nodes stayed alone (docs/sim.md).
 */
async function startNodes (hosts: HostProcess[], state: RunState, opts: ScenarioOptions): Promise<void> {
  for (let i = 0; i < Math.min(hosts.length, opts.nodes); i++) await startNode(hosts, state, i, transportOf(opts.mode, i), true)
  const rest = Array.from({ length: opts.nodes - state.nodes.length }, (_, i) => (hosts.length + i) % hosts.length)
  let next = 0
  await Promise.all(Array.from({ length: 2 }, async () => {
    while (next < rest.length) {
      const host = rest[next++]
      await startNode(hosts, state, host, transportOf(opts.mode, state.nodes.length), false)
    }
  }))
}

async function churn (hosts: HostProcess[], state: RunState, opts: ScenarioOptions, rng: Random): Promise<void> {
  const candidates = eligible(state, now(), opts.settleMs).filter(n => !n.bootstrap)
  if (candidates.length === 0) return
  const leaving = rng.pick(candidates)
  const host = rng.int(0, hosts.length - 1)
  leaving.stopAt = now()
  state.churned++
  const stopped = hosts[leaving.host].request({ op: 'stop', name: leaving.name }, 60_000).then(r => {
    if (r.ok !== true) throw new Error(`could not stop ${leaving.name}: ${r.error}`)
    leaving.stopMs = r.stopMs
    leaving.received = r.received
    hosts[leaving.host].freeIps.push(leaving.ip)
  })
  const joined = startNode(hosts, state, host, transportOf(opts.mode, state.nodes.length), false)
  const [s, j] = await Promise.allSettled([stopped, joined])
  for (const r of [s, j]) if (r.status === 'rejected') state.hostErrors.push(String(r.reason?.message ?? r.reason))
}

async function dhtOp (hosts: HostProcess[], state: RunState, live: NodeRecord[], rng: Random): Promise<void> {
  const t = now()
  const gettable = state.keys.filter(k => k.at <= t - 1_000)
  const actor = rng.pick(live)
  if (gettable.length > 0 && rng.chance(0.5)) {
    const k = rng.pick(gettable)
    const getter = k.by !== actor.name ? actor : pair(live, rng)[1]
    await op(state, 'get', [getter], hosts[getter.host].request({ op: 'get', name: getter.name, key: k.key, value: k.value, timeoutMs: OP_TIMEOUT_MS }, OP_TIMEOUT_MS + 5_000), () => undefined, r => r.found === true)
    return
  }
  const key = Buffer.from(rng.bytes(16)).toString('hex')
  const value = Buffer.from(rng.bytes(32)).toString('hex')
  const ok = await op(state, 'put', [actor], hosts[actor.host].request({ op: 'put', name: actor.name, key, value, timeoutMs: OP_TIMEOUT_MS }, OP_TIMEOUT_MS + 5_000), r => r.stored, r => r.stored > 0)
  if (ok) state.keys.push({ key, value, by: actor.name, at: now() })
}

/** records one operation's outcome; true when it succeeded */
async function op (state: RunState, kind: OpRecord['kind'], involved: NodeRecord[], reply: Promise<Reply>, value: (r: Reply) => number | undefined, success: (r: Reply) => boolean = () => true): Promise<boolean> {
  let record: OpRecord
  try {
    const r = await reply
    const ok = r.ok === true && success(r)
    record = { kind, ok, interrupted: false, value: r.ok === true ? value(r) : undefined, error: r.ok === true ? undefined : r.error }
  } catch (err: any) {
    record = { kind, ok: false, interrupted: false, error: String(err?.message ?? err) }
  }
  record.interrupted = !record.ok && involved.some(n => n.stopAt != null)
  state.ops.push(record)
  return record.ok
}

function progress (state: RunState, ms: number): string {
  const count = (kind: OpRecord['kind']): string => {
    const ops = state.ops.filter(o => o.kind === kind && !o.interrupted)
    return `${ops.filter(o => o.ok).length}/${ops.length}`
  }
  const alive = state.nodes.filter(n => n.readyAt != null && n.stopAt == null).length
  return `t=${(ms / 1000).toFixed(0)}s nodes=${alive} churned=${state.churned} published=${state.messages.size} puts=${count('put')} gets=${count('get')} pings=${count('ping')} aborted-dials=${count('abort-dial')}${state.hostErrors.length > 0 ? ` host-errors=${state.hostErrors.length}` : ''}`
}
