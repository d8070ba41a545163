// A child of the soak (test/soak/soak.ts): the node under test, in a process
// of its own so that its heap, handles and descriptors are its alone.
// args: rx|ref, sample interval ms, seed. Driven over IPC (protocol.ts).
import { readdirSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8'
import { multiaddr } from '@multiformats/multiaddr'
import { fullGc } from '../../bench/gc.ts'
import { loadSubjects } from '../../bench/subjects.ts'
import { createRandom } from '../chaos/random.ts'
import { ECHO, createSoakNode, deadline, echoOver, trapErrors } from './protocol.ts'
import type { NodeCommand, NodeReport, Sample } from './protocol.ts'

const [key, sampleEvery, seed] = process.argv.slice(2)
const send = (msg: NodeReport): void => { process.send?.(msg) }
const errors = trapErrors()
const trap = errors.report

const TCP_HANDLES = ['TCPSocketWrap', 'TCPServerWrap', 'TCPConnectWrap']
function resources (): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1
  return counts
}
const tcpHandles = (r = resources()): number => TCP_HANDLES.reduce((n, name) => n + (r[name] ?? 0), 0)
const fds = (): number => readdirSync('/proc/self/fd').length

const { rx, ref } = await loadSubjects(false)
const subject = key === 'ref' ? ref : rx
const rng = createRandom(Number(seed))
const node = await createSoakNode(subject.tcp())
const started = performance.now()
const loopDelay = monitorEventLoopDelay({ resolution: 10 })
loopDelay.enable()
const dialBacks = { ok: 0, failed: 0 }

async function sample (quiet: boolean, extra: Partial<Sample> = {}): Promise<Sample> {
  // the loop delay first: the forced GC below is a pause of our own making
  const ms = (ns: number): number => Math.round(ns / 1e4) / 100
  const delay = { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) }
  await fullGc()
  loopDelay.reset()
  const mem = process.memoryUsage()
  const r = resources()
  return {
    t: Math.round((performance.now() - started) / 100) / 10,
    quiet,
    heapUsed: mem.heapUsed,
    heapTotal: mem.heapTotal,
    spaces: Object.fromEntries(getHeapSpaceStatistics().map((space) => [space.space_name, space.space_used_size])),
    rss: mem.rss,
    external: mem.external,
    tcpHandles: tcpHandles(r),
    fds: fds(),
    timers: r.Timeout ?? 0,
    loopDelay: delay,
    connections: node.getConnections().length,
    dialBacks: { ...dialBacks },
    ...extra
  }
}

// the node dials out too: a connection to the load's node every 1–3 s, an
// echo exchange and a ping over it, then closed
let dialBack: { stop: AbortController, done: Promise<void> } | undefined
function startDialBack (addr: string): void {
  const stop = new AbortController()
  const target = multiaddr(addr)
  const done = (async () => {
    let n = 0
    while (!stop.signal.aborted) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, rng.int(1_000, 3_000))
        stop.signal.addEventListener('abort', () => { clearTimeout(timer); resolve() }, { once: true })
      })
      if (stop.signal.aborted) return
      const { signal, clear } = deadline(stop.signal, 10_000)
      try {
        const conn = await node.dial(target, { force: true, signal })
        try {
          await echoOver(await conn.newStream(ECHO, { signal }), rng.bytes(rng.int(1, 16_384)), 4_096, signal)
          if (++n % 3 === 0) await node.services.ping.ping(conn.remotePeer, { signal })
        } finally {
          await conn.close({ signal: AbortSignal.timeout(2_000) }).catch((err: Error) => { conn.abort(err) })
        }
        dialBacks.ok++
      } catch {
        if (!stop.signal.aborted) dialBacks.failed++
      } finally {
        clear()
      }
    }
  })()
  dialBack = { stop, done }
}

let loadAddr: string | undefined
// samples under load; paused at quiet points, which take their own
const startSampler = (): ReturnType<typeof setInterval> => setInterval(() => {
  sample(false).then((s) => { send({ type: 'sample', sample: s }) }, trap('unhandledRejection'))
}, Number(sampleEvery))
let sampler = startSampler()

/**
 * At a quiet point the load has closed all it opened; the node stops dialing
 * and closes its own connections, then waits (bounded) until no libp2p
 * connection and no TCP socket is left and the descriptors are back to the
 * baseline, and samples. What is still open after 15 s is reported.
 */
async function quietSample (baseline?: { tcpHandles: number, fds: number }): Promise<Sample> {
  const start = performance.now()
  const drained = (): boolean => node.getConnections().length === 0 && (resources().TCPSocketWrap ?? 0) === 0 &&
    (baseline == null || (tcpHandles() <= baseline.tcpHandles && fds() <= baseline.fds))
  while (!drained() && performance.now() - start < 15_000) {
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const drainMs = Math.round(performance.now() - start)
  const undrained = drained() ? undefined : `after 15 s: ${node.getConnections().length} connections, resources ${JSON.stringify(resources())}, ${fds()} fds`
  return sample(true, { drainMs, undrained })
}

process.on('message', (cmd: NodeCommand) => {
  const run = async (): Promise<void> => {
    switch (cmd.type) {
      case 'dial-back':
        loadAddr = cmd.addr
        startDialBack(cmd.addr)
        break
      case 'pause':
        clearInterval(sampler)
        dialBack?.stop.abort()
        await dialBack?.done
        dialBack = undefined
        await Promise.all(node.getConnections().map(async (c) => c.close({ signal: AbortSignal.timeout(2_000) }).catch((err: Error) => { c.abort(err) })))
        send({ type: 'paused' })
        break
      case 'quiet-sample': {
        const quiet = await quietSample(cmd.baseline)
        // after the sample, so that writing it is not part of what is measured
        if (cmd.snapshot != null) writeHeapSnapshot(cmd.snapshot)
        send({ type: 'sample', sample: quiet })
        break
      }
      case 'resume':
        sampler = startSampler()
        if (loadAddr != null) startDialBack(loadAddr)
        break
      case 'stop': {
        clearInterval(sampler)
        dialBack?.stop.abort()
        await dialBack?.done
        const t0 = performance.now()
        await node.stop()
        const stopMs = Math.round((performance.now() - t0) * 10) / 10
        loopDelay.disable()
        // libuv lets go of a closed handle in the turn its close callback runs: a few turns, bounded
        for (let turn = 0; turn < 100 && tcpHandles() > 0; turn++) await new Promise((resolve) => setImmediate(resolve))
        const left = resources()
        send({ type: 'stopped', stopMs, uncaught: errors.count, handlesAfterStop: Object.fromEntries(TCP_HANDLES.filter((n) => left[n] != null).map((n) => [n, left[n]])) })
        process.disconnect()
        break
      }
    }
  }
  run().catch(trap('unhandledRejection'))
})

// a node never outlives its parent
process.on('disconnect', () => { setTimeout(() => process.exit(0), 3_000).unref() })

const addr = node.getMultiaddrs()[0]
send({ type: 'listening', addr: addr.toString(), peerId: node.peerId.toString() })
