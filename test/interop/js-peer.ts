// node --import tsx test/interop/js-peer.ts --listen /ip4/127.0.0.1/tcp/0
// A JavaScript stand-in for the go and rust peers: the same flags and JSON
// lines (test/interop/PEERS.md), on rx-tcp. `npm run interop -- --peers js`
// runs the matrix against it, which checks the harness without a toolchain.
import { createHash, randomBytes } from 'node:crypto'
import net from 'node:net'
import { parseArgs } from 'node:util'
import { multiaddr } from '@multiformats/multiaddr'
import { ECHO, interopNode } from './js-node.ts'
import { perf } from './perf-protocol.ts'
import type { InteropNode } from './js-node.ts'
import type { Connection, Stream } from '@libp2p/interface'

const { values: args } = parseArgs({
  options: {
    listen: { type: 'string' },
    dial: { type: 'string' },
    run: { type: 'string' },
    count: { type: 'string' },
    bytes: { type: 'string' },
    download: { type: 'string' },
    'hold-ms': { type: 'string' },
    'close-inbound-after-ms': { type: 'string' },
    'open-streams': { type: 'string' },
    seed: { type: 'string' },
    // not in the contract: the perf breakdown's plaintext server
    encrypter: { type: 'string' }
  }
})

const say = (msg: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(msg) + '\n') }
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
const sleep = async (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

async function echoStream (stream: Stream, data: Uint8Array): Promise<Uint8Array> {
  const reading = (async () => {
    const chunks: Uint8Array[] = []
    for await (const c of stream) chunks.push(c.subarray())
    return Buffer.concat(chunks)
  })()
  for (let i = 0; i < data.byteLength; i += 65536) {
    if (!stream.send(data.subarray(i, i + 65536))) await stream.onDrain()
  }
  await stream.close()
  return reading
}

/** writes a KiB every 20 ms until the stream ends */
function trickle (stream: Stream): void {
  const timer = setInterval(() => {
    if (stream.writeStatus !== 'writable') { clearInterval(timer); return }
    stream.send(new Uint8Array(1024))
  }, 20)
  void (async () => {
    try {
      for await (const chunk of stream) void chunk
    } catch {
      // a reset ends the trickle as well as a close
    }
    clearInterval(timer)
  })()
}

let identified: Promise<unknown> = Promise.resolve()

function watch (node: InteropNode): void {
  identified = new Promise(resolve => { node.addEventListener('peer:identify', resolve, { once: true }) })
  node.addEventListener('connection:open', (evt) => {
    const c = evt.detail
    say({ event: 'connected', peerId: c.remotePeer.toString(), remoteAddr: c.remoteAddr.toString(), direction: c.direction })
    const after = Number(args['close-inbound-after-ms'] ?? 0)
    const open = Number(args['open-streams'] ?? 0)
    if (c.direction !== 'inbound') return
    for (let i = 0; i < open; i++) void c.newStream(ECHO).then(trickle, () => {})
    if (after > 0) setTimeout(() => { c.abort(new Error('closed by the peer')) }, after)
  })
  node.addEventListener('connection:close', (evt) => { say({ event: 'disconnected', peerId: evt.detail.remotePeer.toString() }) })
  node.addEventListener('peer:identify', (evt) => {
    const r = evt.detail
    say({ event: 'identify', agentVersion: r.agentVersion, protocols: r.protocols, observedAddr: r.observedAddr?.toString(), listenAddrs: r.listenAddrs.map(String) })
  })
}

async function scenario (node: InteropNode, conn: Connection, run: string): Promise<void> {
  const count = args.count != null ? Number(args.count) : undefined
  const bytes = args.bytes != null ? Number(args.bytes) : undefined
  switch (run) {
    case 'ping':
      for (let i = 0; i < (count ?? 10); i++) say({ event: 'ping', rttMs: await node.services.ping.ping(conn.remotePeer) })
      return
    case 'echo': {
      const data = randomBytes(bytes ?? 1024 * 1024)
      const back = await echoStream(await conn.newStream(ECHO), data)
      say({ event: 'echo', bytes: data.byteLength, sha256: sha(data), echoSha256: sha(back) })
      return
    }
    case 'streams': {
      const n = count ?? 64
      const results = await Promise.all(Array.from({ length: n }, async () => {
        const data = randomBytes(bytes ?? 16 * 1024)
        return sha(await echoStream(await conn.newStream(ECHO, { maxOutboundStreams: 256 }), data)) === sha(data)
      }))
      say({ event: 'streams', count: n, ok: results.filter(Boolean).length })
      return
    }
    case 'identify':
      // the automatic identify on connection open prints the line (watch)
      await identified
      return
    case 'hold': {
      const n = count ?? 8
      for (let i = 0; i < n; i++) trickle(await conn.newStream(ECHO))
      await sleep(Number(args['hold-ms'] ?? 1000))
      conn.abort(new Error('hold over'))
      say({ event: 'closed', streams: n })
      return
    }
    case 'perf':
      for (let i = 0; i < (count ?? 1); i++) {
        const r = await perf(node, conn.remoteAddr, { upload: bytes ?? 0, download: Number(args.download ?? 0) })
        say({ event: 'perf', ...r })
      }
      return
    default:
      throw new Error(`unknown scenario ${run}`)
  }
}

async function abandon (target: string): Promise<void> {
  const parts = multiaddr(target).getComponents()
  const host = parts.find((c) => c.name === 'ip4' || c.name === 'ip6')?.value
  const port = Number(parts.find((c) => c.name === 'tcp')?.value)
  const socket = net.connect({ host, port })
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  const line = (s: string): Buffer => Buffer.concat([Buffer.from([s.length + 1]), Buffer.from(s + '\n')])
  socket.write(Buffer.concat([line('/multistream/1.0.0'), line('/noise'), Buffer.from([0x00, 0x20, 0x01, 0x02])]))
  await sleep(50)
  socket.resetAndDestroy()
  say({ event: 'abandoned' })
}

try {
  if (args.listen != null) {
    const node = await interopNode({ transport: 'rx', listen: [args.listen], encrypter: args.encrypter === 'plaintext' ? 'plaintext' : 'noise' })
    watch(node)
    say({ event: 'listening', peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(String) })
    process.stdin.resume()
    await new Promise(resolve => { process.stdin.once('end', resolve); process.once('SIGTERM', resolve) })
    await node.stop()
  } else if (args.dial != null) {
    if (args.run === 'abandon') {
      await abandon(args.dial)
    } else {
      const node = await interopNode({ transport: 'rx' })
      watch(node)
      const conn = await node.dial(multiaddr(args.dial), { signal: AbortSignal.timeout(20_000) })
      await scenario(node, conn, args.run ?? 'ping')
      await node.stop()
    }
    say({ event: 'done' })
  } else {
    throw new Error('--listen or --dial is required')
  }
  process.exit(0)
} catch (err: any) {
  say({ event: 'error', message: String(err?.message ?? err) })
  process.exit(1)
}
