import net from 'node:net'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { pipe, VirtualTimeScheduler } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import { denyCidr, perSubnetLimit, upgradeCap, upgradeDeadline } from '../operators/index.ts'
import { tcp } from '../src/index.ts'
import { recordingMetrics } from './fixtures/metrics.ts'
import { passThroughUpgrader, stallingUpgrader } from './fixtures/upgraders.ts'
import { tcpHandles, waitForEvent, waitUntil, within } from './fixtures/wait.ts'
import type { Listener, Transport } from '@libp2p/interface'

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
  await waitUntil(() => tcpHandles().length === 0, 2000, `no TCP handle left: ${tcpHandles().join()}`)
})

function client (port: number, localAddress: string): net.Socket {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress })
  socket.on('error', () => {})
  cleanup.push(() => { socket.destroy() })
  return socket
}

async function listen (transport: Transport, upgrader: any): Promise<{ listener: Listener, port: number }> {
  const listener = transport.createListener({ upgrader })
  await listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))
  cleanup.push(async () => { await listener.close() })
  return { listener, port: Number(listener.getAddrs()[0].getComponents()[1].value) }
}

describe('tcp({ inbound, lifetime }) on real sockets', () => {
  it('rejects by CIDR and per-subnet cap before the upgrade, counting each reason once', async () => {
    const metrics = recordingMetrics()
    const transport = tcp({
      inbound: pipe(denyCidr(['127.0.0.3/32']), perSubnetLimit({ max: 1 }))
    })({ logger: defaultLogger(), metrics })
    const upgrader = passThroughUpgrader()
    const { port } = await listen(transport, upgrader)

    const allowed = client(port, '127.0.0.2')
    await waitUntil(() => upgrader.inbound.length === 1, 2000, 'the allowed socket to be upgraded')
    const denied = client(port, '127.0.0.3')
    const overCap = client(port, '127.0.0.2')
    await waitForEvent(denied, 'close', 2000, 'the denied socket to close')
    await waitForEvent(overCap, 'close', 2000, 'the socket over the subnet cap to close')
    expect(upgrader.inbound.map(c => c.remoteAddr.toString().split('/')[2])).toEqual(['127.0.0.2'])
    expect(allowed.closed).toBe(false)

    const events = metrics.values.libp2p_tcp_listener_events_total
    const label = `127.0.0.1:${port}`
    expect(events[`${label} rejected_cidr-denied`]).toBe(1)
    expect(events[`${label} rejected_subnet-limit`]).toBe(1)
    expect(events[`${label} connection`]).toBe(3)
  })

  it('rejects an upgrade that misses its deadline and closes the socket', async () => {
    const metrics = recordingMetrics()
    const clock = new VirtualTimeScheduler()
    const transport = tcp({ lifetime: upgradeDeadline({ ms: 150, scheduler: clock }) })({ logger: defaultLogger(), metrics })
    const upgrader = stallingUpgrader({ ignoreSignal: false })
    const { port } = await listen(transport, upgrader)
    const silent = client(port, '127.0.0.2')
    const closed = waitForEvent(silent, 'close', 2000, 'the stalled socket to be closed by the deadline')
    await waitUntil(() => upgrader.started() === 1, 2000, 'the upgrade to start')
    const rejected = (): number | undefined => metrics.values.libp2p_tcp_listener_events_total?.[`127.0.0.1:${port} rejected_upgrade-timeout`]

    clock.maxFrames = 149
    clock.flush()
    expect(upgrader.settled(), 'upgrades aborted at 149 ms').toBe(0)
    expect(rejected()).toBeUndefined()

    clock.maxFrames = 150
    clock.flush()
    expect(upgrader.settled(), 'upgrades aborted at 150 ms').toBe(1)
    expect(rejected()).toBe(1)
    await closed
  })

  it('holds at most max upgrades in flight and, with close-server, pauses intake at the cap', async () => {
    const cap = upgradeCap({ max: 2, policy: 'close-server' })
    const transport = tcp({ inbound: cap.inbound, lifetime: cap.lifetime })({ logger: defaultLogger() })
    const upgrader = stallingUpgrader({ ignoreSignal: false })
    const { listener, port } = await listen(transport, upgrader)
    client(port, '127.0.0.2')
    client(port, '127.0.0.3')
    await waitUntil(() => upgrader.started() === 2, 2000, 'two upgrades in flight')
    // intake is paused: the kernel refuses the next peer
    const refused = client(port, '127.0.0.4')
    const err: any = await waitForEvent(refused, 'error', 2000, 'the third peer to be refused')
    expect(err.code).toBe('ECONNREFUSED')
    expect(upgrader.started()).toBe(2)
    await within(listener.close(), 1000, 'close with the cap reached')
  })
})
