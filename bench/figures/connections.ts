import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createNode, stopAll } from '../nodes.ts'
import { fullGc } from '../gc.ts'
import { KiB, pool, until, within } from '../stats.ts'
import type { Group, Options, Sample } from './types.ts'
import type { Subject } from '../subjects.ts'
import type { Libp2p } from '@libp2p/interface'

interface Fleet {
  server: Libp2p
  dialers: Libp2p[]
  inbound: () => number
  stop: () => Promise<void>
}

/**
 * One listening node and `concurrency` dialing nodes, noise + yamux. libp2p
 * joins concurrent dials to the same peer into one, so each concurrent
 * dialer is its own node, and dials with `force` to open a new connection
 * every time.
 */
async function fleet (subject: Subject, concurrency: number): Promise<Fleet> {
  const server = await createNode(subject, { encryption: 'noise', listen: true })
  const dialers = await Promise.all(Array.from({ length: concurrency }, async () => createNode(subject, { encryption: 'noise', listen: false })))
  let inbound = 0
  server.addEventListener('connection:open', (evt) => {
    if (evt.detail.direction === 'inbound') inbound++
  })
  return { server, dialers, inbound: () => inbound, stop: async () => stopAll([...dialers, server]) }
}

async function openMany (f: Fleet, count: number, concurrency: number): Promise<void> {
  const addr = f.server.getMultiaddrs()[0]
  const before = f.inbound()
  await pool(count, concurrency, async (_i, worker) => {
    await f.dialers[worker].dial(addr, { force: true, signal: AbortSignal.timeout(20_000) })
  })
  await until(10_000, `${count} inbound connections upgraded on the server`, () => f.inbound() - before >= count)
}

export const acceptGroup: Group = {
  id: 'accept',
  title: 'accept-and-upgrade rate, noise + yamux',
  warmup: async (subject, opts) => {
    const f = await fleet(subject, opts.acceptConcurrency)
    try { await openMany(f, Math.min(64, opts.acceptConns), opts.acceptConcurrency) } finally { await f.stop() }
  },
  run: async (subject, opts: Options): Promise<Sample> => {
    const f = await fleet(subject, opts.acceptConcurrency)
    try {
      const start = performance.now()
      await within(120_000, 'accept run', openMany(f, opts.acceptConns, opts.acceptConcurrency))
      const ms = performance.now() - start
      return { accept: opts.acceptConns / (ms / 1e3) }
    } finally {
      await f.stop()
    }
  }
}

/**
 * Heap and RSS per idle connection, measured in a fresh process (no garbage
 * or high-water mark left by the other figures): a baseline after a first
 * round of connections, then `idle` more, each after a full GC.
 */
export async function measureMemory (subject: Subject, idle: number): Promise<Sample> {
  const concurrency = 32
  const f = await fleet(subject, concurrency)
  try {
    // one connection per dialer first, so lazily built state is in the baseline
    await openMany(f, concurrency, concurrency)
    await new Promise((resolve) => setTimeout(resolve, 200))
    await fullGc()
    const before = process.memoryUsage()
    await openMany(f, idle, concurrency)
    // let the handshakes' timers and promises finish before collecting
    await new Promise((resolve) => setTimeout(resolve, 200))
    await fullGc()
    const after = process.memoryUsage()
    return {
      heap: (after.heapUsed - before.heapUsed) / idle / KiB,
      rss: (after.rss - before.rss) / idle / KiB
    }
  } finally {
    await f.stop()
  }
}

const MEMORY_CHILD = fileURLToPath(new URL('../memory-child.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export function memoryGroup (aa: boolean, rxEntry?: string, refEntry?: string): Group {
  return {
    id: 'memory',
    title: 'memory per idle upgraded connection, noise + yamux, both ends, fresh process, after GC',
    run: async (subject, opts: Options): Promise<Sample> => {
      const child = fork(MEMORY_CHILD, [subject.key, String(opts.idleConns), aa ? 'aa' : '', rxEntry ?? '', refEntry ?? ''], {
        cwd: ROOT,
        execArgv: ['--expose-gc', '--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc']
      })
      try {
        return await within(120_000, `memory child for ${subject.name}`, new Promise<Sample>((resolve, reject) => {
          child.once('message', (msg: Sample | { error: string }) => {
            if ('error' in msg) reject(new Error(String(msg.error)))
            else resolve(msg)
          })
          child.once('exit', (code) => { reject(new Error(`memory child exited with ${code}`)) })
        }))
      } finally {
        if (child.exitCode == null) child.kill()
      }
    }
  }
}
