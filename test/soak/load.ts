// A child of the soak (test/soak/soak.ts): the load, in a process of its own.
// args: seed, workers. A libp2p node on @libp2p/tcp (the same peer for both
// subjects) plus raw sockets, against the node under test. Driven over IPC.
import net from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { reference } from '../../bench/subjects.ts'
import { createRandom } from '../chaos/random.ts'
import { ECHO, createSoakNode, deadline, echoOver, trapErrors } from './protocol.ts'
import type { LoadCommand, LoadCounts, LoadReport } from './protocol.ts'
import type { Random } from '../chaos/random.ts'
import type { AbortOptions, Connection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

const [seed, workerCount] = process.argv.slice(2)
const send = (msg: LoadReport): void => { process.send?.(msg) }
const errors = trapErrors()
const trap = errors.report

const counts: LoadCounts = {
  exchanges: { ok: 0, failed: 0 },
  pings: { ok: 0, failed: 0 },
  aborted: { total: 0, completed: 0 },
  raw: { silent: 0, halfHandshake: 0, garbage: 0, reset: 0, refused: 0 },
  bytesEchoed: 0,
  failures: []
}
/** how many failed exchanges the counts keep the error of */
const FAILURES_KEPT = 5
const began = performance.now()

const MSS_HEADER = new TextEncoder().encode('\x13/multistream/1.0.0\n')
const node = await createSoakNode(reference.tcp())
const rng = createRandom(Number(seed))
const rawSockets = new Set<net.Socket>()

const wait = async (ms: number, signal: AbortSignal): Promise<void> => new Promise<void>((resolve) => {
  if (signal.aborted) { resolve(); return }
  const timer = setTimeout(done, ms)
  function done (): void { clearTimeout(timer); signal.removeEventListener('abort', done); resolve() }
  signal.addEventListener('abort', done, { once: true })
})

interface TransportManager { dial(ma: Multiaddr, options: AbortOptions): Promise<Connection> }

/**
 * A dial of a socket of its own: the node's dial queue would join a dial to
 * one in flight to the same peer, even with `force`, and two loops would
 * share (and close) one connection. The transport manager upgrades it with
 * the node's upgrader and the connection manager tracks it all the same.
 */
async function dialOwn (target: Multiaddr, signal: AbortSignal): Promise<Connection> {
  // the transport manager is not public API; the node's components hold it
  return (node as unknown as { components: { transportManager: TransportManager } }).components.transportManager.dial(target, { signal })
}

/** a libp2p dial that opens an echo stream, exchanges 1 B–64 KiB, sometimes pings, and closes */
async function exchange (target: Multiaddr, r: Random, stop: AbortSignal): Promise<void> {
  const { signal, clear } = deadline(stop, 15_000)
  try {
    const conn = await dialOwn(target, signal)
    try {
      const payload = r.bytes(r.int(1, 65_536))
      await echoOver(await conn.newStream(ECHO, { signal }), payload, r.pick([1_024, 16_384, 65_536]), signal)
      counts.bytesEchoed += payload.byteLength
      if (r.chance(0.3)) {
        await node.services.ping.ping(conn.remotePeer, { signal }).then(() => { counts.pings.ok++ }, () => { counts.pings.failed++ })
      }
    } finally {
      await conn.close({ signal: AbortSignal.timeout(2_000) }).catch((err: Error) => { conn.abort(err) })
    }
    counts.exchanges.ok++
  } catch (err) {
    if (process.env.SOAK_DEBUG != null) console.error('exchange failed', err)
    if (!stop.aborted) {
      counts.exchanges.failed++
      const { name, message } = err instanceof Error ? err : new Error(String(err))
      if (counts.failures.length < FAILURES_KEPT) counts.failures.push(`t=${((performance.now() - began) / 1000).toFixed(1)}s ${name}: ${message}`)
    }
  } finally {
    clear()
  }
}

/** a libp2p dial aborted after 0–40 ms: before the TCP connect, in noise, in yamux, or just after */
async function abortedDial (target: Multiaddr, r: Random): Promise<void> {
  counts.aborted.total++
  const conn = await dialOwn(target, AbortSignal.timeout(r.int(0, 40))).catch(() => undefined)
  if (conn != null) {
    counts.aborted.completed++
    conn.abort(new Error('the load aborts this one after its upgrade'))
  }
}

type RawKind = 'silent' | 'halfHandshake' | 'garbage' | 'reset'

/**
 * A raw socket that is silent, sends half a multistream header, sends
 * garbage, or resets; held 0.2–7 s (past the node's 5 s upgrade deadline at
 * times) unless the node closes it first.
 */
async function rawSocket (port: number, kind: RawKind, r: Random, stop: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    rawSockets.add(socket)
    let timer: ReturnType<typeof setTimeout> | undefined
    let connected = false
    const end = (): void => { socket.destroy() }
    socket.on('error', () => {})
    socket.on('data', () => {})
    socket.once('close', () => {
      clearTimeout(timer)
      stop.removeEventListener('abort', end)
      rawSockets.delete(socket)
      resolve()
    })
    stop.addEventListener('abort', end, { once: true })
    socket.once('connect', () => {
      connected = true
      counts.raw[kind]++
      switch (kind) {
        case 'silent': break
        case 'halfHandshake': socket.write(MSS_HEADER.subarray(0, r.int(1, MSS_HEADER.length - 1))); break
        case 'garbage': socket.write(r.bytes(r.int(1, 4_096))); break
        case 'reset':
          timer = setTimeout(() => { socket.resetAndDestroy() }, r.int(0, 50))
          return
      }
      timer = setTimeout(end, r.int(200, 7_000))
    })
    socket.once('error', () => { if (!connected) counts.raw.refused++ })
  })
}

const OPS = ['exchange', 'exchange', 'exchange', 'exchange', 'aborted', 'aborted', 'silent', 'halfHandshake', 'garbage', 'reset'] as const

let run: { stop: AbortController, workers: Promise<void[]> } | undefined
function start (target: Multiaddr, port: number): void {
  const stop = new AbortController()
  const workers = Promise.all(Array.from({ length: Number(workerCount) }, async () => {
    const r = rng.fork()
    while (!stop.signal.aborted) {
      const op = r.pick(OPS)
      if (op === 'exchange') await exchange(target, r, stop.signal)
      else if (op === 'aborted') await abortedDial(target, r)
      else await rawSocket(port, op, r, stop.signal)
      await wait(r.int(50, 400), stop.signal)
    }
  }))
  run = { stop, workers }
}

async function pause (): Promise<void> {
  run?.stop.abort()
  await run?.workers
  run = undefined
  for (const s of rawSockets) s.destroy()
  await Promise.all(node.getConnections().map(async (c) => c.close({ signal: AbortSignal.timeout(2_000) }).catch((err: Error) => { c.abort(err) })))
}

let target: Multiaddr | undefined
let port = 0
const counter = setInterval(() => { send({ type: 'counts', counts }) }, 10_000)
process.on('message', (cmd: LoadCommand) => {
  const handle = async (): Promise<void> => {
    switch (cmd.type) {
      case 'target':
        target = multiaddr(cmd.addr)
        port = Number(target.getComponents().find((c) => c.name === 'tcp')?.value)
        start(target, port)
        break
      case 'pause': {
        const t0 = performance.now()
        await pause()
        send({ type: 'drained', ms: Math.round(performance.now() - t0), counts })
        break
      }
      case 'resume':
        if (target != null) start(target, port)
        break
      case 'stop':
        clearInterval(counter)
        await pause()
        await node.stop()
        send({ type: 'stopped', counts, uncaught: errors.count })
        process.disconnect()
        break
    }
  }
  handle().catch(trap('unhandledRejection'))
})
process.on('disconnect', () => { setTimeout(() => process.exit(0), 3_000).unref() })
send({ type: 'listening', addr: node.getMultiaddrs()[0].toString() })
