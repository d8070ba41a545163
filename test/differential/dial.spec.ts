/**
 * The differential suite, dial: each scenario runs against rx-tcp and
 * against `@libp2p/tcp` (see `./fixture.ts` for what is compared and how).
 */
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { describe, it } from 'vitest'
import { both, closedPort, differentialSuite, failureOf, fullBacklog, intended, listeningOn, metricKeys, plainServer, same, setup } from './fixture.ts'
import { passThroughUpgrader, stallingUpgrader } from '../fixtures/upgraders.ts'
import { waitUntil, within } from '../fixtures/wait.ts'
import type { Kind, Failure } from './fixture.ts'
import type { Upgrader } from '@libp2p/interface'

const suite = differentialSuite()

describe('dial failures', () => {
  /** dials `addr` and reports the failure, the progress events and the metric keys */
  async function dialOnce (kind: Kind, addr: string, options: { signal?: AbortSignal, upgrader?: Upgrader, abort?: (dial: AbortController) => void } = {}): Promise<{ result: Failure | 'resolved', progress: string[], metrics: string[] }> {
    const { transport, metrics } = setup(kind)
    const progress: string[] = []
    const controller = new AbortController()
    const signal = options.signal ?? AbortSignal.any([controller.signal, AbortSignal.timeout(5000)])
    const dialing = transport.dial(multiaddr(addr), { upgrader: options.upgrader ?? passThroughUpgrader(), signal, onProgress: (evt: any) => progress.push(evt.type) } as any)
    options.abort?.(controller)
    const result = await failureOf(within(dialing, 6000, `the dial to ${addr}`))
    return { result, progress, metrics: metricKeys(metrics) }
  }

  it('connection refused (127.0.0.1): the errno in code from both; rx-tcp throws ConnectionFailedError', async () => {
    const port = await closedPort()
    const observed = await both(async (kind) => dialOnce(kind, `/ip4/127.0.0.1/tcp/${port}`))
    const common = { progress: ['tcp:open-connection'], metrics: ['libp2p_tcp_dialer_events_total{error}'] }
    intended(observed, {
      rx: { ...common, result: { class: 'ConnectionFailedError', name: 'ConnectionFailedError', code: 'ECONNREFUSED' } },
      ref: { ...common, result: { class: 'Error', name: 'Error', code: 'ECONNREFUSED' } }
    })
  })

  it('a unix path nobody listens on: ENOENT in code from both; rx-tcp throws ConnectionFailedError', async () => {
    const addr = `/unix/${encodeURIComponent(join(suite.tmp, 'nobody.sock'))}`
    const observed = await both(async (kind) => dialOnce(kind, addr))
    const common = { progress: ['tcp:open-connection'], metrics: ['libp2p_tcp_dialer_events_total{error}'] }
    intended(observed, {
      rx: { ...common, result: { class: 'ConnectionFailedError', name: 'ConnectionFailedError', code: 'ENOENT' } },
      ref: { ...common, result: { class: 'Error', name: 'Error', code: 'ENOENT' } }
    })
  })

  it.each([
    ['unsupported: UDP', (port: number) => `/ip4/127.0.0.1/udp/${port}`],
    ['unsupported: websockets', (port: number) => `/ip4/127.0.0.1/tcp/${port}/ws`],
    ['malformed: port 0', () => '/ip4/127.0.0.1/tcp/0']
  ])('%s: rx-tcp refuses it with InvalidParametersError before opening a socket, @libp2p/tcp dials the TCP port', async (_title, addr) => {
    const port = await closedPort()
    const observed = await both(async (kind) => dialOnce(kind, addr(port)))
    intended(observed, {
      rx: { result: { class: 'InvalidParametersError', name: 'InvalidParametersError', code: undefined }, progress: [], metrics: [] },
      ref: { result: { class: 'Error', name: 'Error', code: 'ECONNREFUSED' }, progress: ['tcp:open-connection'], metrics: ['libp2p_tcp_dialer_events_total{error}'] }
    })
  })

  it('aborted before it starts: no progress, no metric from both; rx-tcp throws AbortError, @libp2p/tcp the signal\'s reason', async () => {
    const { port } = await plainServer()
    const observed = await both(async (kind) => dialOnce(kind, `/ip4/127.0.0.1/tcp/${port}`, { signal: AbortSignal.abort() }))
    intended(observed, {
      rx: { result: { class: 'AbortError', name: 'AbortError', code: undefined }, progress: [], metrics: [] },
      ref: { result: { class: 'DOMException', name: 'AbortError', code: 20 }, progress: [], metrics: [] }
    })
  })

  const duringConnect = { result: { class: 'AbortError', name: 'AbortError', code: undefined }, progress: ['tcp:open-connection'], metrics: ['libp2p_tcp_dialer_events_total{abort}'] }

  it('aborted during connect, in the tick the dial started: AbortError from both', async () => {
    const { port, open } = await plainServer()
    const observed = await both(async (kind) => dialOnce(kind, `/ip4/127.0.0.1/tcp/${port}`, { abort: (dial) => { dial.abort() } }))
    same(observed, duringConnect)
    await waitUntil(() => open() === 0, 2000, 'no socket left on the server')
  })

  it('aborted during connect to a server whose backlog is full: AbortError from both', async () => {
    const port = await fullBacklog()
    const observed = await both(async (kind) => dialOnce(kind, `/ip4/127.0.0.1/tcp/${port}`, {
      // the SYN is never answered: abort in a later turn of the event loop, the
      // connect issued (unlike the test above) and the socket still connecting
      abort: (dial) => { setImmediate(() => { dial.abort() }) }
    }))
    same(observed, duringConnect)
  })

  it('aborted during the upgrade: the upgrader\'s error from both, counted as an outbound upgrade error', async () => {
    const { port, open } = await plainServer()
    const observed = await both(async (kind) => {
      const upgrader = stallingUpgrader({ ignoreSignal: false })
      return dialOnce(kind, `/ip4/127.0.0.1/tcp/${port}`, {
        upgrader,
        abort: (dial) => {
          void waitUntil(() => upgrader.started() === 1, 2000, 'the upgrade to start')
            .then(() => { dial.abort() }, (err) => { dial.abort(err) })
        }
      })
    })
    same(observed, {
      result: { class: 'DOMException', name: 'AbortError', code: 20 },
      progress: ['tcp:open-connection'],
      metrics: ['libp2p_tcp_dialer_errors_total{outbound_upgrade}', 'libp2p_tcp_dialer_events_total{abort}', 'libp2p_tcp_dialer_events_total{connect}', 'libp2p_tcp_dialer_events_total{end}']
    })
    await waitUntil(() => open() === 0, 2000, 'no socket left on the server')
  })
})

describe('a dial that succeeds', () => {
  it('reports tcp:open-connection once and counts connect', async () => {
    const observed = await both(async (kind) => {
      const { transport, metrics, upgrader, listener } = await listeningOn(kind)
      const progress: string[] = []
      const conn: any = await transport.dial(listener.getAddrs()[0], { upgrader, signal: AbortSignal.timeout(2000), onProgress: (evt: any) => progress.push(evt.type) } as any)
      await waitUntil(() => upgrader.inbound.length === 1, 2000, 'the inbound connection')
      await conn.maConn.close()
      await waitUntil(() => upgrader.inbound[0].status === 'closed', 2000, 'the inbound side to close')
      return { progress, metrics: metricKeys(metrics) }
    })
    same(observed, {
      progress: ['tcp:open-connection'],
      metrics: [
        'libp2p_tcp_dialer_events_total{_remote_close}',
        'libp2p_tcp_dialer_events_total{connect}',
        'libp2p_tcp_dialer_events_total{end}',
        'libp2p_tcp_listener_events_total{<addr> connection}',
        'libp2p_tcp_listener_events_total{<addr> end}',
        'libp2p_tcp_listener_events_total{<addr> _remote_close}',
        'libp2p_tcp_listener_status_info{<addr>}'
      ].sort()
    })
  })
})
