import net from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { ECHO_PROTOCOL, createNode, stopNode, upgraderOf, watchListeners } from './nodes.ts'
import { SocketTracker, describeError, settleResources, snapshotResources, traceOrigins, within } from './probe.ts'
import { createRandom } from './random.ts'
import type { WatchedListener } from './nodes.ts'
import type { ErrorTrap, TrackedSocket } from './probe.ts'
import type { Random } from './random.ts'
import type { Subject } from './subjects.ts'
import type { AbortOptions, Connection, ConnectionGater, Libp2p, Listener, Transport, Upgrader } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export const ROUND_KINDS = ['dial-burst', 'silent', 'half-mss', 'reset', 'garbage', 'async-gater', 'stubborn-upgrader', 'mixed'] as const
export type RoundKind = typeof ROUND_KINDS[number]

/** the bound every close must meet */
export const CLOSE_BOUND_MS = 2_000

type GaterMethod = 'denyInboundConnection' | 'denyInboundEncryptedConnection' | 'denyInboundUpgradedConnection'
const GATER_METHODS: readonly GaterMethod[] = ['denyInboundConnection', 'denyInboundEncryptedConnection', 'denyInboundUpgradedConnection']

/** Everything a round does, drawn from its own seed so one round replays alone. */
export interface RoundPlan {
  index: number
  seed: number
  kind: RoundKind
  /** 'node': a libp2p node listens and is stopped; 'bare': a listener from `createListener({ upgrader })` is closed */
  side: 'node' | 'bare'
  dialers: number
  dials: number
  /** dials that open an echo stream and write to it once connected */
  streams: number
  silent: number
  halfMss: number
  resets: number
  garbage: number
  /** raw sockets started in the same tick as close(), not before it */
  racing: number
  gater?: { maxDelayMs: number, deny?: GaterMethod, closeOnCall?: { method: GaterMethod, nth: number } }
  /** the upgrader ignores its signal and never settles (bare listener only) */
  stubborn: boolean
  /** close once this many sockets have been accepted (0: do not wait), bounded by 3 s */
  closeAfterAccepted: number
  /** then wait this long before closing */
  closeDelayMs: number
  /** stop the dialer nodes first, with their dials in flight (outbound sockets are the transport's too) */
  stopDialersFirst: boolean
}

export interface PlanOptions {
  /** allow rounds that stop the dialer nodes with their dials in flight (default true) */
  dialerStop?: boolean
}

export function planRound (index: number, seed: number, kinds: readonly RoundKind[] = ROUND_KINDS, options: PlanOptions = {}): RoundPlan {
  const rng = createRandom(seed)
  const kind = rng.pick(kinds)
  const plan: RoundPlan = {
    index,
    seed,
    kind,
    side: kind === 'stubborn-upgrader' ? 'bare' : rng.chance(0.7) ? 'node' : 'bare',
    dialers: 0,
    dials: 0,
    streams: 0,
    silent: 0,
    halfMss: 0,
    resets: 0,
    garbage: 0,
    racing: 0,
    stubborn: kind === 'stubborn-upgrader',
    closeAfterAccepted: 0,
    stopDialersFirst: false,
    closeDelayMs: rng.pick([0, 0, 0, 1, 2, 3, 5, 10, 20, 40])
  }
  const dialBurst = (): void => {
    plan.dialers = rng.int(1, 4)
    plan.dials = rng.int(3, 24)
    plan.streams = rng.int(0, plan.dials)
  }
  switch (kind) {
    case 'dial-burst': dialBurst(); break
    case 'silent': plan.silent = rng.int(5, 60); break
    case 'half-mss': plan.halfMss = rng.int(5, 40); break
    case 'reset': plan.resets = rng.int(5, 40); break
    case 'garbage': plan.garbage = rng.int(5, 40); break
    case 'async-gater':
      dialBurst()
      plan.gater = {
        maxDelayMs: rng.int(1, 15),
        deny: rng.chance(0.3) ? rng.pick(GATER_METHODS) : undefined,
        // close while the gater is still deciding on an upgrade in flight
        closeOnCall: rng.chance(0.6) ? { method: rng.pick(GATER_METHODS), nth: rng.int(1, 3) } : undefined
      }
      break
    case 'stubborn-upgrader':
      plan.silent = rng.int(0, 10)
      plan.garbage = rng.int(0, 10)
      plan.halfMss = rng.int(1, 10)
      break
    case 'mixed':
      dialBurst()
      plan.dials = rng.int(2, 10)
      plan.silent = rng.int(0, 10)
      plan.halfMss = rng.int(0, 10)
      plan.resets = rng.int(0, 10)
      plan.garbage = rng.int(0, 10)
      if (rng.chance(0.5)) plan.gater = { maxDelayMs: rng.int(1, 10), deny: rng.chance(0.3) ? rng.pick(GATER_METHODS) : undefined }
      break
  }
  plan.racing = rng.int(0, Math.min(8, plan.silent + plan.halfMss + plan.resets + plan.garbage))
  const accepted = plan.dials + plan.silent + plan.halfMss + plan.resets + plan.garbage - plan.racing
  plan.closeAfterAccepted = rng.chance(0.15) ? 0 : rng.int(1, Math.max(1, accepted))
  // drawn last so that the fields above stay what they were for a given seed
  plan.stopDialersFirst = plan.dialers > 0 && rng.chance(0.3) && options.dialerStop !== false
  return plan
}

export interface RoundResult {
  index: number
  seed: number
  kind: RoundKind
  side: 'node' | 'bare'
  ok: boolean
  /** each failed check, one line each */
  failures: string[]
  /** time for close() (bare) or stop() (node) to resolve; undefined when it did not within the bound */
  closeMs?: number
  /** time from close()/stop() to the listener's 'close' event */
  listenerCloseMs?: number
  /** time for the dialer nodes' stop() with dials in flight, in rounds that stop them first */
  dialerStopMs?: number
  clientSockets: number
  serverSockets: number
  dialsOk: number
  dialsFailed: number
  durationMs: number
}

const MSS_HEADER = new TextEncoder().encode('\x13/multistream/1.0.0\n')

/**
 * Runs one round: builds the listener side, starts the round's load, closes
 * the listener (or stops its node) in the middle of it, then checks the
 * contract. Failures are returned, not thrown; whatever a failing subject
 * left open is torn down by force so the next round starts clean.
 */
export async function runRound (subject: Subject, plan: RoundPlan, trap: ErrorTrap, dialerSubject: Subject = subject): Promise<RoundResult> {
  const started = performance.now()
  const marks: string[] = []
  const mark = (name: string): void => { marks.push(`${name}=${Math.round(performance.now() - started)}`) }
  const rng = createRandom(plan.seed ^ 0x5bd1e995)
  const failures: string[] = []
  trap.phase = 'setup'
  const baseline = snapshotResources()
  const errorMark = trap.errors.length
  const tracker = new SocketTracker().start()
  const watched: WatchedListener[] = []
  const nodes: Libp2p[] = []
  const transports: Transport[] = []
  const dialOutcomes: Array<Promise<boolean>> = []
  const rawClients = new Set<net.Socket>()
  let closeMs: number | undefined
  let listenerCloseMs: number | undefined
  let dialerStopMs: number | undefined
  let closePromise: Promise<unknown> | undefined

  let gaterCalled: (() => void) | undefined
  const gaterReached = new Promise<void>(resolve => { gaterCalled = resolve })
  const gater = plan.gater != null ? asyncGater(plan.gater, rng.fork(), gaterCalled) : undefined
  const transport = watchListeners(subject.tcp(), watched)

  try {
    // the listener side
    let target: Multiaddr
    let close: () => Promise<unknown>
    if (plan.side === 'node') {
      const node = await createNode({ transport, listen: ['/ip4/127.0.0.1/tcp/0'], gater, echo: true })
      nodes.push(node)
      target = node.getMultiaddrs()[0]
      close = async () => stopNode(node)
    } else {
      const node = await createNode({ transport: subject.tcp(), gater, echo: true })
      nodes.push(node)
      const bare = transport((node as unknown as { components: unknown }).components)
      transports.push(bare)
      await (bare as Partial<{ start(): Promise<void> | void }>).start?.()
      const upgrader = plan.stubborn ? stubbornUpgrader(upgraderOf(node)) : upgraderOf(node)
      const listener: Listener = bare.createListener({ upgrader })
      await listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))
      target = listener.getAddrs()[0].encapsulate(`/p2p/${node.peerId.toString()}`)
      close = async () => listener.close()
    }
    if (target == null) throw new Error('the listener reported no address')
    const port = Number(target.getComponents().find(c => c.name === 'tcp')?.value)

    mark('setup')
    // dialers are built before the load starts so their setup is not part of the race
    const dialers: Libp2p[] = []
    for (let i = 0; i < plan.dialers; i++) {
      const dialer = await createNode({ transport: dialerSubject.tcp() })
      nodes.push(dialer)
      dialers.push(dialer)
    }

    mark('dialers')
    trap.phase = 'load'
    // the load
    for (let i = 0; i < plan.dials; i++) {
      const dialer = dialers[i % dialers.length]
      // a node joins concurrent dials to one peer into one socket; the first
      // dial of each dialer goes through the node, the rest straight through
      // its transport manager so that each is a socket of its own
      dialOutcomes.push(dialOnce(dialer, target, i < plan.streams, rng.bytes(rng.int(1, 2048)), i >= dialers.length))
    }
    const loadSettled = Promise.all(dialOutcomes)
    const rawPlan = rawSocketPlan(plan, rng)
    const preConnected = rawPlan.slice(0, rawPlan.length - plan.racing)
    const racing = rawPlan.slice(rawPlan.length - plan.racing)
    await Promise.all(preConnected.map(async (behaviour) => openRaw(port, behaviour, rawClients, rng.fork())))
    if (plan.gater?.closeOnCall != null) await within(Promise.race([gaterReached, loadSettled]), 3_000)
    else if (plan.closeAfterAccepted > 0) await within(Promise.race([tracker.acceptedAtLeast(plan.closeAfterAccepted), loadSettled]), 3_000)
    if (plan.closeDelayMs > 0) await new Promise(resolve => setTimeout(resolve, plan.closeDelayMs))

    mark('load')
    if (plan.stopDialersFirst) {
      trap.phase = 'stopping the dialers'
      const stopped = await within(Promise.all(dialers.map(async d => stopNode(d))), CLOSE_BOUND_MS)
      if (stopped.ok) {
        dialerStopMs = stopped.ms
        const outbound = tracker.clients.filter(s => !rawClients.has(s.socket))
        const open = outbound.filter(s => !s.socket.destroyed)
        if (open.length > 0) failures.push(`${open.length} of ${outbound.length} outbound sockets not destroyed when the dialers' stop() resolved`)
      } else {
        failures.push(`stopping the dialers with dials in flight ${stopped.timedOut ? `did not resolve within ${CLOSE_BOUND_MS} ms` : `rejected: ${describeError(stopped.error)}`}`)
      }
      if (process.env.CHAOS_SEPARATE != null) {
        // diagnosis: let the dialers' stop play out fully before the listener closes
        trap.phase = 'after the dialers stopped, before the listener closes'
        await within(loadSettled, 5_000)
        await within(Promise.all(tracker.servers.map(async s => s.closed)), 3_000)
      }
    }

    // the close, racing the load
    for (const behaviour of racing) void openRaw(port, behaviour, rawClients, rng.fork())
    const closeStart = performance.now()
    trap.phase = plan.side === 'node' ? 'stopping the listening node' : 'closing the listener'
    closePromise = close()
    const closed = await within(closePromise, CLOSE_BOUND_MS)
    if (closed.ok) {
      closeMs = closed.ms
    } else if (closed.timedOut) {
      failures.push(`close did not resolve within ${CLOSE_BOUND_MS} ms (${describeOpen(tracker)})`)
    } else {
      closeMs = closed.ms
      failures.push(`close rejected: ${describeError(closed.error)}`)
    }

    mark('close')
    // checks at the moment close resolved
    if (closed.ok) {
      if (watched.length === 0) failures.push('no listener was created')
      for (const w of watched) {
        if (w.closeEvents !== 1) failures.push(`listener dispatched 'close' ${w.closeEvents} times by the time close resolved (expected 1)`)
      }
      const stillOpen = tracker.servers.filter(s => !s.socket.destroyed)
      if (stillOpen.length > 0) failures.push(`${stillOpen.length} accepted sockets not destroyed when close resolved`)
      const listenerClosedAt = watched[0]?.closedAt
      if (listenerClosedAt != null) listenerCloseMs = Math.max(0, listenerClosedAt - closeStart)
    }

    trap.phase = 'after close'
    // every client sees its socket close, without doing anything itself
    const clientsClosed = await within(Promise.all(tracker.clients.map(async s => s.closed)), CLOSE_BOUND_MS)
    if (!clientsClosed.ok) failures.push(`${tracker.open('client').length} of ${tracker.clients.length} client sockets did not see 'close' within ${CLOSE_BOUND_MS} ms of close`)

    mark('clients')
    const dialsSettled = await within(Promise.all(dialOutcomes), 5_000)
    if (!dialsSettled.ok) failures.push('dials did not settle within 5 s of close')

    mark('dials')
    // stop the rest of the round and check it left nothing behind
    const stopped = await within(Promise.all([
      ...nodes.map(async n => stopNode(n)),
      ...transports.map(async t => (t as Partial<{ stop(): Promise<void> | void }>).stop?.())
    ]), 5_000)
    if (!stopped.ok) failures.push(`stopping the round's nodes ${stopped.timedOut ? 'timed out' : `failed: ${describeError(stopped.error)}`}`)

    mark('stopped')
    const allClosed = await within(Promise.all(tracker.sockets.map(async s => s.closed)), 1_000)
    if (!allClosed.ok) failures.push(`${tracker.open().length} sockets still open after the round (${describeOpen(tracker)})`)
    for (const w of watched) {
      if (w.closeEvents !== 1) failures.push(`listener dispatched 'close' ${w.closeEvents} times in the round (expected 1)`)
    }
  } catch (err) {
    failures.push(`round threw: ${describeError(err)}`)
  } finally {
    tracker.stop()
  }

  if (failures.length > 0) {
    // a failing subject: destroy what it left, so the next round starts clean
    const leftOpen = tracker.open()
    for (const s of leftOpen) s.socket.destroy()
    await within(Promise.all(leftOpen.map(async s => s.closed)), 1_000)
    await within(Promise.all(nodes.map(async n => stopNode(n))), 2_000)
    if (closePromise != null) await within(closePromise, 1_000)
  }

  const above = await settleResources(baseline, 1_000)
  if (Object.keys(above).length > 0) {
    failures.push(`resources above baseline after the round: ${JSON.stringify(above)}`)
    if (process.env.CHAOS_TRACE != null) {
      console.log(traceOrigins(Object.keys(above)))
      const later = await settleResources(baseline, 3_000)
      console.log('3 s later:', JSON.stringify(later))
    }
  }

  for (const trapped of trap.since(errorMark)) failures.push(`${trapped.kind} (while ${trapped.phase}): ${describeError(trapped.error)}`)
  trap.phase = 'between rounds'

  if (process.env.CHAOS_DEBUG != null) console.log(marks.join(' '))
  const dialResults = await Promise.all(dialOutcomes.map(async p => within(p, 0)))
  return {
    index: plan.index,
    seed: plan.seed,
    kind: plan.kind,
    side: plan.side,
    ok: failures.length === 0,
    failures,
    closeMs,
    listenerCloseMs,
    dialerStopMs,
    clientSockets: tracker.clients.length,
    serverSockets: tracker.servers.length,
    dialsOk: dialResults.filter(r => r.ok && r.value).length,
    dialsFailed: dialResults.filter(r => !r.ok || !r.value).length,
    durationMs: performance.now() - started
  }
}

function describeOpen (tracker: SocketTracker): string {
  const open = tracker.open()
  const by = (side: TrackedSocket['side']): number => open.filter(s => s.side === side).length
  return `${by('server')} accepted and ${by('client')} client sockets open`
}

/** resolves true when the dial (and its echo, if asked) succeeded, false when it failed; never rejects */
async function dialOnce (dialer: Libp2p, target: Multiaddr, echo: boolean, payload: Uint8Array, direct: boolean): Promise<boolean> {
  try {
    const signal = AbortSignal.timeout(4_000)
    const connection = direct
      ? await transportManagerOf(dialer).dial(target, { signal })
      : await dialer.dial(target, { force: true, signal })
    if (echo) {
      const stream = await connection.newStream(ECHO_PROTOCOL, { signal: AbortSignal.timeout(4_000) })
      stream.send(payload)
      await stream.close({ signal: AbortSignal.timeout(4_000) })
    }
    return true
  } catch (err) {
    if (process.env.CHAOS_DEBUG != null) console.log('dial failed', describeError(err))
    return false
  }
}

type RawBehaviour = 'silent' | 'half-mss' | 'reset' | 'garbage'

function rawSocketPlan (plan: RoundPlan, rng: Random): RawBehaviour[] {
  const all: RawBehaviour[] = [
    ...Array<RawBehaviour>(plan.silent).fill('silent'),
    ...Array<RawBehaviour>(plan.halfMss).fill('half-mss'),
    ...Array<RawBehaviour>(plan.resets).fill('reset'),
    ...Array<RawBehaviour>(plan.garbage).fill('garbage')
  ]
  // the racing ones are taken from the end: shuffle so any behaviour can race
  for (let i = all.length - 1; i > 0; i--) {
    const j = rng.int(0, i)
    ;[all[i], all[j]] = [all[j], all[i]]
  }
  return all
}

/**
 * Opens one raw socket and behaves as told once connected. Resolves when it
 * has connected and done its part (or failed to connect), so the caller can
 * close the listener with the socket accepted and mid-handshake.
 */
async function openRaw (port: number, behaviour: RawBehaviour, clients: Set<net.Socket>, rng: Random): Promise<void> {
  await new Promise<void>(resolve => {
    const socket = net.connect({ host: '127.0.0.1', port })
    clients.add(socket)
    socket.on('error', () => {})
    socket.on('data', () => {})
    socket.once('close', () => { resolve() })
    socket.once('connect', () => {
      switch (behaviour) {
        case 'silent': break
        case 'half-mss': socket.write(MSS_HEADER.subarray(0, rng.int(1, MSS_HEADER.length - 1))); break
        case 'reset': socket.resetAndDestroy(); break
        case 'garbage': socket.write(rng.bytes(rng.int(1, 4096))); break
      }
      resolve()
    })
  })
}

/** a gater that consults something slow: each answer comes after a few ms */
function asyncGater (opts: NonNullable<RoundPlan['gater']>, rng: Random, onCall?: () => void): ConnectionGater {
  let calls = 0
  const answer = (method: GaterMethod) => async (): Promise<boolean> => {
    if (opts.closeOnCall?.method === method && ++calls === opts.closeOnCall.nth) onCall?.()
    await new Promise(resolve => setTimeout(resolve, rng.int(1, opts.maxDelayMs)))
    return opts.deny === method
  }
  return Object.fromEntries(GATER_METHODS.map(m => [m, answer(m)]))
}

/** an upgrader that ignores its signal and never settles */
function stubbornUpgrader (real: Upgrader): Upgrader {
  return new Proxy(real, {
    get (target, prop, receiver) {
      if (prop === 'upgradeInbound') return async () => new Promise(() => {})
      const value = Reflect.get(target, prop, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

interface TransportManager { dial(ma: Multiaddr, options: AbortOptions): Promise<Connection> }

function transportManagerOf (node: Libp2p): TransportManager {
  return (node as unknown as { components: { transportManager: TransportManager } }).components.transportManager
}
