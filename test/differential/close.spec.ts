/**
 * The differential suite, close and stop: each scenario runs against rx-tcp and
 * against `@libp2p/tcp` (see `./fixture.ts` for what is compared and how).
 */
import { multiaddr } from '@multiformats/multiaddr'
import { describe, it } from 'vitest'
import { both, differentialSuite, failureOf, intended, listenerOf, listeningOn, metricKeys, plainServer, rawClient, same } from './fixture.ts'
import { waitForEvent, waitUntil, within } from '../fixtures/wait.ts'

differentialSuite()

describe('close', () => {
  it('close() twice, with an upgraded connection open: both resolve, one close event after the listening one', async () => {
    const observed = await both(async (kind) => {
      const { metrics, upgrader, listener, events, port } = await listeningOn(kind)
      const client = rawClient(port)
      await waitUntil(() => upgrader.inbound.length === 1, 2000, 'the inbound connection')
      const closed = waitForEvent(client, 'close', 2000, 'the client to see the close')
      const results = await within(Promise.all([failureOf(listener.close()), failureOf(listener.close())]), 2000, 'both closes')
      await closed
      return { results, events: [...events], addrs: listener.getAddrs(), metrics: metricKeys(metrics) }
    })
    same(observed, {
      results: ['resolved', 'resolved'],
      events: ['listening', 'close'],
      addrs: [],
      metrics: [
        'libp2p_tcp_listener_events_total{<addr> _remote_close}',
        'libp2p_tcp_listener_events_total{<addr> connection}',
        'libp2p_tcp_listener_events_total{<addr> end}',
        'libp2p_tcp_listener_status_info{<addr>}'
      ]
    })
  })

  it('close() before listen(): both resolve; rx-tcp dispatches close (once per listener), @libp2p/tcp nothing', async () => {
    const observed = await both(async (kind) => {
      const { metrics, listener, events } = listenerOf(kind)
      const result = await failureOf(within(listener.close(), 2000, 'close'))
      return { result, events: [...events], metrics: metricKeys(metrics) }
    })
    intended(observed, {
      rx: { result: 'resolved', events: ['close'], metrics: [] },
      ref: { result: 'resolved', events: [], metrics: [] }
    })
  })

  it('close() with an aborted signal and a connection open: rx-tcp resolves and destroys at once, @libp2p/tcp rejects', async () => {
    const observed = await both(async (kind) => {
      const { upgrader, listener, port } = await listeningOn(kind)
      const client = rawClient(port)
      await waitUntil(() => upgrader.inbound.length === 1, 2000, 'the inbound connection')
      const closed = waitForEvent(client, 'close', 2000, 'the client to see its socket destroyed')
      const result = await failureOf(within((listener as any).close({ signal: AbortSignal.abort() }), 2000, 'close with an aborted signal'))
      await closed
      return result
    })
    intended(observed, {
      rx: 'resolved',
      ref: { class: 'DOMException', name: 'AbortError', code: 20 }
    })
  })
})

describe('the transport in a node lifecycle', () => {
  it('stop(): rx-tcp closes its listeners and waits for its outbound sockets to close; @libp2p/tcp has no stop()', async () => {
    const { port, open } = await plainServer()
    const observed = await both(async (kind) => {
      const { transport, upgrader, listener, events } = await listeningOn(kind)
      const conn: any = await transport.dial(multiaddr(`/ip4/127.0.0.1/tcp/${port}`), { upgrader, signal: AbortSignal.timeout(2000) })
      await waitUntil(() => open() === 1, 2000, 'the outbound connection to reach the server')
      const hasStop = typeof transport.stop === 'function'
      await within(transport.stop?.() ?? Promise.resolve(), 2000, 'stop')
      const result = { hasStop, events: [...events], outbound: conn.maConn.status }
      // what stop() left open, a node closes itself (its connections, its listeners)
      await conn.maConn.close()
      await within(listener.close(), 2000, 'the listener to close')
      return result
    })
    intended(observed, {
      rx: { hasStop: true, events: ['listening', 'close'], outbound: 'closed' },
      ref: { hasStop: false, events: ['listening'], outbound: 'open' }
    })
  })
})
