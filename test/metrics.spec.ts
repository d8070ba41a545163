import { defaultLogger } from '@libp2p/logger'
import net from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { tcp } from '../src/index.ts'
import { recordingMetrics } from './fixtures/metrics.ts'
import { passThroughUpgrader } from './fixtures/upgraders.ts'
import { waitForEvent, waitUntil, within } from './fixtures/wait.ts'

describe('metrics keep @libp2p/tcp names, so dashboards keep working', () => {
  it('counts dials, accepted connections and listener status under the same names and keys', async () => {
    const metrics = recordingMetrics()
    const transport = tcp()({ logger: defaultLogger(), metrics })
    const upgrader = passThroughUpgrader()
    const listener = transport.createListener({ upgrader })
    await listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))
    const addr = listener.getAddrs()[0]
    const label = `127.0.0.1:${addr.getComponents()[1].value}`

    const conn: any = await transport.dial(addr, { upgrader, signal: AbortSignal.timeout(2000) })
    await waitUntil(() => upgrader.inbound.length === 1, 2000, 'the inbound connection')

    expect(Object.keys(metrics.values).sort()).toEqual([
      'libp2p_tcp_dialer_errors_total',
      'libp2p_tcp_dialer_events_total',
      'libp2p_tcp_inbound_connections_total',
      'libp2p_tcp_listener_errors_total',
      'libp2p_tcp_listener_events_total',
      'libp2p_tcp_listener_status_info'
    ])
    expect(metrics.values.libp2p_tcp_dialer_events_total.connect).toBe(1)
    expect(metrics.values.libp2p_tcp_listener_events_total[`${label} connection`]).toBe(1)
    expect(metrics.values.libp2p_tcp_listener_status_info[label]).toBe(1)

    await conn.maConn.close()
    await within(listener.close(), 2000, 'close')
    expect(metrics.values.libp2p_tcp_listener_status_info[label]).toBe(0)
  })

  it('counts a socket over maxConnections under drop, as @libp2p/tcp does, and under rejected_max-connections', async () => {
    const metrics = recordingMetrics()
    const transport = tcp({ maxConnections: 1 })({ logger: defaultLogger(), metrics })
    const upgrader = passThroughUpgrader()
    const listener = transport.createListener({ upgrader })
    await listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))
    const port = Number(listener.getAddrs()[0].getComponents()[1].value)
    const label = `127.0.0.1:${port}`
    const clients: net.Socket[] = []
    const connect = (): net.Socket => {
      const socket = net.connect(port, '127.0.0.1')
      socket.on('error', () => {})
      clients.push(socket)
      return socket
    }

    try {
      connect()
      await waitUntil(() => upgrader.inbound.length === 1, 2000, 'the first inbound connection')
      // the second is accepted by the kernel, then closed by the listener
      await waitForEvent(connect(), 'close', 2000, 'the socket over maxConnections to be closed')
      await waitUntil(() => metrics.values.libp2p_tcp_listener_events_total[`${label} drop`] === 1, 2000, 'the drop to be counted')
      expect(metrics.values.libp2p_tcp_listener_events_total[`${label} rejected_max-connections`]).toBe(1)
      expect(upgrader.inbound).toHaveLength(1)
    } finally {
      clients.forEach(socket => socket.destroy())
      await within(listener.close(), 2000, 'close')
    }
  })

  it('leaves no status series for a listener that never bound', async () => {
    const metrics = recordingMetrics()
    const transport = tcp()({ logger: defaultLogger(), metrics })
    const listener = transport.createListener({ upgrader: passThroughUpgrader() })
    await within(listener.close(), 2000, 'close')
    expect(metrics.values.libp2p_tcp_listener_status_info).toEqual({})
  })

  it('does not count a dial aborted before it starts: nothing was opened', async () => {
    const metrics = recordingMetrics()
    const transport = tcp()({ logger: defaultLogger(), metrics })
    const err = await transport.dial(multiaddr('/ip4/127.0.0.1/tcp/1'), { upgrader: passThroughUpgrader(), signal: AbortSignal.abort() }).catch(e => e)
    expect(err.name).toBe('AbortError')
    expect(metrics.values.libp2p_tcp_dialer_events_total).toEqual({})
  })
})
