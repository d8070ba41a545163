// One end of the network-namespace fault tests, run by netns.spec.ts inside
// a namespace with `ip netns exec`. It speaks JSON lines: results on stdout,
// commands on stdin. Modes:
//   listen <multiaddr>                  an rx-tcp node with an echo protocol; 'close' on stdin stops it
//   dial <multiaddr> <count> <bytes>    <count> parallel dials, each echoing <bytes> random bytes
//   abort <multiaddr> <count> <ms>      <count> dials whose signal aborts after <ms>
//   hold <multiaddr> <count>            <count> connections streaming bytes until the far end closes them
import { createHash, randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { multiaddr } from '@multiformats/multiaddr'
import { tcp } from '../../src/index.ts'
import { ECHO_PROTOCOL, createNode, stopNode } from '../chaos/nodes.ts'
import { settledTcpHandles } from '../fixtures/netns.ts'
import type { Connection, Libp2p } from '@libp2p/interface'

const [mode, addr, a, b] = process.argv.slice(2)
const say = (msg: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(msg) + '\n') }
const sha = (buf: Uint8Array): string => createHash('sha256').update(buf).digest('hex')
const lines = createInterface({ input: process.stdin })
const nextCommand = async (): Promise<string> => new Promise(resolve => lines.once('line', resolve))
const bound = (ms: number): AbortSignal => AbortSignal.timeout(ms)

async function echo (node: Libp2p, conn: Connection | undefined, bytes: number): Promise<{ ok: boolean, intact: boolean, ms: number, error?: string }> {
  const start = performance.now()
  try {
    const payload = randomBytes(bytes)
    const stream = conn != null
      ? await conn.newStream(ECHO_PROTOCOL, { signal: bound(20_000) })
      : await node.dialProtocol(multiaddr(addr), ECHO_PROTOCOL, { signal: bound(20_000) })
    const reading = (async () => {
      const chunks: Uint8Array[] = []
      for await (const chunk of stream) chunks.push(chunk.subarray())
      return Buffer.concat(chunks)
    })()
    for (let offset = 0; offset < payload.length; offset += 16_384) {
      if (!stream.send(payload.subarray(offset, offset + 16_384))) await stream.onDrain({ signal: bound(20_000) })
    }
    await stream.close({ signal: bound(20_000) })
    const received = await reading
    return { ok: true, intact: sha(received) === sha(payload) && received.length === payload.length, ms: performance.now() - start }
  } catch (err: any) {
    return { ok: false, intact: false, ms: performance.now() - start, error: `${err?.name}: ${err?.message}` }
  }
}

switch (mode) {
  case 'listen': {
    const node = await createNode({ transport: tcp(), listen: [addr], echo: true, inboundUpgradeTimeout: 20_000 })
    say({ event: 'listening', addrs: node.getMultiaddrs().map(String) })
    await nextCommand()
    const connections = node.getConnections().length
    const start = performance.now()
    await stopNode(node)
    const ms = performance.now() - start
    say({ event: 'closed', ms, connections, handles: await settledTcpHandles() })
    break
  }
  case 'dial': {
    const node = await createNode({ transport: tcp() })
    const results = await Promise.all(Array.from({ length: Number(a) }, async () => echo(node, undefined, Number(b))))
    await stopNode(node)
    say({ event: 'dialed', results, handles: await settledTcpHandles() })
    break
  }
  case 'abort': {
    const node = await createNode({ transport: tcp() })
    const ms = Number(b)
    const results = await Promise.all(Array.from({ length: Number(a) }, async () => {
      const start = performance.now()
      try {
        await node.dial(multiaddr(addr), { signal: AbortSignal.timeout(ms), force: true })
        return { aborted: false, ms: performance.now() - start }
      } catch (err: any) {
        return { aborted: true, ms: performance.now() - start, error: `${err?.name}: ${err?.message}` }
      }
    }))
    // the dials are over: no socket of theirs may be left, before the node stops
    const open = await settledTcpHandles()
    await stopNode(node)
    say({ event: 'aborted', results, handlesBeforeStop: open, handles: await settledTcpHandles() })
    break
  }
  case 'hold': {
    const node = await createNode({ transport: tcp() })
    const conns: Connection[] = []
    for (let i = 0; i < Number(a); i++) conns.push(await node.dial(multiaddr(addr), { signal: bound(20_000), force: true }))
    const closed = conns.map(async c => new Promise<number>(resolve => { c.addEventListener('close', () => { resolve(performance.now()) }, { once: true }) }))
    // keep bytes in flight on every connection until it is closed from the far end
    for (const c of conns) void echo(node, c, 4 * 1024 * 1024)
    say({ event: 'holding', connections: conns.length })
    const closedAt = await Promise.all(closed)
    say({ event: 'held', closedAt })
    await stopNode(node)
    say({ event: 'stopped', handles: await settledTcpHandles() })
    break
  }
  default:
    throw new Error(`unknown mode ${mode}`)
}
lines.close()
