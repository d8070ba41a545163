import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { LoadCommand, LoadCounts, LoadReport, NodeCommand, NodeReport, Sample } from './protocol.ts'
import type { ChildProcess } from 'node:child_process'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const MiB = 2 ** 20

export interface SoakOptions {
  /** the node's transport: rx-tcp or @libp2p/tcp */
  transport: 'rx' | 'ref'
  durationMs: number
  /** no verdict on the heap before this (default 2 min) */
  warmupMs?: number
  /** the node samples this often (default 10 s) */
  sampleEveryMs?: number
  /** a quiet point this often after the warm-up (default 3 min), and one at the end */
  quietEveryMs?: number
  /** the heap trend is judged only over a post-warm-up window at least this long (default 5 min) */
  judgeTrendAfterMs?: number
  /** write heap snapshots at the first and the last quiet point to `${heapSnapshots}-first.heapsnapshot` and `-last` */
  heapSnapshots?: string
  /** concurrent load loops (default 4) */
  workers?: number
  seed: number
  onProgress?: (line: string) => void
}

export interface QuietPoint {
  t: number
  sample: Sample
  /** how long the load took to abort what it had in flight and close its connections, ms */
  loadDrainMs: number
  atBaseline: boolean
}

export interface SoakResult {
  transport: 'rx' | 'ref'
  date: string
  node: string
  seed: number
  params: { durationMs: number, warmupMs: number, sampleEveryMs: number, quietEveryMs: number, judgeTrendAfterMs: number, workers: number }
  samples: Sample[]
  quietPoints: QuietPoint[]
  baseline?: { tcpHandles: number, fds: number }
  heap: {
    /** least-squares slope over the post-warm-up samples under load, as % of their mean per 10 minutes */
    trendPctPer10Min: number
    judged: boolean
    /** the same over the quiet points' samples (load paused, connections closed): no verdict, a cleaner view */
    quietTrendPctPer10Min: number
    /** the trend of V8's old space alone (the application's data, without code and bytecode), as % of its mean */
    oldSpaceTrendPctPer10Min: number
    meanPostWarmup: number
    /** first and last post-warm-up samples, bytes */
    start: number
    end: number
  }
  rss: { start: number, end: number, max: number }
  loopDelayP99Max: number
  load: LoadCounts
  dialBacks: { ok: number, failed: number }
  uncaught: { node: number, load: number }
  errors: string[]
  stopMs?: number
  handlesAfterStop?: Record<string, number>
  failures: string[]
  pass: boolean
  durationMs: number
}

type Report<T> = T & { type: string }

/** A child process and a way to wait, bounded, for its next message of a type. */
class Child<Cmd, Msg extends { type: string }> {
  readonly proc: ChildProcess
  private readonly waiters: Array<{ type: string, accept: (m: Msg) => boolean, resolve: (m: Msg) => void }> = []
  readonly exited: Promise<number | null>

  constructor (script: string, args: string[], onMessage: (m: Msg) => void) {
    this.proc = fork(fileURLToPath(new URL(script, import.meta.url)), args, {
      cwd: ROOT, execArgv: ['--expose-gc', '--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    this.exited = new Promise((resolve) => { this.proc.once('exit', (code) => { resolve(code) }) })
    this.proc.on('message', (m: Msg) => {
      onMessage(m)
      const i = this.waiters.findIndex((w) => w.type === m.type && w.accept(m))
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve(m)
    })
  }

  send (cmd: Cmd): void { this.proc.send(cmd as object) }

  async next<T extends Msg['type']> (type: T, ms: number, what: string, accept: (m: Msg) => boolean = () => true): Promise<Report<Extract<Msg, { type: T }>>> {
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      return await Promise.race([
        new Promise<Msg>((resolve) => { this.waiters.push({ type, accept, resolve }) }),
        new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`timed out after ${ms} ms waiting for ${what}`)) }, ms) }),
        this.exited.then((code) => { throw new Error(`child exited (code ${code}) while waiting for ${what}`) })
      ]) as Report<Extract<Msg, { type: T }>>
    } finally {
      clearTimeout(timer)
    }
  }
}

/** least-squares slope of y over x */
export function slope (xs: number[], ys: number[]): number {
  const n = xs.length
  if (n < 2) return 0
  const mx = xs.reduce((a, b) => a + b, 0) / n
  const my = ys.reduce((a, b) => a + b, 0) / n
  let num = 0
  let den = 0
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my)
    den += (xs[i] - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}

const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`

/**
 * Runs one node under churn for `durationMs`: the node in one process, the
 * load in another, quiet points at which the load pauses and both sides
 * close their connections, and a verdict on the heap's trend, the handles and
 * descriptors at the quiet points, and uncaught errors.
 */
export async function runSoak (opts: SoakOptions): Promise<SoakResult> {
  const params = {
    durationMs: opts.durationMs,
    warmupMs: opts.warmupMs ?? 120_000,
    sampleEveryMs: opts.sampleEveryMs ?? 10_000,
    quietEveryMs: opts.quietEveryMs ?? 180_000,
    judgeTrendAfterMs: opts.judgeTrendAfterMs ?? 300_000,
    workers: opts.workers ?? 4
  }
  const tag = `soak[${opts.transport}]`
  const progress = (line: string): void => { opts.onProgress?.(`${tag} ${line}`) }
  const date = new Date().toISOString()
  let t0 = performance.now()
  const now = (): number => Math.round((performance.now() - t0) / 100) / 10
  const samples: Sample[] = []
  const quietPoints: QuietPoint[] = []
  const errors: string[] = []
  const failures: string[] = []
  const uncaught = { node: 0, load: 0 }
  let counts: LoadCounts | undefined

  const node = new Child<NodeCommand, NodeReport>('node.ts', [opts.transport, String(params.sampleEveryMs), String(opts.seed)], (m) => {
    if (m.type === 'sample') {
      m.sample.t = now()
      if (!m.sample.quiet) {
        samples.push(m.sample)
        const s = m.sample
        const l = counts
        progress(`t=${s.t.toFixed(0)}s heap ${mib(s.heapUsed)} rss ${mib(s.rss)} tcp ${s.tcpHandles} fds ${s.fds} timers ${s.timers} loop p99 ${s.loopDelay.p99} ms conns ${s.connections} dial-backs ${s.dialBacks.ok}` +
          (l != null ? ` | exchanges ${l.exchanges.ok} (${l.exchanges.failed} failed) aborted ${l.aborted.total} raw ${l.raw.silent + l.raw.halfHandshake + l.raw.garbage + l.raw.reset}` : ''))
      }
    }
    if (m.type === 'error') { uncaught.node++; if (errors.length < 10) errors.push(`node ${m.kind}: ${m.text}`); progress(`node ${m.kind}: ${m.text.split('\n')[0]}`) }
  })
  const load = new Child<LoadCommand, LoadReport>('load.ts', [String(opts.seed ^ 0x9e3779b9), String(params.workers)], (m) => {
    if (m.type === 'counts' || m.type === 'drained' || m.type === 'stopped') counts = m.counts
    if (m.type === 'error') { uncaught.load++; if (errors.length < 10) errors.push(`load ${m.kind}: ${m.text}`) }
  })

  let baseline: SoakResult['baseline']
  let stopMs: number | undefined
  let handlesAfterStop: Record<string, number> | undefined
  try {
    const [listening, loadListening] = await Promise.all([
      node.next('listening', 30_000, 'the node to listen'),
      load.next('listening', 30_000, 'the load to start')
    ])
    progress(`node ${listening.peerId} on ${listening.addr}; ${params.workers} load loops; seed ${opts.seed}`)
    t0 = performance.now()
    load.send({ type: 'target', addr: listening.addr })
    node.send({ type: 'dial-back', addr: loadListening.addr })

    const quietAt = [params.warmupMs]
    // none so close to the end that it would crowd the last one
    const lastGap = Math.min(30_000, params.quietEveryMs / 2)
    for (let at = params.warmupMs + params.quietEveryMs; at < params.durationMs - lastGap; at += params.quietEveryMs) quietAt.push(at)
    if (params.durationMs > params.warmupMs) quietAt.push(params.durationMs)
    for (const [i, at] of quietAt.entries()) {
      const waitMs = at - (performance.now() - t0)
      if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs))
      const last = i === quietAt.length - 1
      node.send({ type: 'pause' })
      load.send({ type: 'pause' })
      const [drained] = await Promise.all([
        load.next('drained', 30_000, 'the load to drain'),
        node.next('paused', 30_000, 'the node to stop dialing and close its connections')
      ])
      const snapshot = opts.heapSnapshots == null || (i > 0 && !last) ? undefined : `${opts.heapSnapshots}-${i === 0 ? 'first' : 'last'}.heapsnapshot`
      node.send({ type: 'quiet-sample', baseline, snapshot })
      const { sample } = await node.next('sample', 120_000, 'the quiet sample', (m) => m.type === 'sample' && m.sample.quiet)
      baseline ??= { tcpHandles: sample.tcpHandles, fds: sample.fds }
      const atBaseline = sample.undrained == null && sample.tcpHandles <= baseline.tcpHandles && sample.fds <= baseline.fds
      quietPoints.push({ t: sample.t, sample, loadDrainMs: drained.ms, atBaseline })
      if (!atBaseline) failures.push(`quiet point at ${sample.t} s: tcp handles ${sample.tcpHandles} (baseline ${baseline.tcpHandles}), fds ${sample.fds} (baseline ${baseline.fds})${sample.undrained != null ? `; ${sample.undrained}` : ''}`)
      progress(`quiet point ${i + 1}/${quietAt.length} at ${sample.t}s${i === 0 ? ' (baseline)' : ''}: heap ${mib(sample.heapUsed)} tcp handles ${sample.tcpHandles} fds ${sample.fds} timers ${sample.timers}, drained in ${drained.ms} + ${sample.drainMs} ms${atBaseline ? '' : ' — NOT AT BASELINE'}`)
      if (!last) {
        node.send({ type: 'resume' })
        load.send({ type: 'resume' })
      }
    }

    load.send({ type: 'stop' })
    const loadStopped = await load.next('stopped', 30_000, 'the load to stop')
    counts = loadStopped.counts
    node.send({ type: 'stop' })
    const stopped = await node.next('stopped', 30_000, 'the node to stop')
    stopMs = stopped.stopMs
    handlesAfterStop = stopped.handlesAfterStop
    if (Object.keys(stopped.handlesAfterStop).length > 0) failures.push(`TCP handles left after the node stopped: ${JSON.stringify(stopped.handlesAfterStop)}`)
  } catch (err) {
    failures.push(`the soak broke off: ${(err as Error).message}`)
  } finally {
    for (const child of [node, load]) {
      const exited = await Promise.race([child.exited.then(() => true), new Promise<false>((resolve) => setTimeout(() => { resolve(false) }, 10_000))])
      if (!exited) {
        failures.push(`${child === node ? 'node' : 'load'} process did not exit within 10 s of stopping`)
        child.proc.kill('SIGKILL')
      }
    }
  }

  const post = samples.filter((s) => s.t * 1000 >= params.warmupMs)
  const postSpanMs = post.length > 1 ? (post[post.length - 1].t - post[0].t) * 1000 : 0
  const meanPost = post.reduce((a, s) => a + s.heapUsed, 0) / Math.max(1, post.length)
  const perSecond = slope(post.map((s) => s.t), post.map((s) => s.heapUsed))
  const trendPctPer10Min = meanPost > 0 ? perSecond * 600 / meanPost * 100 : 0
  const judged = postSpanMs >= params.judgeTrendAfterMs
  const oldSpace = post.map((s) => s.spaces.old_space ?? 0)
  const oldMean = oldSpace.reduce((a, b) => a + b, 0) / Math.max(1, oldSpace.length)
  const oldTrend = oldMean > 0 ? slope(post.map((s) => s.t), oldSpace) * 600 / oldMean * 100 : 0
  const quietHeaps = quietPoints.map((q) => q.sample.heapUsed)
  const quietMean = quietHeaps.reduce((a, b) => a + b, 0) / Math.max(1, quietHeaps.length)
  const quietTrend = quietMean > 0 ? slope(quietPoints.map((q) => q.t), quietHeaps) * 600 / quietMean * 100 : 0
  if (judged && trendPctPer10Min >= 1) failures.push(`heap trend ${trendPctPer10Min.toFixed(2)} %/10 min after the warm-up (bound 1 %)`)
  if (uncaught.node > 0) failures.push(`${uncaught.node} uncaught exceptions or unhandled rejections in the node`)
  if ((counts?.exchanges.ok ?? 0) === 0) failures.push('the load completed no exchange: the soak measured nothing')
  if (quietPoints.length === 0) failures.push('no quiet point was reached')

  const rssAll = samples.map((s) => s.rss)
  return {
    transport: opts.transport,
    date,
    node: process.version,
    seed: opts.seed,
    params,
    samples,
    quietPoints,
    baseline,
    heap: {
      trendPctPer10Min: Math.round(trendPctPer10Min * 1000) / 1000,
      judged,
      quietTrendPctPer10Min: Math.round(quietTrend * 1000) / 1000,
      oldSpaceTrendPctPer10Min: Math.round(oldTrend * 1000) / 1000,
      meanPostWarmup: Math.round(meanPost),
      start: post[0]?.heapUsed ?? 0,
      end: post.at(-1)?.heapUsed ?? 0
    },
    rss: { start: post[0]?.rss ?? 0, end: post.at(-1)?.rss ?? 0, max: Math.max(0, ...rssAll) },
    loopDelayP99Max: Math.max(0, ...samples.map((s) => s.loopDelay.p99)),
    load: counts ?? { exchanges: { ok: 0, failed: 0 }, pings: { ok: 0, failed: 0 }, aborted: { total: 0, completed: 0 }, raw: { silent: 0, halfHandshake: 0, garbage: 0, reset: 0, refused: 0 }, bytesEchoed: 0, failures: [] },
    dialBacks: quietPoints.at(-1)?.sample.dialBacks ?? samples.at(-1)?.dialBacks ?? { ok: 0, failed: 0 },
    uncaught,
    errors,
    stopMs,
    handlesAfterStop,
    failures,
    pass: failures.length === 0,
    durationMs: Math.round(performance.now() - t0)
  }
}
