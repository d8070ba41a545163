import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { multiaddr } from '@multiformats/multiaddr'
import { createNode, stopAll } from '../nodes.ts'
import { KiB, pool, within } from '../stats.ts'
import { reference } from '../subjects.ts'
import type { ListenerChildReport, MeasureRequest } from '../memory-listener-child.ts'
import type { Group, Options, Sample } from './types.ts'
import type { Connection, Libp2p } from '@libp2p/interface'
import type { ChildProcess } from 'node:child_process'

const CHILD = fileURLToPath(new URL('../memory-listener-child.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CONCURRENCY = 32

/** The next report of the listener child, bounded. */
async function report (child: ChildProcess, type: ListenerChildReport['type'], what: string): Promise<ListenerChildReport> {
  return within(60_000, what, new Promise<ListenerChildReport>((resolve, reject) => {
    const onMessage = (msg: ListenerChildReport): void => {
      if (msg.type !== type && msg.type !== 'error') return
      child.off('message', onMessage)
      child.off('exit', onExit)
      if (msg.type === 'error') reject(new Error(msg.error))
      else resolve(msg)
    }
    const onExit = (code: number | null): void => { reject(new Error(`listener child exited with ${code} while waiting for ${what}`)) }
    child.on('message', onMessage)
    child.once('exit', onExit)
  }))
}

async function heapAt (child: ChildProcess, expect: number, label: string): Promise<{ heapUsed: number, rss: number }> {
  const reply = report(child, 'heap', `the listener's heap with ${expect} inbound connections`)
  child.send({ type: 'measure', expect, label } satisfies MeasureRequest)
  const msg = await reply
  if (msg.type !== 'heap') throw new Error(`unexpected report ${msg.type}`)
  return msg
}

export interface ListenerMemoryOptions {
  key: 'rx' | 'ref'
  idle: number
  aa?: boolean
  rxEntry?: string
  refEntry?: string
  /** write heap snapshots `bench/results/<prefix>-{before,after}.heapsnapshot` in the listener process */
  snapshotPrefix?: string
}

/**
 * Heap and RSS per idle upgraded inbound connection, listener side: a fresh
 * process only listens (the subject under test, noise + yamux), and this
 * process dials it with `@libp2p/tcp` from 32 nodes. A baseline after one
 * connection per dialer, then `idle` more; both after a full GC in the
 * listener process.
 */
export async function measureListenerMemory (o: ListenerMemoryOptions): Promise<Sample> {
  const child = fork(CHILD, [o.key, o.aa === true ? 'aa' : '', o.rxEntry ?? '', o.refEntry ?? '', o.snapshotPrefix ?? ''], {
    cwd: ROOT,
    execArgv: ['--expose-gc', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  let dialers: Libp2p[] = []
  try {
    const listening = await report(child, 'listening', 'the listener child to listen')
    if (listening.type !== 'listening') throw new Error(`unexpected report ${listening.type}`)
    const addr = multiaddr(listening.addr)
    dialers = await Promise.all(Array.from({ length: CONCURRENCY }, async () => createNode(reference, { encryption: 'noise', listen: false })))
    const dialMany = async (count: number): Promise<Connection[]> => {
      const opened: Connection[] = []
      await pool(count, CONCURRENCY, async (_i, worker) => {
        opened.push(await dialers[worker].dial(addr, { force: true, signal: AbortSignal.timeout(20_000) }))
      })
      return opened
    }
    // one connection per dialer first, so lazily built state is in the baseline
    await dialMany(CONCURRENCY)
    // then as many as are measured, opened and closed again: the code the
    // runtime compiles for them (bytecode, optimized code) is compiled once
    // per process, not per connection, so it goes in the baseline too
    const warmUp = await dialMany(o.idle)
    await Promise.all(warmUp.map(async (connection) => { await connection.close() }))
    const before = await heapAt(child, CONCURRENCY, 'before')
    await dialMany(o.idle)
    const after = await heapAt(child, CONCURRENCY + o.idle, 'after')
    return {
      listenerHeap: (after.heapUsed - before.heapUsed) / o.idle / KiB,
      listenerRss: (after.rss - before.rss) / o.idle / KiB
    }
  } finally {
    await stopAll(dialers)
    if (child.connected) child.send('exit')
    await new Promise<void>((resolve) => {
      if (child.exitCode != null || child.signalCode != null) { resolve(); return }
      const t = setTimeout(() => { child.kill(); resolve() }, 10_000)
      child.once('exit', () => { clearTimeout(t); resolve() })
    })
  }
}

export function listenerMemoryGroup (aa: boolean, rxEntry?: string, refEntry?: string): Group {
  return {
    id: 'memory-listener',
    title: 'memory per idle upgraded inbound connection, noise + yamux, listener side (dialed by @libp2p/tcp from another process), fresh process, after GC',
    run: async (subject, opts: Options): Promise<Sample> => measureListenerMemory({ key: subject.key, idle: opts.idleConns, aa, rxEntry, refEntry })
  }
}
