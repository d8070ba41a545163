// A child of `npm run flood` (run.ts): the good peers. Each is a real libp2p
// node (noise + yamux, identify, ping) that reaches the victim through a
// relay of its own: the relay connects from the peer's own source address
// (127.250.<i>.1, outside every attacking subnet) and holds every chunk for
// half the peer's round trip each way, since this kernel has no netem.
// Each keeps one connection busy (a ping every 200 ms, a steady echo) and,
// within a window, dials fresh connections at a steady rate.
// args: peers, far peers, far round trip ms, near round trip ms, dial interval ms, dial timeout ms.
import net from 'node:net'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { ECHO } from '../../bench/nodes.ts'
import { trapErrors } from '../soak/protocol.ts'
import type { GoodCommand, GoodReport, GoodWindow } from './protocol.ts'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

const [peersText, farText, farRttText, nearRttText, dialEveryText, dialTimeoutText] = process.argv.slice(2)
const send = (msg: GoodReport): void => { process.send?.(msg) }
// a parent that died (Ctrl-C, a crash) takes its children with it
process.on('disconnect', () => { process.exit(0) })
const errors = trapErrors()
const PING = '/ipfs/ping/1.0.0'
const ECHO_CHUNK = 8 * 1024
const ECHO_EVERY = 125
const PING_EVERY = 100
const dialEvery = Number(dialEveryText)
const dialTimeout = Number(dialTimeoutText)

/** A TCP relay on 127.0.0.1 that connects to `target` from `source` and delays every chunk by `oneWay` ms each way */
async function delayRelay (source: string, oneWay: number, target: () => { host: string, port: number }): Promise<{ server: net.Server, port: number }> {
  const forward = (from: net.Socket, to: net.Socket): void => {
    from.on('data', (chunk) => { setTimeout(() => { if (!to.destroyed && !to.writableEnded) to.write(chunk) }, oneWay) })
    from.on('end', () => { setTimeout(() => { if (!to.destroyed) to.end() }, oneWay) })
    from.on('error', () => { setTimeout(() => { to.resetAndDestroy() }, oneWay) })
    from.on('close', () => { setTimeout(() => { if (!to.destroyed && to.writableEnded) to.destroy() }, oneWay + 1_000) })
  }
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    const upstream = net.connect({ ...target(), localAddress: source, allowHalfOpen: true, noDelay: true })
    forward(client, upstream)
    forward(upstream, client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, port: (server.address() as net.AddressInfo).port }
}

interface Peer {
  node: Libp2p
  far: boolean
  /** the victim's address through this peer's relay */
  via?: Multiaddr
  conn?: Connection
  echo?: Stream
  loops: Array<ReturnType<typeof setInterval>>
}

let victim: { host: string, port: number, peerId: string } | undefined
const peers: Peer[] = []
for (let i = 0; i < Number(peersText); i++) {
  const far = i < Number(farText)
  const relay = await delayRelay(`127.250.${i}.1`, Number(far ? farRttText : nearRttText) / 2, () => victim as { host: string, port: number })
  const node = await createLibp2p({
    // identify teaches the peer store the victim's own address: every dial must still go through this peer's relay
    connectionGater: { denyDialMultiaddr: (ma) => !ma.toString().startsWith(`/ip4/127.0.0.1/tcp/${relay.port}/`) && ma.toString() !== `/ip4/127.0.0.1/tcp/${relay.port}` },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // its own pings are the measurement: the monitor's heartbeat would share ping's one outbound stream with them
    services: { identify: identify(), ping: ping({ maxOutboundStreams: 4 }) },
    connectionMonitor: { enabled: false },
    connectionManager: { maxParallelDials: 1_000, maxDialQueueLength: 10_000, dialTimeout }
  })
  const peer: Peer = { node, far, loops: [] }
  peers.push(peer)
  ;(peer as Peer & { relayPort: number }).relayPort = relay.port
}

let window: GoodWindow | undefined
let windowStart = 0
let echoed = 0
const inFlight = new Set<Promise<void>>()

function emptyWindow (): GoodWindow {
  return { dials: 0, dialsOk: 0, dialErrors: {}, longLivedLost: 0, dialMs: [], dialMsFar: [], pingNear: [], pingFar: [], pingsFailed: 0, echoBytesPerSec: 0, uncaught: 0 }
}

async function pingOnce (peer: Peer): Promise<void> {
  const conn = peer.conn
  if (conn == null || conn.status !== 'open') { if (window != null) window.pingsFailed++; return }
  const counted = window
  try {
    const signal = AbortSignal.timeout(5_000)
    const stream = await conn.newStream(PING, { signal })
    const data = crypto.getRandomValues(new Uint8Array(32))
    const rtt = await new Promise<number>((resolve, reject) => {
      let got = 0
      const start = performance.now()
      stream.addEventListener('message', (evt) => {
        got += evt.data.byteLength
        if (got >= 32) resolve(performance.now() - start)
      })
      stream.addEventListener('close', () => { reject(new Error('ping stream closed')) })
      signal.addEventListener('abort', () => { reject(signal.reason) })
      stream.send(data)
    })
    await stream.close({ signal }).catch(() => { stream.abort(new Error('ping done')) })
    if (counted != null && counted === window) (peer.far ? counted.pingFar : counted.pingNear).push(Math.round(rtt * 10) / 10)
  } catch (err: any) {
    if (counted != null && counted === window) counted.pingsFailed++
  }
}

async function dialFresh (peer: Peer, w: GoodWindow): Promise<void> {
  w.dials++
  const start = performance.now()
  try {
    const conn = await peer.node.dial(peer.via as Multiaddr, { force: true, signal: AbortSignal.timeout(dialTimeout) })
    w.dialMs.push(Math.round(performance.now() - start))
    if (peer.far) w.dialMsFar.push(Math.round(performance.now() - start))
    w.dialsOk++
    await conn.close({ signal: AbortSignal.timeout(2_000) }).catch((err: Error) => { conn.abort(err) })
  } catch (err: any) {
    const name = String(err?.name ?? 'Error')
    w.dialErrors[name] = (w.dialErrors[name] ?? 0) + 1
  }
}

async function connectAll (addr: string): Promise<void> {
  const ma = multiaddr(addr)
  const parts = ma.getComponents()
  const value = (name: string): string => parts.find((c) => c.name === name)?.value ?? ''
  victim = { host: value('ip4'), port: Number(value('tcp')), peerId: value('p2p') }
  const problems: string[] = []
  let ok = 0
  await Promise.all(peers.map(async (peer) => {
    peer.via = multiaddr(`/ip4/127.0.0.1/tcp/${(peer as Peer & { relayPort: number }).relayPort}/p2p/${victim?.peerId ?? ''}`)
    try {
      peer.conn = await peer.node.dial(peer.via, { force: true, signal: AbortSignal.timeout(10_000) })
      const conn = peer.conn
      conn.addEventListener('close', () => {
        if (peer.conn === conn && window != null) window.longLivedLost++
      })
      peer.echo = await peer.conn.newStream(ECHO, { signal: AbortSignal.timeout(10_000) })
      peer.echo.addEventListener('message', (evt) => { echoed += evt.data.byteLength })
      ok++
    } catch (err: any) {
      problems.push(String(err?.message ?? err))
      return
    }
    const payload = new Uint8Array(ECHO_CHUNK)
    // one ping at a time, PING_EVERY ms apart: a far peer pings less often, not in parallel
    const pinging = peer.conn
    const pingLoop = async (): Promise<void> => {
      while (peer.conn === pinging) {
        await pingOnce(peer)
        await new Promise((resolve) => setTimeout(resolve, PING_EVERY))
      }
    }
    void pingLoop()
    peer.loops.push(setInterval(() => {
      // a steady echo, not a saturating one: skipped while the stream is backed up
      if (peer.echo?.writeStatus === 'writable' && peer.echo.status === 'open') peer.echo.send(payload)
    }, ECHO_EVERY))
  }))
  send({ type: 'connected', ok, failed: peers.length - ok, errors: problems })
}

let dialLoops: Array<ReturnType<typeof setInterval>> = []

process.on('message', (cmd: GoodCommand) => {
  const run = async (): Promise<void> => {
    switch (cmd.type) {
      case 'connect':
        await connectAll(cmd.addr)
        break
      case 'window-start': {
        const w = emptyWindow()
        window = w
        windowStart = performance.now()
        echoed = 0
        const dialing = peers.filter((p) => p.via != null)
        dialLoops = dialing.map((peer, i) => {
          const dial = (): void => {
            const p = dialFresh(peer, w)
            inFlight.add(p)
            void p.finally(() => inFlight.delete(p))
          }
          // the peers' dials spread over the interval, not all at once
          const start = setTimeout(() => {
            if (window !== w) return
            dial()
            dialLoops.push(setInterval(dial, dialEvery))
          }, Math.round(i * dialEvery / dialing.length))
          return start as unknown as ReturnType<typeof setInterval>
        })
        break
      }
      case 'window-end': {
        const w = window ?? emptyWindow()
        const seconds = (performance.now() - windowStart) / 1000
        w.echoBytesPerSec = Math.round(echoed / seconds)
        dialLoops.forEach(clearInterval)
        dialLoops = []
        window = undefined
        await Promise.all([...inFlight])
        w.uncaught = errors.count
        send({ type: 'window', window: w })
        break
      }
      case 'disconnect':
        for (const peer of peers) {
          peer.loops.forEach(clearInterval)
          peer.loops = []
          peer.echo = undefined
          peer.conn = undefined
          await Promise.all(peer.node.getConnections().map(async (c) => c.close({ signal: AbortSignal.timeout(2_000) }).catch((err: Error) => { c.abort(err) })))
        }
        send({ type: 'disconnected' })
        break
      case 'stop':
        await Promise.all(peers.map(async (p) => p.node.stop()))
        process.exit(0)
    }
  }
  run().catch(errors.report('unhandledRejection'))
})

send({ type: 'ready' })
