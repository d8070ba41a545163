/**
 * The scenarios of the interop matrix (issue 13, item 2), each in both
 * directions: the JS node dials a listening peer, or listens and the peer
 * dials it with `--run <scenario>` (test/interop/PEERS.md). Each returns a
 * line of what it saw, or throws what went wrong.
 */
import { createHash, randomBytes } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import { settledTcpHandles } from '../fixtures/netns.ts'
import { AGENT, CLOSE_TIMEOUT_MS, ECHO, handleEcho } from './js-node.ts'
import { NotApplicable, bounded, check, hostPort } from './cells.ts'
import { writable } from './perf-protocol.ts'
import type { CellContext, Scenario } from './cells.ts'
import type { InteropNode } from './js-node.ts'
import type { Peer, PeerEvent } from './peers.ts'
import type { Connection, Stream } from '@libp2p/interface'

/** what a JS `stop()` may take beyond `closeTimeout` on this loaded 2-core machine */
export const STOP_MARGIN_MS = 1500

const MiB = 1024 * 1024
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
const median = (v: number[]): number => { const s = [...v].sort((a, b) => a - b); return s.length === 0 ? NaN : s.length % 2 === 1 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2 }

/** sends `data` on an echo stream, closes the write side, resolves with what came back */
async function echoOn (stream: Stream, data: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
  const reading = (async () => {
    const chunks: Uint8Array[] = []
    for await (const c of stream) chunks.push(c.subarray())
    return Buffer.concat(chunks)
  })()
  for (let i = 0; i < data.byteLength; i += 64 * 1024) {
    if (!stream.send(data.subarray(i, i + 64 * 1024))) await writable(stream, signal)
  }
  await stream.close({ signal })
  return reading
}

/** writes a KiB every 20 ms until the stream ends; resolves how it ended */
function trickle (stream: Stream): Promise<string> {
  const timer = setInterval(() => {
    if (stream.writeStatus !== 'writable') return
    try { stream.send(new Uint8Array(1024)) } catch {}
  }, 20)
  return (async () => {
    try {
      // only the end matters: what the peer sends is discarded
      for await (const chunk of stream) void chunk
      return 'ended'
    } catch (err: any) {
      return err?.name ?? 'error'
    } finally {
      clearInterval(timer)
    }
  })()
}

/** a dialing peer's scenario ran to its `done` line and exit 0 */
async function finished (ctx: CellContext, peer: Peer, ms: number): Promise<void> {
  const e = await peer.waitFor((e) => e.event === 'done' || e.event === 'error', 'done', ctx.ms(ms))
  if (e.event === 'error') throw new Error(`the peer reported: ${e.message}`)
  const code = await bounded(peer.exited, ctx.ms(5000), 'the peer to exit after done')
  check(code === 0, `the peer exited ${code} after done`)
}

async function dialed (ctx: CellContext, node: InteropNode, addr: string): Promise<Connection> {
  return node.dial(multiaddr(addr), { signal: AbortSignal.timeout(ctx.ms(15_000)) })
}

const closeOf = (ctx: CellContext, node: InteropNode, peerId: string, what: string): Promise<unknown> =>
  ctx.nodeEvent(node, 'connection:close', (c) => c.remotePeer.toString() === peerId, ctx.ms(10_000), what)

const ping: Scenario = async (ctx) => {
  if (ctx.spec.direction === 'js-dials') {
    const { addr } = await ctx.listeningPeer()
    const node = await ctx.node()
    const rtts: number[] = []
    for (let i = 0; i < 10; i++) rtts.push(await node.services.ping.ping(multiaddr(addr), { signal: AbortSignal.timeout(ctx.ms(5000)) }))
    ctx.values.rttMs = median(rtts)
    return `10 pings, median RTT ${median(rtts).toFixed(2)} ms`
  }
  const node = await ctx.node({ listen: true })
  const peer = ctx.dialingPeer(ctx.addrOf(node), 'ping', ['--count', '10'])
  await finished(ctx, peer, 20_000)
  const rtts = peer.events.filter((e) => e.event === 'ping').map((e) => Number(e.rttMs))
  check(rtts.length === 10, `the peer printed ${rtts.length} of 10 pings`)
  ctx.values.rttMs = median(rtts)
  return `10 pings from the peer, median RTT ${median(rtts).toFixed(2)} ms`
}

const echo: Scenario = async (ctx) => {
  if (ctx.spec.direction === 'js-dials') {
    const { addr } = await ctx.listeningPeer()
    const node = await ctx.node()
    const data = randomBytes(MiB)
    const signal = AbortSignal.timeout(ctx.ms(20_000))
    const back = await echoOn(await node.dialProtocol(multiaddr(addr), ECHO, { signal }), data, signal)
    check(back.byteLength === data.byteLength, `${back.byteLength} of ${data.byteLength} bytes came back`)
    check(sha(back) === sha(data), 'the sha256 of what came back differs')
    return `1 MiB echoed, sha256 ${sha(data).slice(0, 12)}… matches`
  }
  const node = await ctx.node({ listen: true })
  const peer = ctx.dialingPeer(ctx.addrOf(node), 'echo', ['--bytes', String(MiB)])
  const e = await peer.waitFor((e) => e.event === 'echo' || e.event === 'error', 'its echo line', ctx.ms(20_000))
  if (e.event === 'error') throw new Error(`the peer reported: ${e.message}`)
  check(e.bytes === MiB, `the peer sent ${e.bytes} bytes, not 1 MiB`)
  check(e.sha256 === e.echoSha256, `sha256 sent ${String(e.sha256).slice(0, 12)}… ≠ echoed ${String(e.echoSha256).slice(0, 12)}…`)
  await finished(ctx, peer, 5000)
  return `1 MiB echoed by the JS node, sha256 ${String(e.sha256).slice(0, 12)}… matches`
}

const streams: Scenario = async (ctx) => {
  if (ctx.spec.direction === 'js-dials') {
    const { addr } = await ctx.listeningPeer()
    const node = await ctx.node()
    const conn = await dialed(ctx, node, addr)
    const signal = AbortSignal.timeout(ctx.ms(30_000))
    const ok = await Promise.all(Array.from({ length: 64 }, async () => {
      const data = randomBytes(16 * 1024)
      return sha(await echoOn(await conn.newStream(ECHO, { signal, maxOutboundStreams: 256 }), data, signal)) === sha(data)
    }))
    const good = ok.filter(Boolean).length
    check(good === 64, `${good} of 64 streams echoed intact`)
    check(node.getConnections().length === 1, `${node.getConnections().length} connections for 64 streams`)
    return '64 streams at once on one connection, 16 KiB each, all intact'
  }
  const node = await ctx.node({ listen: true })
  const peer = ctx.dialingPeer(ctx.addrOf(node), 'streams', ['--count', '64'])
  const e = await peer.waitFor((e) => e.event === 'streams' || e.event === 'error', 'its streams line', ctx.ms(30_000))
  if (e.event === 'error') throw new Error(`the peer reported: ${e.message}`)
  check(e.count === 64 && e.ok === 64, `the peer saw ${e.ok} of ${e.count} streams intact`)
  await finished(ctx, peer, 5000)
  return 'the peer opened 64 streams at once, all intact'
}

const identifyBoth: Scenario = async (ctx) => {
  const kind = ctx.spec.peer
  let peer: Peer
  let node: InteropNode
  let peerSawUs: () => string
  let weSawPeer: () => string
  if (ctx.spec.direction === 'js-dials') {
    const l = await ctx.listeningPeer()
    peer = l.peer
    node = await ctx.node()
    const seen = ctx.nodeEvent(node, 'peer:identify', (r) => r.connection.remoteAddr.toString().includes(String(l.addr.split('/p2p/')[1])), ctx.ms(10_000), 'identify of the peer')
    await dialed(ctx, node, l.addr)
    const r = await seen
    check(String(r.agentVersion).startsWith(`rx-tcp-interop/${kind}/`), `the peer's agent version is ${r.agentVersion}`)
    const connected = await peer.waitFor((e) => e.event === 'connected', 'its connected line', ctx.ms(5000))
    // what the peer says it saw of us is the address it accepted from
    check(hostPort(r.observedAddr?.toString()) === hostPort(connected.remoteAddr), `observed address ${r.observedAddr?.toString()} ≠ the peer's remote address ${connected.remoteAddr}`)
    check(hostPort(r.observedAddr?.toString()).startsWith(`${ctx.place.jsIp}:`), `observed address ${r.observedAddr?.toString()} is not on ${ctx.place.jsIp}`)
    peerSawUs = () => `${r.agentVersion}, observed us at ${hostPort(r.observedAddr?.toString())}`
    const pe = await peer.waitFor((e) => e.event === 'identify', 'its identify of the JS node', ctx.ms(10_000))
    check(pe.agentVersion === AGENT(ctx.spec.transport), `the peer saw agent version ${pe.agentVersion}`)
    check(hostPort(pe.observedAddr) === hostPort(l.addr), `the peer was told it was seen at ${pe.observedAddr}, it listens on ${l.addr}`)
    weSawPeer = () => `the peer saw ${pe.agentVersion}, observed at ${hostPort(pe.observedAddr)}`
  } else {
    node = await ctx.node({ listen: true })
    const seen = ctx.nodeEvent(node, 'peer:identify', () => true, ctx.ms(10_000), 'identify of the peer')
    // `--run identify` exits once it has identified us, which can cut our own
    // identify of it short; `hold` keeps the connection while both complete
    peer = ctx.dialingPeer(ctx.addrOf(node), 'hold', ['--count', '1', '--hold-ms', String(ctx.ms(10_000))])
    const r = await seen
    check(String(r.agentVersion).startsWith(`rx-tcp-interop/${kind}/`), `the peer's agent version is ${r.agentVersion}`)
    check(hostPort(r.observedAddr?.toString()) === hostPort(ctx.addrOf(node)), `observed address ${r.observedAddr?.toString()} ≠ our listen address ${ctx.addrOf(node)}`)
    peerSawUs = () => `${r.agentVersion}, observed us at ${hostPort(r.observedAddr?.toString())}`
    const pe = await peer.waitFor((e) => e.event === 'identify' || e.event === 'error', 'its identify line', ctx.ms(10_000))
    if (pe.event === 'error') throw new Error(`the peer reported: ${pe.message}`)
    check(pe.agentVersion === AGENT(ctx.spec.transport), `the peer saw agent version ${pe.agentVersion}`)
    const remote = r.connection.remoteAddr.toString()
    check(hostPort(pe.observedAddr) === hostPort(remote), `the peer was told it was seen at ${pe.observedAddr}, the JS node's connection is from ${remote}`)
    weSawPeer = () => `the peer saw ${pe.agentVersion}, observed at ${hostPort(pe.observedAddr)}`
  }
  return `${peerSawUs()}; ${weSawPeer()}`
}

const peerCloses: Scenario = async (ctx) => {
  if (ctx.spec.direction === 'js-dials') {
    const { peer, addr } = await ctx.listeningPeer(['--close-inbound-after-ms', '400', '--open-streams', '4'])
    const node = await ctx.node()
    const conn = await dialed(ctx, node, addr)
    const ours = await Promise.all(Array.from({ length: 4 }, async () => conn.newStream(ECHO, { signal: AbortSignal.timeout(ctx.ms(5000)) })))
    const ends = ours.map(trickle)
    const start = performance.now()
    await closeOf(ctx, node, conn.remotePeer.toString(), 'the JS node to report the close')
    const ms = performance.now() - start
    const how = await bounded(Promise.all(ends), ctx.ms(3000), 'our streams to end')
    check(node.getConnections().length === 0, `${node.getConnections().length} connections left`)
    const theirs = peer.events.filter((e) => e.event === 'connected').length
    return `the peer closed (its streams: 4), the JS node reported it ${ms.toFixed(0)} ms after its streams opened; our 4 streams ended: ${[...new Set(how)].join(', ')}; peer connections ${theirs}`
  }
  const node = await ctx.node({ listen: true })
  const inbound: Stream[] = []
  await handleEcho(node, (_bytes, stream) => { if (!inbound.includes(stream)) inbound.push(stream) })
  const closed = ctx.nodeEvent(node, 'connection:close', () => true, ctx.ms(10_000), 'the JS node to report the close')
  const peer = ctx.dialingPeer(ctx.addrOf(node), 'hold', ['--count', '8', '--hold-ms', '400'])
  await closed
  const e = await peer.waitFor((e) => e.event === 'closed' || e.event === 'error', 'its closed line', ctx.ms(5000))
  if (e.event === 'error') throw new Error(`the peer reported: ${e.message}`)
  check(node.getConnections().length === 0, `${node.getConnections().length} connections left`)
  return `the peer held ${inbound.length} streams with bytes flowing and closed abruptly; the JS node reported the close`
}

const killMidUpgrade: Scenario = async (ctx) => {
  if (ctx.spec.direction === 'js-dials') {
    const { peer, addr } = await ctx.listeningPeer()
    let killed = false
    // after TCP, before encryption: the peer dies there and the upgrade goes on
    const node = await ctx.node({ hooks: { outbound: async () => { killed = true; await peer.signal('SIGKILL') } } })
    const err = await dialed(ctx, node, addr).then(() => undefined, (err) => err)
    check(killed, 'the gater never ran: the dial did not reach the upgrade')
    check(err != null, 'the dial succeeded to a killed peer')
    check(node.getConnections().length === 0, 'a connection is left')
    const open = await settledTcpHandles(ctx.ms(1000))
    check(open.length === 0, `TCP handles open after the failed dial: ${open.join(', ')}`)
    return `peer killed after TCP, before noise; the dial failed with ${err.name}: ${String(err.message).slice(0, 80)}`
  }
  const dialer: { peer?: Peer } = {}
  let killed = false
  const node = await ctx.node({ listen: true, hooks: { inbound: async () => { killed = true; await dialer.peer?.signal('SIGKILL') } } })
  const peer = dialer.peer = ctx.dialingPeer(ctx.addrOf(node), 'ping', ['--count', '1'])
  await bounded(peer.exited, ctx.ms(10_000), 'the peer to be killed mid-upgrade')
  check(killed, 'the gater never ran: the peer never reached the upgrade')
  // the upgrade goes on against a dead socket: it must fail and let the socket go
  await waitFor(async () => (await settledTcpHandles(0)).every((h) => h === 'TCPServerWrap'), ctx.ms(10_000), 'the upgrade\'s socket to close')
  check(node.getConnections().length === 0, 'a connection is left')
  return 'peer killed after TCP, before noise; the inbound upgrade failed and its socket closed'
}

async function waitFor (ready: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const until = performance.now() + ms
  while (!(await ready())) {
    if (performance.now() > until) throw new Error(`timed out after ${Math.round(ms)} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

const killMidStream: Scenario = async (ctx) => {
  const THRESHOLD = 256 * 1024
  if (ctx.spec.direction === 'js-dials') {
    const { peer, addr } = await ctx.listeningPeer()
    const node = await ctx.node()
    const conn = await dialed(ctx, node, addr)
    const stream = await conn.newStream(ECHO, { signal: AbortSignal.timeout(ctx.ms(5000)) })
    let received = 0
    let sent = 0
    const chunk = randomBytes(64 * 1024)
    const reading = (async () => {
      try {
        for await (const c of stream) {
          received += c.byteLength
          if (received >= THRESHOLD && peer.exitCode() == null) void peer.signal('SIGKILL')
        }
        return 'ended'
      } catch (err: any) { return err?.name ?? 'error' }
    })()
    const writing = (async () => {
      try {
        while (sent < 64 * MiB && stream.writeStatus === 'writable') {
          sent += chunk.byteLength
          if (!stream.send(chunk)) await writable(stream, AbortSignal.timeout(ctx.ms(10_000)))
        }
        return 'stopped'
      } catch (err: any) { return err?.name ?? 'error' }
    })()
    await closeOf(ctx, node, conn.remotePeer.toString(), 'the JS node to report the close')
    const [r, w] = await bounded(Promise.all([reading, writing]), ctx.ms(3000), 'the stream to end')
    await bounded(peer.exited, ctx.ms(3000), 'the killed peer to exit')
    return `peer killed after ${(received / 1024).toFixed(0)} KiB echoed; stream read ${r}, write ${w}; the JS node reported the close`
  }
  const dialer: { peer?: Peer } = {}
  let received = 0
  const node = await ctx.node({ listen: true })
  await handleEcho(node, (bytes) => {
    received += bytes
    if (received >= THRESHOLD && dialer.peer?.exitCode() == null) void dialer.peer?.signal('SIGKILL')
  })
  const closed = ctx.nodeEvent(node, 'connection:close', () => true, ctx.ms(15_000), 'the JS node to report the close')
  const peer = dialer.peer = ctx.dialingPeer(ctx.addrOf(node), 'echo', ['--bytes', String(64 * MiB)])
  await closed
  await bounded(peer.exited, ctx.ms(3000), 'the killed peer to exit')
  return `peer killed after the JS node echoed ${(received / 1024).toFixed(0)} KiB; the JS node reported the close`
}

const abandon: Scenario = async (ctx) => {
  if (ctx.spec.direction === 'js-dials') throw new NotApplicable('the peer abandons as a dialer')
  const node = await ctx.node({ listen: true })
  const peer = ctx.dialingPeer(ctx.addrOf(node), 'abandon')
  await peer.waitFor((e) => e.event === 'abandoned', 'its abandoned line', ctx.ms(10_000))
  await bounded(peer.exited, ctx.ms(5000), 'the peer to exit')
  await waitFor(async () => (await settledTcpHandles(0)).every((h) => h === 'TCPServerWrap'), ctx.ms(10_000), 'the abandoned socket to close')
  check(node.getConnections().length === 0, 'a connection is left')
  // the listener still works after the half handshake
  const next = ctx.dialingPeer(ctx.addrOf(node), 'ping', ['--count', '1'])
  await finished(ctx, next, 15_000)
  return 'half a noise handshake then RST: the socket closed, the listener still serves a full dial'
}

const stopWithPeers: Scenario = async (ctx) => {
  const bound = CLOSE_TIMEOUT_MS + STOP_MARGIN_MS
  let connectedPeer: Peer
  let stalled: Peer
  let node: InteropNode
  let dial: Promise<unknown> = Promise.resolve()
  if (ctx.spec.direction === 'js-dials') {
    const a = await ctx.listeningPeer()
    const b = await ctx.listeningPeer()
    connectedPeer = a.peer
    stalled = b.peer
    const bId = b.addr.split('/p2p/')[1]
    let reached: () => void = () => {}
    const tcpUp = new Promise<void>(resolve => { reached = resolve })
    node = await ctx.node({ hooks: { outbound: async (peerId) => { if (peerId.toString() === bId) reached() } } })
    const conn = await dialed(ctx, node, a.addr)
    for (let i = 0; i < 4; i++) void trickle(await conn.newStream(ECHO))
    // TCP still connects to a stopped process (the kernel's backlog); the handshake stalls
    await b.peer.signal('SIGSTOP')
    dial = node.dial(multiaddr(b.addr), { signal: AbortSignal.timeout(ctx.ms(30_000)) }).then(() => 'connected', (err) => err?.name ?? 'error')
    await bounded(tcpUp, ctx.ms(5000), 'the dial to the stopped peer to reach its upgrade')
  } else {
    let stall: () => Promise<void> = async () => {}
    let reached: () => void = () => {}
    const inFlight = new Promise<void>(resolve => { reached = resolve })
    node = await ctx.node({ listen: true, hooks: { inbound: async () => { await stall() } } })
    const opened = ctx.nodeEvent(node, 'connection:open', () => true, ctx.ms(15_000), 'the holding peer to connect')
    connectedPeer = ctx.dialingPeer(ctx.addrOf(node), 'hold', ['--count', '8', '--hold-ms', '60000'])
    await opened
    stalled = ctx.dialingPeer(ctx.addrOf(node), 'ping', ['--count', '1'])
    const s = stalled
    // its socket is accepted; the peer freezes before the upgrade reads from it
    stall = async () => { await s.signal('SIGSTOP'); reached() }
    await bounded(inFlight, ctx.ms(10_000), 'the second peer\'s upgrade to be in flight')
  }
  const connections = node.getConnections().length
  const start = performance.now()
  await bounded(Promise.resolve(node.stop()), ctx.ms(10_000), 'stop()')
  const ms = performance.now() - start
  const handles = await settledTcpHandles(200)
  ctx.values.stopMs = ms
  const dialEnd = await bounded(dial, ctx.ms(2000), 'the dial in flight to settle')
  // the peer saw the close: its `disconnected` line, or (the rust peer, now
  // and then, when the close ends its hold scenario first) an error naming it
  const sawClose = (e: PeerEvent): boolean => e.event === 'disconnected' || (e.event === 'error' && /clos|reset|eof|broken/i.test(String(e.message)))
  const saw = await connectedPeer.waitFor(sawClose, 'its disconnected line', ctx.ms(10_000)).then((e) => e.event, () => undefined)
  await stalled.signal('SIGCONT')
  check(ms <= ctx.ms(bound), `stop() took ${ms.toFixed(0)} ms, more than closeTimeout ${CLOSE_TIMEOUT_MS} + ${STOP_MARGIN_MS} ms`)
  check(handles.length === 0, `TCP handles left after stop(): ${handles.join(', ')}`)
  check(saw != null, `the connected peer never printed disconnected (its lines: ${connectedPeer.events.map((e) => e.event === 'error' ? `error: ${String(e.message)}` : e.event).join(', ')}; exit ${String(connectedPeer.exitCode())})`)
  return `stop() with ${connections} connection(s) and 1 upgrade in flight took ${ms.toFixed(0)} ms (bound ${ctx.ms(bound)}); no TCP handle left; the peer saw the close (${String(saw)})${ctx.spec.direction === 'js-dials' ? `; the dial in flight ended: ${String(dialEnd)}` : ''}`
}

/** in matrix order */
export const SCENARIOS: Record<string, Scenario> = {
  ping,
  echo,
  streams,
  identify: identifyBoth,
  'peer-closes': peerCloses,
  'kill-upgrade': killMidUpgrade,
  'kill-stream': killMidStream,
  abandon,
  stop: stopWithPeers
}

export type { PeerEvent }
