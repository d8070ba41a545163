/**
 * The header reader (`proxyProtocol`) driven with given bytes in given
 * chunks, on a faithful stream (a `PassThrough`: the same paused-mode
 * `readable`/`read()`/`unshift()`/`end`/`close` a `net.Socket` has) with a
 * clock the harness fires by hand, so that thousands of runs take seconds
 * and the timeout is exact. What it reports is the outcome and what it
 * checked on the way: the bytes the reader held between chunks, the
 * listeners and timers left once it had decided.
 */
import { socketClosed$ } from '../../src/core/socket-closed.ts'
import { PassThrough } from 'node:stream'
import { multiaddr } from '@multiformats/multiaddr'
import { Observable, Subscription } from 'rxjs'
import { proxyHeader, proxyProtocol } from '../../operators/proxy-protocol/index.ts'
import type { InboundSocket } from '../../operators/index.ts'
import type { ProxyHeader, ProxyProtocolOptions } from '../../operators/proxy-protocol/index.ts'
import type { Socket } from 'node:net'
import type { SchedulerAction, SchedulerLike } from 'rxjs'

/** One run's input: the bytes, where they are split, whether the peer ends, and the reader's settings. */
export interface ReaderInput {
  bytes: Buffer
  /** the offsets at which the bytes are cut into chunks (sorted, each inside the bytes) */
  cuts: number[]
  /** the peer ends its side after the last chunk */
  end: boolean
  /** whether the peer is one of `trusted` */
  trusted: boolean
  options: Pick<ProxyProtocolOptions, 'maxHeaderBytes' | 'optional' | 'untrusted' | 'versions'>
}

/** What came of one run, comparable across chunkings (Buffers as hex, bigints as text). */
export interface ReaderOutcome {
  /** passed on (`remoteAddr`, `proxy`, `rest`: the bytes left for the upgrade), rejected (`reason`, `message`) */
  kind: 'passed' | 'rejected'
  remoteAddr?: string
  proxy?: unknown
  rest?: string
  reason?: string
  message?: string
  /** the events the reader reported, as their keys */
  events: string[]
}

/** What the harness checked while the reader ran. */
export interface ReaderReport {
  outcome: ReaderOutcome
  /** the most bytes the reader held between chunks while it had not decided */
  maxHeld: number
  /** listeners of 'readable', 'end', 'close' and 'data' left on the stream beyond those it had before */
  leftListeners: number
  /** timers still scheduled once it had decided */
  leftTimers: number
  /** whether the harness had to fire the timeout */
  timedOut: boolean
  /** an exception thrown by the reader or its operator, if any */
  thrown?: string
}

/** A clock of scheduled actions that run only when the harness fires them. */
class ManualScheduler implements SchedulerLike {
  readonly actions = new Set<{ work: () => void, subscription: Subscription }>()

  now (): number {
    return 0
  }

  schedule<T> (work: (this: SchedulerAction<T>, state?: T) => void, _delay?: number, state?: T): Subscription {
    const subscription = new Subscription()
    const action = { work: () => { work.call(undefined as unknown as SchedulerAction<T>, state) }, subscription }
    this.actions.add(action)
    subscription.add(() => { this.actions.delete(action) })
    return subscription
  }

  fireAll (): boolean {
    const due = [...this.actions]
    for (const action of due) {
      this.actions.delete(action)
      action.work()
    }
    return due.length > 0
  }
}

const tick = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

const WATCHED = ['readable', 'end', 'close', 'data'] as const

/** the proxy header with its Buffers and bigints made comparable */
export function comparable (proxy: ProxyHeader | undefined): unknown {
  return proxy === undefined
    ? undefined
    : JSON.parse(JSON.stringify(proxy, (_key, value) => typeof value === 'bigint' ? `${value}n` : value?.type === 'Buffer' ? Buffer.from(value.data).toString('hex') : value))
}

/** Runs the reader once over `input`. */
export async function runReader (input: ReaderInput): Promise<ReaderReport> {
  const stream = new PassThrough()
  stream.on('error', () => {})
  const socket = stream as unknown as Socket
  const baseline = WATCHED.map((event) => stream.listenerCount(event))
  const scheduler = new ManualScheduler()
  const events: string[] = []
  let outcome: ReaderOutcome | undefined
  let thrown: string | undefined

  const inbound: InboundSocket = {
    socket,
    remoteAddr: multiaddr(input.trusted ? '/ip4/10.0.0.5/tcp/50000' : '/ip4/192.0.2.7/tcp/50000'),
    localAddr: multiaddr('/ip4/10.0.0.1/tcp/4001'),
    intake: { pause: () => {}, resume: () => {} },
    closed$: socketClosed$(socket),
    reject: (reason, err) => {
      if (outcome !== undefined) return false
      outcome = { kind: 'rejected', reason, message: err?.message, events }
      stream.destroy()
      return true
    },
    count: (event) => { events.push(event) }
  }

  let subscription: Subscription | undefined
  try {
    subscription = new Subscription()
    subscription.add(new Observable<InboundSocket>((subscriber) => {
      subscriber.next(inbound)
    }).pipe(proxyProtocol({ trusted: ['10.0.0.0/8'], timeout: 1_000, scheduler, ...input.options })).subscribe({
      next: (passed) => {
        // what the upgrade would read: everything the stream still holds
        const chunks: Buffer[] = []
        let chunk: Buffer | null
        while ((chunk = stream.read()) !== null) chunks.push(chunk)
        outcome = { kind: 'passed', remoteAddr: passed.remoteAddr.toString(), proxy: comparable(proxyHeader(passed.socket)), rest: Buffer.concat(chunks).toString('hex'), events }
      },
      error: (err: Error) => { thrown = `operator error: ${err.stack ?? err.message}` }
    }))
  } catch (err: any) {
    thrown = `threw at subscription: ${String(err?.stack ?? err)}`
  }

  let written = 0
  let maxHeld = 0
  const held = (): number => outcome === undefined ? written - stream.readableLength : 0
  const pieces = split(input.bytes, input.cuts)
  const onUncaught = (err: Error): void => { thrown = `uncaught: ${err.stack ?? err.message}` }
  process.on('uncaughtException', onUncaught)
  try {
    for (const piece of pieces) {
      if (outcome !== undefined || stream.destroyed) break
      stream.write(piece)
      written += piece.length
      await tick()
      maxHeld = Math.max(maxHeld, held())
    }
    if (input.end && outcome === undefined && !stream.destroyed) {
      stream.end()
      await tick()
      await tick()
    }
    let timedOut = false
    if (outcome === undefined) {
      timedOut = scheduler.fireAll()
      await tick()
    }
    // a socket passed on before the rest of the bytes came: the upgrade reads them after it
    if (outcome?.kind === 'passed' && written < input.bytes.length) {
      const later = input.bytes.subarray(written)
      outcome.rest = (outcome.rest ?? '') + later.toString('hex')
    }
    const leftListeners = WATCHED.reduce((sum, event, i) => sum + Math.max(0, stream.listenerCount(event) - baseline[i]), 0)
    const report: ReaderReport = {
      outcome: outcome ?? { kind: 'rejected', reason: 'undecided', events },
      maxHeld,
      leftListeners,
      leftTimers: scheduler.actions.size,
      timedOut,
      thrown
    }
    return report
  } finally {
    process.off('uncaughtException', onUncaught)
    subscription?.unsubscribe()
    stream.destroy()
  }
}

/** `bytes` cut at `cuts` */
export function split (bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.filter((cut) => cut > 0 && cut < bytes.length))].sort((a, b) => a - b)
  const pieces: Buffer[] = []
  let from = 0
  for (const cut of [...points, bytes.length]) {
    if (cut > from) pieces.push(bytes.subarray(from, cut))
    from = cut
  }
  return pieces
}
