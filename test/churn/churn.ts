/**
 * The churn of `npm run runtimes`, as one runtime runs it for one transport:
 * K libp2p nodes in this process, loops of dials aborted at random moments
 * (`AbortSignal.timeout` of 1–60 ms), full dials, pings and hang-ups, and a
 * node stopped and replaced every few seconds; every uncaught exception and
 * unhandled rejection counted by message. The sequence of operations comes
 * from the seed (each loop forks its own generator), so two transports on
 * one seed are asked the same things in the same order; their timing is the
 * machine's.
 */
import net from 'node:net'
import { latency } from '../chaos/harness.ts'
import { createRandom } from '../chaos/random.ts'
import { handleListing } from '../fixtures/handles.ts'
import { hasChaCha20Poly1305 } from '../fixtures/noise.ts'
import { createChurnNode, stopChurnNode } from './node.ts'
import { formatSocket, openSockets, timeStopParts, watchUpgrades } from './trace.ts'
import type { LatencySummary } from '../chaos/harness.ts'
import type { Random } from '../chaos/random.ts'
import type { ChurnNode, ChurnTransport } from './node.ts'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface ChurnOptions {
  transport: ChurnTransport
  nodes: number
  durationMs: number
  seed: number
  /** operation loops running at once (default 4) */
  concurrency?: number
  /** a node is replaced every [min, max] ms, drawn from the seed (default 2000–5000) */
  replaceEveryMs?: readonly [number, number]
  /** a stop() that takes longer than this is described (default 250 ms, half the close deadline) */
  slowStopMs?: number
  onProgress?: (line: string) => void
}

/** How the run checked that nothing of the transport outlived the final stop(). */
export interface HandlesCheck {
  /**
   * `resources`: `process.getActiveResourcesInfo()` lists TCP handles on this
   * runtime, and their count is compared with the one before the nodes were
   * created. `held`: it does not (Bun's returns nothing), so what is checked
   * is that no transport or listener still holds a socket not closed and that
   * every port the nodes listened on refuses a connection.
   */
  method: 'resources' | 'held'
  /** TCP handles above the baseline (`resources`), or sockets still held plus ports still accepting (`held`) */
  left: number
  detail: string[]
}

export interface ChurnResult {
  transport: ChurnTransport
  seed: number
  nodes: number
  durationMs: number
  /** process.version, and Bun's or Deno's own version where there is one */
  runtimeVersion: string
  noiseCrypto: 'node:crypto' | 'pureJsCrypto'
  operations: {
    total: number
    abortedDials: { started: number, aborted: number, connected: number, failed: number }
    dials: { ok: number, failed: number }
    pings: { ok: number, failed: number }
    hangUps: number
    /** operations skipped because a node was being replaced */
    skipped: number
    replacements: number
  }
  uncaught: { total: number, byMessage: Array<{ kind: string, message: string, count: number, stack: string }> }
  /** every stop(): the replacements' and the final ones */
  stopMs: LatencySummary
  /** stops slower than `slowStopMs`, with the sockets the transport still held at that point */
  slowStops: Array<{ ms: number, at: number, sockets: string[], parts: string[] }>
  handles: HandlesCheck
  /**
   * BroadcastChannels without `unref()` (Deno's) still open after the last
   * stop(), which the child closed before timing its exit: mortice's, from
   * libp2p's peer store (see channels.ts). Set by child.ts.
   */
  channelsClosed?: number
  /** the most common failures of dials and pings that were not aborted by the churn itself */
  failures: Array<{ message: string, count: number }>
}

interface Slot { node: ChurnNode, addr: Multiaddr }

const OPERATIONS = ['aborted-dial', 'aborted-dial', 'aborted-dial', 'dial', 'ping', 'ping', 'hang-up'] as const

/** TCP handles of this process, by kind, where the runtime lists them */
function tcpResources (): string[] {
  return typeof process.getActiveResourcesInfo === 'function'
    ? process.getActiveResourcesInfo().filter(name => /TCP|ConnectWrap|ShutdownWrap/.test(name))
    : []
}

export function runtimeVersion (): string {
  const v = process.versions as Record<string, string | undefined>
  if (v.bun != null) return `bun ${v.bun}`
  if (v.deno != null) return `deno ${v.deno}`
  return `node ${process.version}`
}

function messageOf (err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message.split('\n')[0].slice(0, 200)}`
  return String(err).slice(0, 200)
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

export async function runChurn (opts: ChurnOptions): Promise<ChurnResult> {
  const uncaught = new Map<string, { kind: string, message: string, count: number, stack: string }>()
  const trap = (kind: string) => (err: unknown): void => {
    const message = messageOf(err)
    const key = `${kind} ${message}`
    const entry = uncaught.get(key) ?? { kind, message, count: 0, stack: err instanceof Error ? (err.stack ?? '').split('\n').slice(1, 8).join('\n') : '' }
    entry.count++
    uncaught.set(key, entry)
  }
  const onException = trap('uncaughtException')
  const onRejection = trap('unhandledRejection')
  process.on('uncaughtException', onException)
  process.on('unhandledRejection', onRejection)
  try {
    return await churn(opts, uncaught)
  } finally {
    process.off('uncaughtException', onException)
    process.off('unhandledRejection', onRejection)
  }
}

async function churn (opts: ChurnOptions, uncaught: Map<string, { kind: string, message: string, count: number, stack: string }>): Promise<ChurnResult> {
  const log = opts.onProgress ?? (() => {})
  const rng = createRandom(opts.seed)
  const concurrency = opts.concurrency ?? 4
  const [replaceMin, replaceMax] = opts.replaceEveryMs ?? [2000, 5000]
  const slowStopMs = opts.slowStopMs ?? 250

  // asked of the runtime with a server of its own, not assumed from its name (Bun lists nothing)
  const listsHandles = await handleListing() === 'resources'
  const baseline = tcpResources().length
  const ops = { total: 0, abortedDials: { started: 0, aborted: 0, connected: 0, failed: 0 }, dials: { ok: 0, failed: 0 }, pings: { ok: 0, failed: 0 }, hangUps: 0, skipped: 0, replacements: 0 }
  const failures = new Map<string, number>()
  const failed = (err: unknown): void => { const m = messageOf(err); failures.set(m, (failures.get(m) ?? 0) + 1) }
  const stops: number[] = []
  const slowStops: ChurnResult['slowStops'] = []
  const stopped: ChurnNode[] = []
  const ports = new Set<number>()
  const started = performance.now()
  const elapsed = (): number => performance.now() - started

  const start = async (): Promise<Slot> => {
    const node = await createChurnNode(opts.transport)
    watchUpgrades(node)
    const addr = node.getMultiaddrs()[0]
    ports.add(Number(/\/tcp\/(\d+)/.exec(addr.toString())?.[1]))
    return { node, addr }
  }

  /** stops a node, describing what its transport still holds if the stop runs long */
  const stop = async (node: ChurnNode): Promise<void> => {
    let described: string[] | undefined
    const parts = timeStopParts(node)
    const probe = setTimeout(() => { described = openSockets(node).map(formatSocket) }, slowStopMs)
    try {
      const ms = await stopChurnNode(node)
      const timed = parts()
      stops.push(ms)
      if (ms > slowStopMs) {
        slowStops.push({ ms: Math.round(ms), at: Math.round(elapsed()), sockets: described ?? [], parts: timed })
        log(`slow stop(): ${ms.toFixed(0)} ms at ${(elapsed() / 1000).toFixed(1)} s, the transport still held ${described?.length ?? 0} sockets at ${slowStopMs} ms`)
        for (const line of described ?? []) log(`  ${line}`)
        for (const line of timed) log(`  ${line}`)
      }
    } finally {
      // ends its event-loop watch too, whether or not stop() threw
      parts()
      clearTimeout(probe)
      stopped.push(node)
    }
  }

  const slots: Array<Slot | undefined> = await Promise.all(Array.from({ length: opts.nodes }, start))
  // the end of the run, as the loops see it
  const end = new AbortController()

  const operate = async (r: Random): Promise<void> => {
    const i = r.int(0, opts.nodes - 1)
    const j = (i + r.int(1, opts.nodes - 1)) % opts.nodes
    const kind = r.pick(OPERATIONS)
    const abortAfter = r.int(1, 60)
    const a = slots[i]
    const b = slots[j]
    if (a == null || b == null) {
      ops.skipped++
      return
    }
    ops.total++
    switch (kind) {
      case 'aborted-dial': {
        // a dial to a peer already connected returns that connection: hang up first
        if (a.node.getConnections(b.node.peerId).length > 0) await a.node.hangUp(b.node.peerId).catch(failed)
        ops.abortedDials.started++
        try {
          await a.node.dial(b.addr, { signal: AbortSignal.timeout(abortAfter) })
          ops.abortedDials.connected++
        } catch (err: any) {
          if (err?.name === 'AbortError' || err?.name === 'TimeoutError') ops.abortedDials.aborted++
          else {
            ops.abortedDials.failed++
            failed(err)
          }
        }
        break
      }
      case 'dial':
        try {
          await a.node.dial(b.addr, { signal: AbortSignal.timeout(5_000) })
          ops.dials.ok++
        } catch (err) {
          ops.dials.failed++
          failed(err)
        }
        break
      case 'ping':
        try {
          await a.node.services.ping.ping(b.addr, { signal: AbortSignal.timeout(5_000) })
          ops.pings.ok++
        } catch (err) {
          ops.pings.failed++
          failed(err)
        }
        break
      case 'hang-up':
        await a.node.hangUp(b.node.peerId).catch(failed)
        ops.hangUps++
        break
    }
  }

  const loop = async (r: Random): Promise<void> => {
    while (!end.signal.aborted) {
      // an operation that throws past its own catch is the harness's fault: counted, and the loop goes on
      await operate(r).catch((err) => { failed(new Error(`harness: ${messageOf(err)}`)) })
      await sleep(r.int(0, 10))
    }
  }

  const replace = async (r: Random): Promise<void> => {
    while (!end.signal.aborted) {
      // the wait is cut short at the end of the run, in steps, so no long timer outlives it
      const wait = performance.now() + r.int(replaceMin, replaceMax)
      while (!end.signal.aborted && performance.now() < wait) await sleep(Math.min(100, wait - performance.now()))
      if (end.signal.aborted) break
      const k = r.int(0, opts.nodes - 1)
      const old = slots[k]
      if (old == null) continue
      slots[k] = undefined
      await stop(old.node).catch((err) => { failed(new Error(`stop(): ${messageOf(err)}`)) })
      try {
        slots[k] = await start()
        ops.replacements++
      } catch (err) {
        failed(new Error(`start(): ${messageOf(err)}`))
      }
    }
  }

  const progress = setInterval(() => {
    const s = latency(stops)
    log(`${(elapsed() / 1000).toFixed(0)} s: ${ops.total} operations, ${ops.replacements} replacements, uncaught ${[...uncaught.values()].reduce((n, e) => n + e.count, 0)}, stop() p50 ${s.p50} ms max ${s.max} ms`)
  }, 10_000)

  const loops = Array.from({ length: concurrency }, async () => { await loop(rng.fork()) })
  const replacing = replace(rng.fork())
  await sleep(opts.durationMs)
  end.abort()
  await Promise.all([...loops, replacing])
  clearInterval(progress)
  const durationMs = elapsed()

  // the final stops, with whatever connections the churn left open
  await Promise.all(slots.map(async (slot) => { if (slot != null) await stop(slot.node) }))

  const handles = await checkHandles(listsHandles, baseline, stopped, ports)
  // rejections that surface a turn or two after the last stop still count
  await sleep(50)

  const byMessage = [...uncaught.values()].sort((a, b) => b.count - a.count)
  return {
    transport: opts.transport,
    seed: opts.seed,
    nodes: opts.nodes,
    durationMs: Math.round(durationMs),
    runtimeVersion: runtimeVersion(),
    noiseCrypto: hasChaCha20Poly1305() ? 'node:crypto' : 'pureJsCrypto',
    operations: ops,
    uncaught: { total: byMessage.reduce((n, e) => n + e.count, 0), byMessage },
    stopMs: latency(stops),
    slowStops,
    handles,
    failures: [...failures.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([message, count]) => ({ message, count }))
  }
}

async function checkHandles (listsHandles: boolean, baseline: number, stopped: ChurnNode[], ports: Set<number>): Promise<HandlesCheck> {
  if (listsHandles) {
    // libuv releases a closed handle in a later turn: give it up to 2 s
    const deadline = performance.now() + 2_000
    while (tcpResources().length > baseline && performance.now() < deadline) await sleep(10)
    const now = tcpResources()
    return { method: 'resources', left: Math.max(0, now.length - baseline), detail: now.length > baseline ? now : [] }
  }
  const held = stopped.flatMap(node => openSockets(node).map(formatSocket))
  const accepting: string[] = []
  await Promise.all([...ports].map(async (port) => {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port })
      socket.once('connect', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => { resolve(false) })
    })
    if (open) accepting.push(`port ${port} still accepts connections`)
  }))
  return { method: 'held', left: held.length + accepting.length, detail: [...held, ...accepting] }
}
