import { readdirSync, readFileSync } from 'node:fs'
import { bareListener, hostPort } from '../passthrough.ts'
import type { Group, Options, Sample } from './types.ts'
import { spawnHolder, stopHolders } from '../holders.ts'
import type { HolderReport } from '../holder.ts'
import type { Subject } from '../subjects.ts'
import type { ChildProcess } from 'node:child_process'
import type { MultiaddrConnection } from '@libp2p/interface'

/** each holder process opens at most this many, well inside its own fd limit */
const PER_HOLDER = 8_000
const RUN_LIMIT_MS = 90_000
const STALL_MS = 5_000

/** open fds of this process, or -1 when even listing them fails (EMFILE) */
function openFds (): number {
  try { return readdirSync('/proc/self/fd').length } catch { return -1 }
}

/** RSS, or 0 when reading it fails: at the fd limit it does, it needs a descriptor */
function rss (): number {
  try { return process.memoryUsage.rss() } catch { return 0 }
}

/** the soft limit on open files of this process, read once while reading is still possible */
const FD_LIMIT = ((): string => {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'))
    return line?.split(/\s{2,}/)[1] ?? 'unknown'
  } catch {
    return 'unknown'
  }
})()

export function fdLimit (): string {
  return FD_LIMIT
}

/**
 * Raw clients from child processes connect to one listener of the transport
 * (pass-through upgrader, so every accepted socket becomes a held
 * MultiaddrConnection) until `maxConns` are held or something gives: the
 * listener reports an error, a client sees an accepted socket dropped or a
 * connect fail, or progress stalls.
 */
async function maxConnections (subject: Subject, opts: Options, notes: Record<string, string>): Promise<Sample> {
  let alive = 0
  let peak = 0
  let listenerError: string | undefined
  const bare = await bareListener(subject, (maConn: MultiaddrConnection) => {
    alive++
    peak = Math.max(peak, alive)
    maConn.addEventListener('close', () => { alive-- })
  })
  bare.listener.addEventListener('error', (evt) => {
    const err = evt.detail as NodeJS.ErrnoException
    listenerError ??= `listener error ${err.code ?? err.message}`
  })
  const holders: ChildProcess[] = []
  let lostReason: string | undefined
  let done = 0
  let peakRss = 0
  let peakFds = 0
  try {
    const { host, port } = hostPort(bare.addr)
    const count = Math.ceil(opts.maxConns / PER_HOLDER)
    for (let i = 0; i < count; i++) {
      holders.push(spawnHolder({
        host,
        port,
        localAddress: `127.0.0.${2 + i}`,
        count: Math.min(PER_HOLDER, opts.maxConns - i * PER_HOLDER),
        concurrency: 64
      }, (msg: HolderReport) => {
        if (msg.type === 'lost') lostReason ??= msg.reason
        if (msg.type === 'done') done++
      }))
    }
    const start = Date.now()
    let lastAlive = -1
    let lastChange = Date.now()
    let reason = ''
    while (reason === '') {
      await new Promise((resolve) => setTimeout(resolve, 50))
      if (alive !== lastAlive) { lastAlive = alive; lastChange = Date.now() }
      if (alive % 500 < 60) {
        peakRss = Math.max(peakRss, rss())
        peakFds = Math.max(peakFds, openFds())
      }
      if (alive >= opts.maxConns) reason = `reached the cap of ${opts.maxConns} (nothing gave)`
      else if (listenerError != null) reason = listenerError
      else if (lostReason != null) reason = lostReason
      else if (done === holders.length && Date.now() - lastChange > 1_000) reason = `holders finished at ${alive}`
      else if (Date.now() - lastChange > STALL_MS) reason = `no progress for ${STALL_MS / 1000} s`
      else if (Date.now() - start > RUN_LIMIT_MS) reason = `run limit of ${RUN_LIMIT_MS / 1000} s`
      if (reason !== '') opts.log(`    ${subject.name}: held ${peak}, ${reason}`)
      else if (alive > 0 && alive % 4000 < 60 && Date.now() - lastChange < 60) opts.log(`    ${subject.name}: ${alive} held`)
    }
    const fdsNow = openFds()
    peakRss = Math.max(peakRss, rss())
    peakFds = Math.max(peakFds, fdsNow)
    const atLimit = fdsNow === -1 ? ' (this process cannot open another fd: EMFILE)' : ''
    notes[subject.key] = `${reason}${atLimit}; ulimit -n ${fdLimit()}; ${peakFds} fds in this process at most, RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB`
    return { maxconns: peak }
  } finally {
    await bare.close()
    await stopHolders(holders)
  }
}

export function maxConnsGroup (): Group {
  const notes: Record<string, string> = {}
  return {
    id: 'maxconns',
    title: 'most concurrent connections one listener holds (bare MultiaddrConnections)',
    reps: () => 1,
    notes,
    run: async (subject, opts) => maxConnections(subject, opts, notes)
  }
}
