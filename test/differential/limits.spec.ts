/**
 * The differential suite, limits: each scenario runs against rx-tcp and
 * against `@libp2p/tcp` (see `./fixture.ts` for what is compared and how).
 */
import { describe, it } from 'vitest'
import { both, differentialSuite, intended, listeningOn, metricKeys, portOf, rawClient } from './fixture.ts'
import { waitForEvent, waitUntil } from '../fixtures/wait.ts'

differentialSuite()

describe('listener events and metric keys under limits', () => {
  it('closeServerOnMaxConnections: the kernel refuses while paused and listening is dispatched on resume by both; rx-tcp keeps its port and address while paused, @libp2p/tcp resumes on a new port', async () => {
    const observed = await both(async (kind) => {
      const { metrics, upgrader, listener, events, port } = await listeningOn(kind, { closeServerOnMaxConnections: { closeAbove: 1, listenBelow: 1 } })
      const client = rawClient(port)
      await waitUntil(() => upgrader.inbound.length === 1, 2000, 'the inbound connection that reaches closeAbove')
      const probe = rawClient(port)
      const paused = {
        probe: (await waitForEvent<any>(probe, 'error', 2000, 'a connection refused while paused')).code,
        events: [...events],
        addrs: listener.getAddrs().length,
        status: metrics.values.libp2p_tcp_listener_status_info[`127.0.0.1:${port}`]
      }
      client.destroy()
      await waitUntil(() => events.length === 2, 2000, 'listening again once below listenBelow')
      const resumed = { events: [...events], samePort: portOf(listener) === port }
      await listener.close()
      return { paused, resumed, closed: [...events], metrics: metricKeys(metrics) }
    })
    const events = { events: ['listening', 'listening'] }
    const closed = ['listening', 'listening', 'close']
    const metrics = [
      'libp2p_tcp_listener_events_total{<addr> _remote_close}',
      'libp2p_tcp_listener_events_total{<addr> connection}',
      'libp2p_tcp_listener_events_total{<addr> end}',
      'libp2p_tcp_listener_status_info{<addr>}'
    ]
    intended(observed, {
      rx: { paused: { probe: 'ECONNREFUSED', events: ['listening'], addrs: 1, status: 2 }, resumed: { ...events, samePort: true }, closed, metrics },
      // its status is updated at the server's 'close', which waits for the connections; a new port is a new label
      ref: { paused: { probe: 'ECONNREFUSED', events: ['listening'], addrs: 0, status: 1 }, resumed: { ...events, samePort: false }, closed, metrics: [...metrics, 'libp2p_tcp_listener_status_info{<addr>}'] }
    })
  })

  it('maxConnections: the socket over the limit is counted under drop by both; rx-tcp also counts it as a connection and under rejected_max-connections', async () => {
    const observed = await both(async (kind) => {
      const { metrics, upgrader, port } = await listeningOn(kind, { maxConnections: 1 })
      rawClient(port)
      await waitUntil(() => upgrader.inbound.length === 1, 2000, 'the first inbound connection')
      await waitForEvent(rawClient(port), 'close', 2000, 'the socket over maxConnections to be closed')
      await waitUntil(() => metrics.values.libp2p_tcp_listener_events_total[`127.0.0.1:${port} drop`] != null, 2000, 'drop to be counted')
      const counts = Object.fromEntries(Object.entries(metrics.values.libp2p_tcp_listener_events_total).map(([key, n]) => [key.split(' ')[1], n]))
      return { counts, upgraded: upgrader.inbound.length }
    })
    intended(observed, {
      rx: { counts: { connection: 2, drop: 1, 'rejected_max-connections': 1 }, upgraded: 1 },
      ref: { counts: { connection: 1, drop: 1 }, upgraded: 1 }
    })
  })
})
