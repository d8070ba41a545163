/**
 * proxyProtocol's policy, as go-proxyproto and Envoy's filter have one: what
 * an untrusted peer's header gets, which versions are accepted, and the
 * per-version counts of headers found, missing, malformed and timed out, in
 * an rx-tcp node's `libp2p_tcp_listener_events_total` and through
 * `metrics`/`onEvent` for a `guardServer` pipeline. On real sockets.
 */
import http from 'node:http'
import net from 'node:net'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { InvalidParametersError } from '@libp2p/interface'
import { pipe, VirtualTimeScheduler } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import { acceptSockets, guardServer } from '../../operators/servers/index.ts'
import { metricsTap } from '../../operators/index.ts'
import { proxyProtocol } from '../../operators/proxy-protocol/index.ts'
import { proxyEventKeys } from '../../operators/proxy-protocol/events.ts'
import { tcp } from '../../src/index.ts'
import { recordingMetrics } from '../fixtures/metrics.ts'
import { v1Header, v2Header } from '../fixtures/proxy-headers.ts'
import { destroyAll } from '../fixtures/raw-sockets.ts'
import { passThroughUpgrader } from '../fixtures/upgraders.ts'
import { waitForEvent, waitUntil, within } from '../fixtures/wait.ts'
import type { ProxyProtocolEvent, ProxyProtocolOptions } from '../../operators/proxy-protocol/index.ts'
import type { Socket } from 'node:net'
import type { Subscription } from 'rxjs'

describe('proxyProtocol policy', () => {
  const servers: net.Server[] = []
  const clients: Socket[] = []
  const subscriptions: Subscription[] = []

  afterEach(async () => {
    subscriptions.splice(0).forEach((subscription) => { subscription.unsubscribe() })
    await destroyAll(clients)
    await Promise.all(servers.splice(0).map(async (server) => within(new Promise((resolve) => server.close(resolve)), 5_000, 'a test server to close')))
  })

  /** a server on 127.0.0.1 with proxyProtocol(options): what passed (address and bytes), what was rejected, the events */
  async function serve (options: ProxyProtocolOptions): Promise<{ port: number, passed: Array<{ remoteAddr: string, bytes: string }>, rejected: string[], events: string[] }> {
    const server = net.createServer()
    servers.push(server)
    await within(new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)), 2_000, 'a test server to listen')
    const passed: Array<{ remoteAddr: string, bytes: string }> = []
    const rejected: string[] = []
    const events: string[] = []
    subscriptions.push(acceptSockets(server, { onReject: (_inbound, reason) => { rejected.push(reason) } })
      .pipe(proxyProtocol({ ...options, onEvent: (event) => { events.push(proxyEventKeys(event).join('+')) } }))
      .subscribe(({ socket, remoteAddr }) => {
        const chunks: Buffer[] = []
        const done = (): void => {
          passed.push({ remoteAddr: remoteAddr.toString(), bytes: Buffer.concat(chunks).toString('latin1') })
          socket.end()
        }
        // a peer that ended before sending anything has ended already when it is handed on
        if (socket.readableEnded) {
          done()
          return
        }
        socket.on('data', (chunk: Buffer) => chunks.push(chunk))
        socket.once('end', done)
      }))
    return { port: (server.address() as net.AddressInfo).port, passed, rejected, events }
  }

  /** a client from `localAddress` that writes `bytes` (and ends, unless `end` is false); resolves once the server closed it */
  async function client (port: number, localAddress: string, bytes: Buffer | string, end = true): Promise<Socket> {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress })
    socket.on('error', () => {})
    clients.push(socket)
    await waitForEvent(socket, 'connect', 2_000, 'a test client to connect')
    if (end) socket.end(bytes)
    else socket.write(bytes)
    return socket
  }

  it('untrusted: \'pass\' (the default) hands a header from an untrusted peer on as bytes, \'reject\' refuses it and lets other bytes through intact', async () => {
    const header = v1Header('203.0.113.9', 1)
    const passing = await serve({ trusted: ['127.0.0.2/32'] })
    await waitForEvent(await client(passing.port, '127.0.0.3', Buffer.concat([header, Buffer.from('x')])), 'close', 3_000, 'the passing server to finish')
    expect(passing.passed).toEqual([{ remoteAddr: expect.stringMatching(/^\/ip4\/127\.0\.0\.3\//), bytes: `${header.toString('latin1')}x` }])

    const strict = await serve({ trusted: ['127.0.0.2/32'], untrusted: 'reject', timeout: 500 })
    const v1 = await client(strict.port, '127.0.0.3', header, false)
    const v2 = await client(strict.port, '127.0.0.4', v2Header({ ip: '203.0.113.9', port: 1 }).subarray(0, 12), false)
    await Promise.all([waitForEvent(v1, 'close', 3_000, 'v1 from an untrusted peer refused'), waitForEvent(v2, 'close', 3_000, 'v2 from an untrusted peer refused')])
    // bytes that leave the signature early, after a few matched, and a peer that only ends: all through, intact
    await client(strict.port, '127.0.0.5', 'GET / HTTP/1.1\r\n\r\n')
    await client(strict.port, '127.0.0.6', 'PROXIMITY')
    await client(strict.port, '127.0.0.7', '')
    await waitUntil(() => strict.passed.length === 3, 3_000, 'the untrusted sockets without a header to pass')
    expect(strict.passed.map(({ bytes }) => bytes).sort()).toEqual(['', 'GET / HTTP/1.1\r\n\r\n', 'PROXIMITY'])
    expect(strict.rejected).toEqual(['proxy-untrusted', 'proxy-untrusted'])
    expect(strict.events.sort()).toEqual(['proxy_v1_untrusted', 'proxy_v2_untrusted'])
  })

  it('untrusted: \'reject\' passes an untrusted peer that stays silent once the timeout is over (a server-speaks-first protocol)', async () => {
    // a virtual clock: the peek's timeout is its one pending action
    const clock = new VirtualTimeScheduler()
    const strict = await serve({ trusted: ['127.0.0.2/32'], untrusted: 'reject', timeout: 300, scheduler: clock })
    const silent = await client(strict.port, '127.0.0.3', '', false)
    await waitUntil(() => clock.actions.length === 1, 2_000, 'the silent socket to be peeked')
    clock.maxFrames = 299
    clock.flush()
    expect(clock.actions, 'the peek at 299 ms').toHaveLength(1)
    clock.maxFrames = 300
    clock.flush()
    expect(clock.actions, 'the peek at 300 ms').toHaveLength(0)
    silent.end('late bytes')
    await waitUntil(() => strict.passed.length === 1, 3_000, 'the silent socket to pass')
    expect(strict.passed[0].bytes).toBe('late bytes')
    expect(strict.rejected).toEqual([])
  })

  it('untrusted: \'reject\' in an rx-tcp node: a silent untrusted socket does not hold up close(), it is rejected shutdown', async () => {
    const metrics = recordingMetrics()
    // a peek and a close deadline that would outlast the wait below: close() must reject the socket at once
    const transport = tcp({ inbound: proxyProtocol({ trusted: ['127.0.0.2/32'], untrusted: 'reject', timeout: 600_000 }), closeTimeout: 600_000 })({ logger: defaultLogger(), metrics })
    const listener = transport.createListener({ upgrader: passThroughUpgrader() })
    await listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))
    const port = Number(listener.getAddrs()[0].getComponents()[1].value)
    const silent = await client(port, '127.0.0.1', '', false)
    await waitUntil(() => metrics.values.libp2p_tcp_listener_events_total?.[`127.0.0.1:${port} connection`] === 1, 2_000, 'the silent socket to be accepted')
    await within(listener.close(), 10_000, 'the listener to close with an untrusted socket being peeked (its deadlines are 10 min)')
    if (!silent.closed) await waitForEvent(silent, 'close', 2_000, 'the silent socket to be closed')
    expect(metrics.values.libp2p_tcp_listener_events_total[`127.0.0.1:${port} rejected_shutdown`]).toBe(1)
  })

  it('versions: a header of a version left out is refused proxy-version as soon as its signature is complete', async () => {
    const v2only = await serve({ trusted: ['127.0.0.1/32'], versions: [2] })
    const v1 = await client(v2only.port, '127.0.0.1', 'PROXY ', false)
    await waitForEvent(v1, 'close', 3_000, 'a v1 signature refused by a v2-only server')
    await client(v2only.port, '127.0.0.1', Buffer.concat([v2Header({ ip: '198.51.100.2', port: 2 }), Buffer.from('y')]))
    await waitUntil(() => v2only.passed.length === 1, 3_000, 'the v2 header to pass')
    expect(v2only.passed[0]).toEqual({ remoteAddr: '/ip4/198.51.100.2/tcp/2', bytes: 'y' })
    expect(v2only.rejected).toEqual(['proxy-version'])
    expect(v2only.events).toEqual(['proxy_v1_disallowed', 'proxy_v2_found'])

    const v1only = await serve({ trusted: ['127.0.0.1/32'], versions: [1] })
    await waitForEvent(await client(v1only.port, '127.0.0.1', v2Header({ ip: '198.51.100.2', port: 2 })), 'close', 3_000, 'a v2 header refused')
    expect(v1only.rejected).toEqual(['proxy-version'])
  })

  it('refuses a bad policy', () => {
    expect(() => proxyProtocol({ trusted: [], versions: [] })).toThrow(InvalidParametersError)
    expect(() => proxyProtocol({ trusted: [], versions: [3 as 1] })).toThrow(InvalidParametersError)
    expect(() => proxyProtocol({ trusted: [], untrusted: 'drop' as 'pass' })).toThrow(InvalidParametersError)
  })

  it('in an rx-tcp node: per-version counts in libp2p_tcp_listener_events_total, the listener\'s own keys unchanged', async () => {
    const metrics = recordingMetrics()
    const transport = tcp({ inbound: proxyProtocol({ trusted: ['127.0.0.1/32'], timeout: 400 }) })({ logger: defaultLogger(), metrics })
    const upgrader = passThroughUpgrader()
    const listener = transport.createListener({ upgrader })
    await listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))
    try {
      const port = Number(listener.getAddrs()[0].getComponents()[1].value)
      const label = `127.0.0.1:${port}`
      const sends: Array<Buffer | string> = [
        Buffer.concat([v1Header('198.51.100.1', 1), Buffer.from('a')]),
        Buffer.concat([v2Header({ ip: '198.51.100.2', port: 2 }), Buffer.from('b')]),
        Buffer.concat([v2Header({ local: true }), Buffer.from('c')]),
        'PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n',
        'GET / HTTP/1.1\r\n',
        v2Header({ ip: '198.51.100.3', port: 3 }).subarray(0, 20)
      ]
      const sockets = await Promise.all(sends.map(async (bytes) => client(port, '127.0.0.1', bytes, false)))
      const silent = await client(port, '127.0.0.1', '', false)
      await Promise.all([sockets[3], sockets[4], sockets[5], silent].map(async (socket) => waitForEvent(socket, 'close', 3_000, 'a socket to be refused')))
      await waitUntil(() => upgrader.inbound.length === 3, 3_000, 'the three good headers to reach the upgrade')
      const events = metrics.values.libp2p_tcp_listener_events_total
      expect(Object.fromEntries(Object.entries(events).filter(([key]) => key.startsWith(label)).map(([key, n]) => [key.slice(label.length + 1), n]))).toEqual({
        connection: 7,
        proxy_v1_found: 1,
        proxy_v2_found: 2,
        proxy_v2_local: 1,
        proxy_v1_malformed: 1,
        proxy_missing: 1,
        proxy_v2_timeout: 1,
        proxy_timeout: 1,
        'rejected_proxy-malformed': 1,
        'rejected_proxy-missing': 1,
        'rejected_proxy-timeout': 2
      })
      expect(upgrader.inbound.map(({ remoteAddr }) => remoteAddr.toString())).toContain('/ip4/198.51.100.2/tcp/2')
    } finally {
      await listener.close()
    }
  })

  it('for a guardServer pipeline: the metrics option, a metricsTap and the onEvent hook all count, under the server\'s address', async () => {
    const metrics = recordingMetrics()
    const tapMetrics = recordingMetrics()
    const seen: ProxyProtocolEvent[] = []
    const server = http.createServer((req, res) => { res.end(`${req.socket.remoteAddress ?? ''}\n`) })
    servers.push(server)
    await within(new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)), 2_000, 'the http server to listen')
    const tap = metricsTap({ metrics: tapMetrics })
    subscriptions.push(guardServer(server, pipe(tap.inbound, proxyProtocol({ trusted: ['127.0.0.1/32'], metrics, onEvent: (event) => seen.push(event) }))).subscribe())
    const port = (server.address() as net.AddressInfo).port
    const ok = await client(port, '127.0.0.1', Buffer.concat([v2Header({ ip: '198.51.100.9', port: 9, tlvs: [[0x01, Buffer.from('http/1.1')]] }), Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]), false)
    await waitForEvent(ok, 'data', 3_000, 'the http server to answer')
    const bad = await client(port, '127.0.0.1', 'PROXY TCP9\r\n', false)
    await waitForEvent(bad, 'close', 3_000, 'the malformed header refused')
    const label = `127.0.0.1:${port}`
    expect(metrics.values.libp2p_tcp_listener_events_total).toEqual({ [`${label} proxy_v2_found`]: 1, [`${label} proxy_v1_malformed`]: 1 })
    expect(tapMetrics.values.libp2p_tcp_listener_events_total).toMatchObject({ [`${label} accepted`]: 2, [`${label} proxy_v2_found`]: 1, [`${label} proxy_v1_malformed`]: 1, [`${label} rejected_proxy-malformed`]: 1 })
    expect(seen.map(({ kind }) => kind)).toEqual(['found', 'malformed'])
    expect(seen[0].kind === 'found' && seen[0].header.tlvs?.alpn).toBe('http/1.1')
  })
})
