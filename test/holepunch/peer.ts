// ip netns exec <ns> node --import tsx test/holepunch/peer.ts '<PeerConfig as JSON>'
// One js-libp2p node of `npm run holepunch`, run inside its namespace: the
// relay, or a node behind a NAT that reserves a slot on the relay and either
// waits (the listener) or dials the listener through the relay (the dialer)
// and measures what DCUtR makes of it. JSON lines on stdout, one object each;
// a "stop" line on stdin (or stdin closing) stops the node, which then
// reports what it left open and exits.
import { createHash, randomBytes } from 'node:crypto'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { createInterface } from 'node:readline'
import { multiaddr } from '@multiformats/multiaddr'
import { Circuit } from '@multiformats/multiaddr-matcher'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { settledTcpHandles } from '../fixtures/netns.ts'
import { handleEcho } from '../interop/js-node.ts'
import { RELAY_LIMITS } from './topology.ts'
import { hostTransport } from './transports.ts'
import type { HoleTransport } from './transports.ts'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'

export interface PeerConfig {
  role: 'relay' | 'listener' | 'dialer'
  transport: HoleTransport
  /** the entry of a patched copy of libp2p (test/holepunch/patched.ts), or undefined for node_modules' own */
  libp2p?: string
  /** the TCP address to listen on */
  listen: string
  /** the address through the NAT, added with `appendAnnounce` */
  announce?: string
  /** the relay's address, with its /p2p/ id (not for the relay itself) */
  relay?: string
  /** the dialer: the listener's address through the relay (else a "dial <multiaddr>" line on stdin) */
  target?: string
  /** the dialer: how long to wait for the direct connection after the relayed dial */
  directTimeoutMs?: number
  /** the dialer: bytes of the echo over the direct connection */
  echoBytes?: number
}

const PING = '/ipfs/ping/1.0.0'
const ECHO = '/echo/1.0.0'

const say = (msg: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(msg, (_k, v) => typeof v === 'bigint' ? Number(v) : v) + '\n') }
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
const round = (ms: number): number => Math.round(ms * 100) / 100

// an uncaught error of the stack is what the tool counts, not a crash: it is
// recorded and reported with the stop
const uncaught: string[] = []
process.on('uncaughtException', (err) => { uncaught.push(`uncaughtException: ${String(err?.stack ?? err)}`) })
process.on('unhandledRejection', (err: any) => { uncaught.push(`unhandledRejection: ${String(err?.stack ?? err)}`) })

const config = JSON.parse(process.argv[2]) as PeerConfig
const started = performance.now()

/** what came back on `stream` after sending `data`: up to `want` bytes, or all until the remote closes */
async function exchange (stream: Stream, data: Uint8Array, signal: AbortSignal, want?: number): Promise<Uint8Array> {
  const reading = (async () => {
    const chunks: Uint8Array[] = []
    let got = 0
    for await (const c of stream) {
      chunks.push(c.subarray())
      got += c.byteLength
      if (want != null && got >= want) break
    }
    return Buffer.concat(chunks)
  })()
  for (let i = 0; i < data.byteLength; i += 64 * 1024) {
    if (!stream.send(data.subarray(i, i + 64 * 1024))) await stream.onDrain({ signal })
  }
  if (want == null) await stream.close({ signal })
  const back = await reading
  if (want != null) await stream.close({ signal })
  return back
}

/** one ping on a new stream of `conn`, in ms */
async function pingOn (conn: Connection, signal: AbortSignal): Promise<number> {
  const stream = await conn.newStream(PING, { signal, runOnLimitedConnection: true })
  const data = randomBytes(32)
  const start = performance.now()
  const back = await exchange(stream, data, signal, 32)
  const rtt = performance.now() - start
  if (sha(back) !== sha(data)) throw new Error('the ping came back different')
  return round(rtt)
}

async function createNode (): Promise<Libp2p<any>> {
  const { createLibp2p } = await import(config.libp2p ?? 'libp2p') as typeof import('libp2p')
  const relayServer = config.role === 'relay'
  return createLibp2p({
    addresses: {
      listen: [config.listen, ...(config.relay != null ? [`${config.relay}/p2p-circuit`] : [])],
      // the relay is on the internet: its address is its own (libp2p would
      // otherwise wait for AutoNAT to verify a public listen address)
      ...(config.announce == null ? {} : relayServer ? { announce: [config.announce] } : { appendAnnounce: [config.announce] })
    },
    transports: [hostTransport(config.transport), ...(relayServer ? [] : [circuitRelayTransport()])],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: (relayServer
      ? { identify: identify(), ping: ping(), relay: circuitRelayServer({ reservations: { maxReservations: 1024, defaultDataLimit: RELAY_LIMITS.bytes, defaultDurationLimit: RELAY_LIMITS.ms } }) }
      : { identify: identify(), ping: ping(), dcutr: dcutr() }) as Record<string, (components: any) => unknown>,
    // pings on idle connections would only add traffic no figure asserts on
    connectionMonitor: { enabled: false }
  })
}

async function stopped (node: Libp2p<any>, extra: Record<string, unknown> = {}): Promise<never> {
  const t = performance.now()
  await node.stop()
  const stopMs = round(performance.now() - t)
  const handles = await settledTcpHandles(1000)
  say({ event: 'stopped', stopMs, tcpHandles: handles, uncaught, ...extra })
  process.exit(0)
}

// stdin: "dial <multiaddr>" (the dialer's target, when it was started before the
// listener was ready), "stop"; stdin's end and SIGTERM stop as well
const stdin = createInterface({ input: process.stdin })
const stopRequested = new Promise<void>((resolve) => {
  stdin.on('line', (line) => { if (line.trim() === 'stop') resolve() })
  stdin.once('close', resolve)
  process.once('SIGTERM', resolve)
})
const targetGiven = new Promise<string>((resolve) => {
  stdin.on('line', (line) => { if (line.startsWith('dial ')) resolve(line.slice(5).trim()) })
})

try {
  const node = await createNode()
  const connections: Array<Record<string, unknown>> = []
  node.addEventListener('connection:open', (evt) => {
    const c = evt.detail
    const relayed = Circuit.exactMatch(c.remoteAddr)
    const entry = { ms: round(performance.now() - started), peer: c.remotePeer.toString(), remoteAddr: c.remoteAddr.toString(), direction: c.direction, relayed }
    connections.push(entry)
    say({ event: 'connection', ...entry })
  })
  await handleEcho(node)

  if (config.role === 'relay') {
    say({ event: 'listening', peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(String) })
    await stopRequested
    await stopped(node)
  }

  const circuit = node.getMultiaddrs().find((a) => Circuit.exactMatch(a))
  say({ event: 'ready', peerId: node.peerId.toString(), circuit: circuit?.toString(), addrs: node.getMultiaddrs().map(String) })

  if (config.role === 'listener') {
    await stopRequested
    await stopped(node, { connections })
  }

  // the dialer
  const given = config.target ?? await Promise.race([targetGiven, stopRequested.then(() => undefined)])
  if (given == null) await stopped(node)
  const target = multiaddr(given ?? '')
  const targetPeer = target.getComponents().findLast((c) => c.name === 'p2p')?.value ?? ''
  const direct = new Promise<{ conn: Connection, ms: number }>((resolve) => {
    node.addEventListener('connection:open', (evt) => {
      const c = evt.detail
      if (c.remotePeer.toString() === targetPeer && !Circuit.exactMatch(c.remoteAddr)) resolve({ conn: c, ms: performance.now() })
    })
  })
  const result: Record<string, unknown> = { event: 'result' }
  const t0 = performance.now()
  try {
    const relayed = await node.dial(target, { signal: AbortSignal.timeout(10_000) })
    result.relayedMs = round(performance.now() - t0)
    // the limits are getters (what is left of them): read them now, before any traffic
    result.relayedLimits = { bytes: relayed.limits?.bytes, seconds: relayed.limits?.seconds }
    try {
      result.relayedPingMs = await pingOn(relayed, AbortSignal.timeout(5_000))
    } catch (err: any) {
      // DCUtR may have closed the relayed connection already
      result.relayedPingError = String(err?.message ?? err)
    }
    const timeout = config.directTimeoutMs ?? 20_000
    const got = await Promise.race([direct, new Promise<undefined>((resolve) => { const t = setTimeout(resolve, Math.max(0, timeout - (performance.now() - t0))); void direct.then(() => { clearTimeout(t) }) })])
    if (got == null) {
      result.direct = false
      result.error = `no direct connection within ${timeout} ms of the relayed dial`
    } else {
      result.direct = true
      result.directMs = round(got.ms - t0)
      result.directAddr = got.conn.remoteAddr.toString()
      result.directDirection = got.conn.direction
      const signal = AbortSignal.timeout(20_000)
      result.pingMs = await pingOn(got.conn, signal)
      const data = randomBytes(config.echoBytes ?? 1024 * 1024)
      const e0 = performance.now()
      const stream = await got.conn.newStream(ECHO, { signal })
      const back = await exchange(stream, data, signal)
      result.echoMs = round(performance.now() - e0)
      result.echoBytes = back.byteLength
      result.echoOk = sha(back) === sha(data)
      result.directStillOpen = got.conn.status === 'open'
    }
  } catch (err: any) {
    result.error = `${err?.name ?? 'Error'}: ${String(err?.message ?? err)}`
  }
  result.connections = connections
  say(result)
  await stopRequested
  await stopped(node)
} catch (err: any) {
  say({ event: 'error', message: String(err?.stack ?? err), uncaught })
  process.exit(1)
}
