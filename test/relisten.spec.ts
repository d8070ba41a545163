/**
 * `close()` racing a re-listen. Intake is paused — by
 * closeServerOnMaxConnections (closeAbove 1, listenBelow 1, one client) or
 * by the rest after an accept error — and resumes by listening again on the
 * same address. close() comes while that re-listen's bind is in flight,
 * bound but not yet announced, just announced, failed (another server took
 * the port or path meanwhile) with its retry about to be armed or pending,
 * or while the rest still runs. Real sockets on 127.0.0.1 and a unix path;
 * each race point is reached by an event (the last socket's 'close', the
 * listener's events, onListenError, the server's own `listen` call), never
 * by a sleep, and each race runs REPS times in a row. Last, an `inbound`
 * operator that resumes intake in a microtask, with close() in the same one.
 *
 * At the moment close() resolves: no listening handle of the listener is
 * alive (nor the bare handle a failed bind leaves until the loop releases
 * it), none of the intake's timers is left, no 'listening' and no ACTIVE
 * status came from close() on, `getAddrs()` is empty, and the port or path
 * can be bound by another server.
 */
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import fs from 'node:fs'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { tap } from 'rxjs'
import { tcp } from '../src/index.ts'
import { closeListeningHandle, closePhasePassed } from '../src/core/close-handle.ts'
import { recordingMetrics } from './fixtures/metrics.ts'
import { passThroughUpgrader } from './fixtures/upgraders.ts'
import { waitForEvent, within } from './fixtures/wait.ts'
import type { Intake, TCPOptions } from '../src/index.ts'
import type { TCPListener } from '../src/listener.ts'

const REPS = 10
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rx-tcp-relisten-'))
const cleanup: Array<() => Promise<void> | void> = []

/** the intake's timers (its rest, its retry) armed and neither fired nor cleared, in this test */
const intakeTimers = new Set<unknown>()

beforeEach(() => {
  watchIntakeTimers()
})

afterEach(async () => {
  vi.restoreAllMocks()
  intakeTimers.clear()
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** where a listener listens: a TCP port on 127.0.0.1 or a unix path */
type Where = { port: number } | { path: string }

/** the fork's IPC channel to vitest, a bare Pipe wrap too (ref'd while a message is under way): Node keeps its message buffer on it */
function isIpcChannel (handle: object): boolean {
  return Object.getOwnPropertySymbols(handle).some((s) => s.description === 'kMessageBuffer')
}

/**
 * What is alive now that could be a listener's: listening handles (a
 * `net.Server`'s, and the bare TCP or Pipe wrap of a bind that failed, which
 * has no owner and lives until the loop's close phase releases it), and the
 * process's timers (`Timeout`).
 */
function alive (): { listening: number, timers: number } {
  const handles = (process as unknown as { _getActiveHandles: () => object[] })._getActiveHandles()
  return {
    listening: handles.filter((h) => h instanceof net.Server || (['TCP', 'Pipe'].includes(h.constructor?.name) && !isIpcChannel(h))).length,
    timers: process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length
  }
}

/**
 * Keeps `intakeTimers`: the timers the intake arms, told apart from the
 * process's others by the caller of their `setTimeout`, until they fire or
 * are cleared.
 */
function watchIntakeTimers (): void {
  const pending = intakeTimers
  const { setTimeout: arm, clearTimeout: clear } = globalThis
  vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    // the caller: the first frame outside this file and the spy
    const caller = (new Error().stack ?? '').split('\n').slice(1).find((frame) => !frame.includes('relisten.spec.ts') && !frame.includes('node_modules'))
    if (caller?.includes('server-intake.ts') !== true) return arm(fn, ms, ...args)
    const timer = arm((...fired: unknown[]) => {
      pending.delete(timer)
      fn(...fired)
    }, ms, ...args)
    pending.add(timer)
    return timer
  }) as typeof setTimeout)
  vi.spyOn(globalThis, 'clearTimeout').mockImplementation((timer) => {
    pending.delete(timer)
    clear(timer)
  })
}

/** what is alive once the loop's close phase has run, so that whatever a rep before closed is released: a rep's baseline */
async function settledBaseline (): Promise<ReturnType<typeof alive>> {
  await closePhasePassed()
  return alive()
}

/** closes a plain server, and resolves once the runtime has released its handle (its 'close' comes a loop phase earlier) */
async function closePlain (server: net.Server): Promise<void> {
  await closeListeningHandle(server)
}

/** a plain server (no SO_REUSEPORT) bound to `where`: resolves with it, or rejects with the bind's error */
async function bindPlain (where: Where): Promise<net.Server> {
  const server = net.createServer()
  await within(new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen('path' in where ? { path: where.path } : { port: where.port, host: '127.0.0.1' }, resolve)
  }), 5000, `a plain server to bind ${JSON.stringify(where)}`)
  cleanup.push(async () => { await closePlain(server) })
  return server
}

/** the port or path is free: a plain server binds it, and lets it go */
async function expectFree (where: Where): Promise<void> {
  await closePlain(await bindPlain(where))
}

interface Subject {
  listener: TCPListener
  /** the listener's net.Server (the seam test/accept-errors.spec.ts uses too) */
  server: net.Server
  where: Where
  /** the listener's events, onListenError's calls, the server's listen() calls and what the test did, in order */
  log: string[]
  /** statuses reported to libp2p_tcp_listener_status_info (0 inactive, 1 active, 2 paused) */
  statuses: number[]
  /** what a race does when onListenError is called, or right after the server's listen() */
  onListenError?: () => void
  onListen?: () => void
}

/** a listener on `addr` with closeServerOnMaxConnections { closeAbove: 1, listenBelow: 1 } (and `init`), watched */
async function subject (addr: string, init: TCPOptions = {}): Promise<Subject> {
  const metrics = recordingMetrics()
  const statuses: number[] = []
  const register = metrics.registerMetricGroup.bind(metrics)
  metrics.registerMetricGroup = ((name: string, options: unknown) => {
    const group = register(name, options as any)
    if (name !== 'libp2p_tcp_listener_status_info') return group
    return { ...group, update: (values: Record<string, number>) => { group.update(values); statuses.push(...Object.values(values)) } }
  }) as typeof metrics.registerMetricGroup
  const log: string[] = []
  const hooks: Pick<Subject, 'onListenError' | 'onListen'> = {}
  const transport = tcp({
    ...init,
    closeServerOnMaxConnections: {
      closeAbove: 1,
      listenBelow: 1,
      onListenError: (err) => {
        log.push(`onListenError ${(err as NodeJS.ErrnoException).code}`)
        hooks.onListenError?.()
      }
    }
  })({ logger: defaultLogger(), metrics })
  const listener = transport.createListener({ upgrader: passThroughUpgrader() }) as TCPListener
  cleanup.push(async () => { await listener.close() })
  await listener.listen(multiaddr(addr))
  const bound = listener.getAddrs()[0]
  const unix = bound.getComponents().find((c) => c.name === 'unix')
  const where: Where = unix?.value != null ? { path: decodeURIComponent(unix.value) } : { port: Number(bound.getComponents().find((c) => c.name === 'tcp')?.value) }
  const server = (listener as unknown as { server: net.Server }).server
  listener.addEventListener('listening', () => log.push('listening'))
  listener.addEventListener('error', (evt) => log.push(`error ${(evt.detail as NodeJS.ErrnoException).syscall} ${(evt.detail as NodeJS.ErrnoException).code}`))
  listener.addEventListener('close', () => log.push('close'))
  // the re-listen's bind begins here: serverIntake calls the server's own listen()
  const listen = server.listen
  server.listen = function (this: net.Server, ...args: unknown[]) {
    log.push('server.listen')
    const result = listen.apply(this, args as Parameters<net.Server['listen']>)
    hooks.onListen?.()
    return result
  } as net.Server['listen']
  return Object.assign(hooks, { listener, server, where, log, statuses })
}

/** connects one client: intake pauses (its handle closed) in the turn the socket is accepted; resolves with the client and its server-side socket */
async function pauseWithOneClient (s: Subject): Promise<{ client: net.Socket, accepted: net.Socket }> {
  // after the listener's own 'connection' handler, which owns the socket and pauses intake
  const accepting = waitForEvent<net.Socket>(s.server, 'connection', 5000, 'the client to be accepted')
  const client = 'path' in s.where ? net.connect(s.where.path) : net.connect({ port: s.where.port, host: '127.0.0.1' })
  client.on('error', () => {})
  cleanup.push(() => { client.destroy() })
  const accepted = await accepting
  expect(s.server.listening).toBe(false)
  expect(s.statuses).toEqual([1, 2])
  return { client, accepted }
}

/** what is alive, above the baseline, when close() begins: the intake's timers and the listening handles (which say where the race is) */
interface AtClose { timers: number, listening: number }

/**
 * Calls close(), checking first that the race is where it should be (`at`),
 * and, at the moment close() resolves, that nothing of the listener is left:
 * no listening handle above `baseline`, no timer of the intake pending and no
 * timer more in the process than when close() began, less the intake's; no
 * 'listening' and no ACTIVE status from close() on, one 'close', no address.
 */
async function closeAndCheck (s: Subject, baseline: ReturnType<typeof alive>, at: AtClose, rep: number): Promise<void> {
  // the deadline's timer is counted in `before`, and still runs when close() resolves
  let deadline: ReturnType<typeof setTimeout> | undefined
  const timedOut = new Promise<never>((_resolve, reject) => { deadline = setTimeout(() => { reject(new Error(`timed out after 5000ms waiting for close() (rep ${rep + 1})`)) }, 5000) })
  const before = alive()
  const where = `rep ${rep + 1}; ${s.log.join(', ')}`
  expect({ timers: intakeTimers.size, listening: before.listening - baseline.listening }, `the intake's timers and the listening handles when close() began (${where})`).toEqual(at)
  s.log.push('close() began')
  const statusesAtClose = s.statuses.length
  const left = await Promise.race([s.listener.close().then(() => alive()), timedOut]).finally(() => { clearTimeout(deadline) })

  const after = `rep ${rep + 1}; ${s.log.join(', ')}`
  expect(left.listening, `listening handles left when close() resolved (${after})`).toBe(baseline.listening)
  expect(intakeTimers.size, `the intake's timers pending when close() resolved (${after})`).toBe(0)
  expect(left.timers, `timers left when close() resolved (${after})`).toBeLessThanOrEqual(before.timers - at.timers)
  expect(s.log.slice(s.log.indexOf('close() began')), 'events from close() on').not.toContain('listening')
  expect(s.log.filter((e) => e === 'close')).toHaveLength(1)
  expect(s.listener.getAddrs()).toEqual([])
  expect(s.statuses.slice(statusesAtClose), 'statuses reported from close() on').toEqual([0])
}

/** the families, each with its address and its index in the races' `listening` pairs: 127.0.0.1 binds on the tick after listen(), a unix path inside it */
const families = [
  ['127.0.0.1', (_name: string) => '/ip4/127.0.0.1/tcp/0', 0],
  ['a unix path', (name: string) => `/unix/${encodeURIComponent(path.join(tmp, `${name}.sock`))}`, 1]
] as const

/** one test per family and race (`[when, …]`), each playing the race REPS times in a row */
function eachRace<Race extends readonly [string, ...unknown[]]> (races: readonly Race[], play: (race: Race, addrOf: (name: string) => string, f: 0 | 1, rep: number) => Promise<void>): void {
  for (const [family, addrOf, f] of families) {
    for (const race of races) {
      it(`closes ${race[0]}, on ${family}, ${REPS} times`, async () => {
        for (let rep = 0; rep < REPS; rep++) await play(race, addrOf, f, rep)
      })
    }
  }
}

describe('close() racing the re-listen that ends a max-connections pause', () => {
  // where close() comes, from the last socket's 'close' (which resumed intake: the server's listen() has been called),
  // and the listening handles alive then (on 127.0.0.1, on a unix path)
  const succeeding = [
    ['in the last socket\'s \'close\', while the bind is in flight', 'in-flight', [0, 1]],
    ['on the tick after, when the handle is bound and not yet announced (on a unix path, just announced)', 'next-tick', [1, 1]],
    ['in the re-listen\'s \'listening\'', 'listening', [1, 1]]
  ] as const

  eachRace(succeeding, async ([, race, listening], addrOf, f, rep) => {
    const baseline = await settledBaseline()
    const s = await subject(addrOf(`${race}-${rep}`))
    const { client, accepted } = await pauseWithOneClient(s)
    const closed = new Promise<void>((resolve, reject) => {
      const close = (): void => {
        s.log.push(s.server.listening ? 'bound' : 'not bound')
        closeAndCheck(s, baseline, { timers: 0, listening: listening[f] }, rep).then(resolve, reject)
      }
      // after the registry's own 'close' handler, which resumed intake
      accepted.once('close', () => {
        expect(s.log).toEqual(['server.listen'])
        if (race === 'in-flight') close()
        if (race === 'next-tick') process.nextTick(close)
      })
      if (race === 'listening') s.listener.addEventListener('listening', close, { once: true })
    })
    client.destroy()
    await closed
    // a unix path announces on the tick after listen(); 127.0.0.1 on the one after that
    const before = {
      'in-flight': ['server.listen', f === 1 ? 'bound' : 'not bound'],
      'next-tick': f === 1 ? ['server.listen', 'listening', 'bound'] : ['server.listen', 'bound'],
      listening: ['server.listen', 'listening', 'bound']
    }[race]
    expect(s.log).toEqual([...before, 'close() began', 'close'])
    await expectFree(s.where)
  })
})

describe('close() racing a re-listen that fails (another server took the address while intake was paused)', () => {
  // where close() comes, the intake's timers pending then (the retry, INTAKE_REST), and the listening handles alive
  // besides the other server's (on 127.0.0.1, on a unix path): the handle of the failed bind until the loop releases it
  const failing = [
    ['in the last socket\'s \'close\', while the failing bind is in flight', 'in-flight', 0, [0, 1]],
    ['in the listener\'s \'error\' for the failed bind', 'error', 0, [1, 1]],
    ['right after onListenError, with the retry armed and the failed bind\'s handle not yet released', 'after-onListenError', 1, [1, 1]],
    ['two turns of the loop after onListenError (the failed bind\'s handle released), while the retry waits', 'retry-pending', 1, [0, 0]]
  ] as const

  eachRace(failing, async ([, race, timers, listening], addrOf, f, rep) => {
    const settled = await settledBaseline()
    const s = await subject(addrOf(`fail-${race}-${rep}`))
    const { client, accepted } = await pauseWithOneClient(s)
    const thief = await bindPlain(s.where)
    // the other server's handle stays: it is part of the baseline
    const baseline = { ...settled, listening: settled.listening + 1 }
    const closed = new Promise<void>((resolve, reject) => {
      const close = (): void => { closeAndCheck(s, baseline, { timers, listening: listening[f] }, rep).then(resolve, reject) }
      if (race === 'in-flight') accepted.once('close', close)
      if (race === 'error') s.listener.addEventListener('error', close, { once: true })
      if (race === 'after-onListenError') s.onListenError = () => { queueMicrotask(close) }
      if (race === 'retry-pending') s.onListenError = () => { setImmediate(() => { setImmediate(close) }) }
    })
    client.destroy()
    await closed
    // the failure is reported (once: no retry), before 'close', whenever close() came
    const failed = ['error listen EADDRINUSE', 'onListenError EADDRINUSE']
    expect(s.log).toEqual({
      'in-flight': ['server.listen', 'close() began', ...failed, 'close'],
      error: ['server.listen', failed[0], 'close() began', failed[1], 'close'],
      'after-onListenError': ['server.listen', ...failed, 'close() began', 'close'],
      'retry-pending': ['server.listen', ...failed, 'close() began', 'close']
    }[race])
    await closePlain(thief)
    await expectFree(s.where)
  })
})

describe('close() racing the rest after an accept error', () => {
  // where close() comes, the intake's timers pending then (the rest), and the listening handles alive (on 127.0.0.1, on a unix path)
  const resting = [
    ['in the listener\'s \'error\' for the accept error, with the rest pending and the paused handle not yet released', 'resting', 1, [1, 1]],
    ['as the rest ends, while its re-listen\'s bind is in flight', 'rest-ends', 0, [0, 1]]
  ] as const

  eachRace(resting, async ([, race, timers, listening], addrOf, f, rep) => {
    const baseline = await settledBaseline()
    const s = await subject(addrOf(`rest-${race}-${rep}`))
    const closed = new Promise<void>((resolve, reject) => {
      const close = (): void => {
        if (race === 'rest-ends') s.log.push(s.server.listening ? 'bound' : 'not bound')
        closeAndCheck(s, baseline, { timers, listening: listening[f] }, rep).then(resolve, reject)
      }
      // the listener has begun its rest when it dispatches the accept error
      if (race === 'resting') s.listener.addEventListener('error', close, { once: true })
      if (race === 'rest-ends') s.onListen = close
    })
    // what Node's net.Server does when accept(2) fails and libuv passes it on (as in test/accept-errors.spec.ts)
    s.server.emit('error', Object.assign(new Error('accept ENFILE'), { code: 'ENFILE', errno: -23, syscall: 'accept' }))
    expect(s.server.listening).toBe(false)
    await closed
    expect(s.log).toEqual(race === 'resting'
      ? ['error accept ENFILE', 'close() began', 'close']
      : ['error accept ENFILE', 'server.listen', f === 1 ? 'bound' : 'not bound', 'close() began', 'close'])
    await expectFree(s.where)
  })
})

describe('close() racing a re-listen an inbound operator began', () => {
  // an operator that resumes the intake after an await (in a microtask) and a close() in the same microtask: the
  // bind is still to come (127.0.0.1 binds on the next tick) when close() would otherwise find nothing listening
  it(`closes in the microtask in which an operator resumed intake, before the bind, on 127.0.0.1, ${REPS} times`, async () => {
    for (let rep = 0; rep < REPS; rep++) {
      const baseline = await settledBaseline()
      let intake: Intake | undefined
      const s = await subject(families[0][1](''), { inbound: tap((inbound) => { intake ??= inbound.intake }) })
      const { client, accepted } = await pauseWithOneClient(s)
      intake?.pause('held')
      client.destroy()
      await waitForEvent(accepted, 'close', 5000, 'the last socket to close')
      // max-connections resumed at that close; 'held' still holds intake
      expect(s.log).toEqual([])
      intake?.resume('held')
      expect(s.log).toEqual(['server.listen'])
      await closeAndCheck(s, baseline, { timers: 0, listening: 0 }, rep)
      expect(s.log).toEqual(['server.listen', 'close() began', 'close'])
      await expectFree(s.where)
    }
  })
})
