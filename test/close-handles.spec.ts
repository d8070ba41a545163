import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import fs from 'node:fs'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { tcp } from '../src/index.ts'
import { recordingMetrics } from './fixtures/metrics.ts'
import { createNode, stopNodes } from './fixtures/nodes.ts'
import { createTransport, listening } from './fixtures/transport.ts'
import { passThroughUpgrader } from './fixtures/upgraders.ts'
import { waitUntil, within } from './fixtures/wait.ts'
import type { Libp2p, Listener, Metrics } from '@libp2p/interface'

// The README promises that nothing of a listener is left once close() has
// resolved. Every assertion here runs synchronously in the `.then` of close()
// (or of node.stop()): at that exact moment, not a poll later.

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rx-tcp-handles-'))
const cleanup: Array<() => Promise<void> | void> = []

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/**
 * The listening handles alive in this process: the `TCPServerWrap`s that
 * `getActiveResourcesInfo()` lists, and the handles owned by a `net.Server`
 * (a unix listener is a 'PipeWrap' there, like vitest's own pipes, so only
 * the owner tells it apart).
 */
function serverHandles (): { tcpServerWraps: number, servers: number } {
  const active = (process as unknown as { _getActiveHandles: () => unknown[] })._getActiveHandles()
  return {
    tcpServerWraps: process.getActiveResourcesInfo().filter((kind) => kind === 'TCPServerWrap').length,
    servers: active.filter((handle) => handle instanceof net.Server).length
  }
}

function rawClient (addr: { port?: number, host?: string, path?: string }): net.Socket {
  const socket = addr.path != null ? net.connect(addr.path) : net.connect({ port: addr.port ?? 0, host: addr.host })
  socket.on('error', () => {})
  cleanup.push(() => { socket.destroy() })
  return socket
}

function netAddress (ma: ReturnType<typeof multiaddr>): { port?: number, host?: string, path?: string } {
  const parts = ma.getComponents()
  const unix = parts.find((c) => c.name === 'unix')
  if (unix?.value != null) return { path: decodeURIComponent(unix.value) }
  return { host: parts.find((c) => c.name === 'ip4' || c.name === 'ip6')?.value, port: Number(parts.find((c) => c.name === 'tcp')?.value) }
}

/** the server handles left at the moment `close` resolves */
async function leftWhenResolved (close: () => Promise<void>): Promise<ReturnType<typeof serverHandles>> {
  return within(close().then(() => serverHandles()), 5000, 'close() to resolve')
}

describe('close() resolves after the listening handle is gone', () => {
  const families: Array<[string, string, number]> = [
    ['IPv4', '/ip4/127.0.0.1/tcp/0', 20],
    ['IPv6', '/ip6/::1/tcp/0', 10],
    ['unix', `/unix/${encodeURIComponent(path.join(tmp, 'handles.sock'))}`, 10]
  ]

  for (const [name, addr, reps] of families) {
    it(`leaves no listening handle on ${name}, ${reps} times out of ${reps}, with no connection`, async () => {
      const before = serverHandles()
      for (let rep = 0; rep < reps; rep++) {
        const { listener } = await listening(createTransport(), passThroughUpgrader(), multiaddr(addr))
        cleanup.push(async () => { await listener.close() })
        expect(serverHandles().servers).toBe(before.servers + 1)

        expect(await leftWhenResolved(async () => listener.close()), `rep ${rep + 1}`).toEqual(before)
      }
    })

    it(`leaves no listening handle on ${name}, ${reps} times out of ${reps}, with a connection open on its side`, async () => {
      const before = serverHandles()
      for (let rep = 0; rep < reps; rep++) {
        const transport = createTransport()
        const upgrader = passThroughUpgrader()
        const { listener, addr: bound } = await listening(transport, upgrader, multiaddr(addr))
        cleanup.push(async () => { await listener.close() })
        const client = rawClient(netAddress(bound))
        await waitUntil(() => upgrader.inbound.length === 1, 2000, 'the inbound connection')
        expect(serverHandles().servers).toBe(before.servers + 1)

        // the client goes (a unix one is a pipe handle of this process too); the listener's side is still open
        client.destroy()
        expect(upgrader.inbound[0].status).toBe('open')
        expect(await leftWhenResolved(async () => listener.close()), `rep ${rep + 1}`).toEqual(before)
      }
    })
  }

  it('leaves no listening handle when intake was paused an instant before the close', async () => {
    const before = serverHandles()
    // eslint-disable-next-line prefer-const -- assigned by the destructuring below, after the metrics that read it
    let listener: Listener | undefined
    let closing: Promise<ReturnType<typeof serverHandles>> | undefined
    // the listener reports the pause in the same turn as it closes its handle: close() right there
    const metrics = recordingMetrics()
    const register = metrics.registerMetricGroup.bind(metrics)
    metrics.registerMetricGroup = ((name: string, options: unknown) => {
      const group = register(name, options as any)
      if (name !== 'libp2p_tcp_listener_status_info') return group
      return {
        ...group,
        update: (values: Record<string, number>) => {
          group.update(values)
          if (Object.values(values).includes(2) && listener != null) {
            const closed = listener
            closing ??= leftWhenResolved(async () => closed.close())
          }
        }
      }
    }) as Metrics['registerMetricGroup']
    const transport = tcp({ closeServerOnMaxConnections: { closeAbove: 1, listenBelow: 1 } })({ logger: defaultLogger(), metrics })
    const upgrader = passThroughUpgrader()
    ;({ listener } = await listening(transport, upgrader, multiaddr('/ip4/127.0.0.1/tcp/0')))
    const bound = listener.getAddrs()[0]
    cleanup.push(async () => { await listener?.close() })

    rawClient(netAddress(bound))
    await waitUntil(() => closing != null, 2000, 'the listener to pause its intake')
    expect(await closing).toEqual(before)
  })

  for (const connected of [false, true]) {
    it(`leaves no listening handle when node.stop() resolves, 5 times out of 5, ${connected ? 'with' : 'without'} a connection`, async () => {
      const before = serverHandles()
      const nodes: Libp2p[] = []
      cleanup.push(async () => { await stopNodes(nodes) })
      const dialer = await createNode({ transport: 'ref' })
      nodes.push(dialer)
      for (let rep = 0; rep < 5; rep++) {
        const server = await createNode({ transport: 'rx', listen: ['/ip4/127.0.0.1/tcp/0', '/ip6/::1/tcp/0'] })
        nodes.push(server)
        if (connected) {
          await within(dialer.dial(server.getMultiaddrs()[0], { signal: AbortSignal.timeout(5000) }), 6000, 'a dial to the node')
        }
        expect(serverHandles().servers).toBe(before.servers + 2)

        expect(await leftWhenResolved(async () => server.stop()), `rep ${rep + 1}`).toEqual(before)
      }
    })
  }
})
