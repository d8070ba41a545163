/**
 * proxyProtocol on real sockets: the parsing (headers in one-byte writes,
 * with the payload in the same write, TLVs, IPv6, LOCAL and UNKNOWN, bad
 * input of every kind, untrusted peers) and the operator inside rx-tcp's
 * listener. The timing is in the marble tests of proxy-protocol.spec.ts.
 */
import net from 'node:net'
import { networkInterfaces } from 'node:os'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { Subject } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import { acceptSockets } from '../../operators/servers/index.ts'
import { proxyProtocol } from '../../operators/proxy-protocol/index.ts'
import { tcp } from '../../src/index.ts'
import { recordingMetrics } from '../fixtures/metrics.ts'
import { v1Header, v2Header } from '../fixtures/proxy-headers.ts'
import { destroyAll } from '../fixtures/raw-sockets.ts'
import { passThroughUpgrader } from '../fixtures/upgraders.ts'
import { waitForEvent, waitUntil, within } from '../fixtures/wait.ts'
import { skipping } from '../fixtures/skip.ts'
import type { Socket } from 'node:net'
import type { Subscription } from 'rxjs'

const hasIPv6Loopback = Object.values(networkInterfaces()).flat().some((info) => info?.address === '::1')

describe('proxyProtocol on real sockets', () => {
  interface Arrival { remoteAddr: string, bytes: string }
  const servers: net.Server[] = []
  const clients: Socket[] = []
  const subscriptions: Subscription[] = []

  afterEach(async () => {
    subscriptions.splice(0).forEach((subscription) => { subscription.unsubscribe() })
    await destroyAll(clients)
    await Promise.all(servers.splice(0).map(async (server) => within(new Promise((resolve) => server.close(resolve)), 5_000, 'a test server to close')))
  })

  /**
   * A server on `host` reading PROXY headers from `trusted`: each socket that
   * passes is read to its end and reported with the address it carries.
   */
  async function balanced (options: { trusted: string[], host?: string, timeout?: number }): Promise<{ port: number, host: string, arrivals: Subject<Arrival>, rejections: string[] }> {
    const host = options.host ?? '127.0.0.1'
    const server = net.createServer()
    servers.push(server)
    await within(new Promise<void>((resolve) => server.listen(0, host, resolve)), 2_000, 'a test server to listen')
    const arrivals = new Subject<Arrival>()
    const rejections: string[] = []
    subscriptions.push(acceptSockets(server, { onReject: (_inbound, reason) => { rejections.push(reason) } })
      .pipe(proxyProtocol({ trusted: options.trusted, timeout: options.timeout }))
      .subscribe(({ socket, remoteAddr }) => {
        const chunks: Buffer[] = []
        socket.on('data', (chunk: Buffer) => chunks.push(chunk))
        socket.once('end', () => {
          arrivals.next({ remoteAddr: remoteAddr.toString(), bytes: Buffer.concat(chunks).toString('latin1') })
          socket.end()
        })
      }))
    return { port: (server.address() as net.AddressInfo).port, host, arrivals, rejections }
  }

  /** connects, writes each piece in its own write (waiting for it to leave), then ends */
  async function send (target: { port: number, host: string }, pieces: Buffer[], end = true): Promise<Socket> {
    const client = net.connect({ port: target.port, host: target.host, noDelay: true })
    client.on('error', () => {})
    clients.push(client)
    await waitForEvent(client, 'connect', 2_000, 'a test client to connect')
    for (const piece of pieces) {
      await within(new Promise<void>((resolve, reject) => client.write(piece, (err) => { err == null ? resolve() : reject(err) })), 2_000, 'a write to leave')
    }
    if (end) {
      client.end()
    }
    return client
  }

  async function arrival (target: { arrivals: Subject<Arrival> }, pieces: Buffer[], from: { port: number, host: string }): Promise<Arrival> {
    const next = new Promise<Arrival>((resolve) => { target.arrivals.subscribe(resolve) })
    await send(from, pieces)
    return within(next, 3_000, 'the server to read a client to its end')
  }

  const bytes = (text: string): Buffer => Buffer.from(text, 'latin1')

  it('reads a v1 header written one byte at a time', async () => {
    const target = await balanced({ trusted: ['127.0.0.1/32'] })
    const header = v1Header('203.0.113.9', 40000)
    const pieces = [...header].map((byte) => Buffer.from([byte]))
    expect(await arrival(target, [...pieces, bytes('after')], target)).toEqual({ remoteAddr: '/ip4/203.0.113.9/tcp/40000', bytes: 'after' })
  })

  it('reads a v2 header written one byte at a time', async () => {
    const target = await balanced({ trusted: ['127.0.0.1/32'] })
    const pieces = [...v2Header({ ip: '203.0.113.9', port: 40000 })].map((byte) => Buffer.from([byte]))
    expect(await arrival(target, [...pieces, bytes('after')], target)).toEqual({ remoteAddr: '/ip4/203.0.113.9/tcp/40000', bytes: 'after' })
  })

  it('leaves the payload that came in the same write as the header to the upgrade', async () => {
    const target = await balanced({ trusted: ['127.0.0.1/32'] })
    const payload = Buffer.alloc(200_000, 'x').toString('latin1')
    const v1 = await arrival(target, [Buffer.concat([v1Header('198.51.100.4', 1234), bytes(`hello${payload}`)])], target)
    expect(v1.remoteAddr).toBe('/ip4/198.51.100.4/tcp/1234')
    expect(v1.bytes).toBe(`hello${payload}`)
    const v2 = await arrival(target, [Buffer.concat([v2Header({ ip: '198.51.100.5', port: 4321 }), bytes('hello')])], target)
    expect(v2).toEqual({ remoteAddr: '/ip4/198.51.100.5/tcp/4321', bytes: 'hello' })
  })

  it('takes the TLVs of a v2 header off the stream: the bytes after them reach the upgrade intact', async () => {
    const target = await balanced({ trusted: ['127.0.0.1/32'] })
    const header = v2Header({ ip: '198.51.100.6', port: 5, tlvs: [[0x01, bytes('h2')], [0x05, bytes('unique-id-0123456789')], [0x20, Buffer.from([0x01, 0, 0, 0, 0])]] })
    expect(await arrival(target, [Buffer.concat([header, bytes('\r\n\r\nafter')])], target)).toEqual({ remoteAddr: '/ip4/198.51.100.6/tcp/5', bytes: '\r\n\r\nafter' })
  })

  it.skipIf(!hasIPv6Loopback)(skipping('gives IPv6 clients of v1 and v2 headers as /ip6, IPv4-mapped ones as /ip4, behind a balancer on ::1', hasIPv6Loopback ? undefined : 'no ::1 on this host'), async () => {
    const target = await balanced({ trusted: ['::1/128'], host: '::1' })
    expect(await arrival(target, [v1Header('2001:db8::9', 7), bytes('a')], target)).toEqual({ remoteAddr: '/ip6/2001:db8::9/tcp/7', bytes: 'a' })
    expect(await arrival(target, [v2Header({ ip: '2001:db8:0:0:1::2', port: 8 }), bytes('b')], target)).toEqual({ remoteAddr: '/ip6/2001:db8::1:0:0:2/tcp/8', bytes: 'b' })
    expect(await arrival(target, [v2Header({ ip: '::ffff:192.0.2.1', port: 9 }), bytes('c')], target)).toEqual({ remoteAddr: '/ip4/192.0.2.1/tcp/9', bytes: 'c' })
  })

  it('keeps the socket\'s own address for v1 UNKNOWN, v2 LOCAL and v2 UNSPEC', async () => {
    const target = await balanced({ trusted: ['127.0.0.1/32'] })
    for (const header of [bytes('PROXY UNKNOWN\r\n'), bytes('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n'), v2Header({ local: true }), v2Header({})]) {
      const client = net.connect({ port: target.port, host: '127.0.0.1' })
      clients.push(client)
      await waitForEvent(client, 'connect', 2_000, 'a test client to connect')
      const next = new Promise<Arrival>((resolve) => { target.arrivals.subscribe(resolve) })
      client.end(Buffer.concat([header, bytes('x')]))
      expect(await within(next, 3_000, 'the server to read a client')).toEqual({ remoteAddr: `/ip4/127.0.0.1/tcp/${client.localPort}`, bytes: 'x' })
    }
    expect(target.rejections).toEqual([])
  })

  it('rejects garbage, malformed v1 and v2 headers, an oversized one and a stall, and destroys each', async () => {
    const target = await balanced({ trusted: ['127.0.0.1/32'], timeout: 300 })
    const v2 = v2Header({ ip: '203.0.113.9', port: 1 })
    v2[12] = 0x31 // version 3
    const cases = [
      bytes('\x16\x03\x01 a TLS hello'),
      bytes('PROXY TCP4 300.1.1.1 1.1.1.1 1 2\r\n'),
      v2,
      v2Header({ ip: '203.0.113.9', port: 1, tlvs: [[0x04, Buffer.alloc(5_000)]] }),
      bytes('PROXY TCP4 1.2.3.4')
    ]
    for (const pieces of cases) {
      const client = await send(target, [pieces], false)
      await waitForEvent(client, 'close', 3_000, 'the server to destroy a client with a bad header')
    }
    expect(target.rejections).toEqual(['proxy-missing', 'proxy-malformed', 'proxy-malformed', 'proxy-malformed', 'proxy-timeout'])
  })

  it('in the rx-tcp listener: the upgrade sees the client, each rejection is counted, close() does not wait for a header', async () => {
    const metrics = recordingMetrics()
    // a header timeout and a close deadline that would outlast the wait below: close() must reject the socket at once
    const transport = tcp({ inbound: proxyProtocol({ trusted: ['127.0.0.1/32'], timeout: 600_000 }), closeTimeout: 600_000 })({ logger: defaultLogger(), metrics })
    const upgrader = passThroughUpgrader()
    const listener = transport.createListener({ upgrader })
    await listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))
    try {
      const target = { host: '127.0.0.1', port: Number(listener.getAddrs()[0].getComponents()[1].value) }
      const label = `127.0.0.1:${target.port}`
      const events = (): Record<string, number> => metrics.values.libp2p_tcp_listener_events_total ?? {}
      await send(target, [Buffer.concat([v2Header({ ip: '198.51.100.8', port: 777 }), bytes('x')])], false)
      await waitUntil(() => upgrader.inbound.length === 1, 3_000, 'the proxied socket to reach the upgrade')
      expect(upgrader.inbound[0].remoteAddr.toString()).toBe('/ip4/198.51.100.8/tcp/777')
      const garbage = await send(target, [bytes('GET / HTTP/1.1\r\n')], false)
      await waitForEvent(garbage, 'close', 3_000, 'the listener to destroy a socket without a header')
      const stalled = await send(target, [bytes('PROXY TCP4 1.2')], false)
      await waitUntil(() => events()[`${label} connection`] === 3, 3_000, 'the listener to accept the stalled socket')
      await within(listener.close(), 10_000, 'the listener to close with a socket mid-header (its deadlines are 10 min)')
      if (!stalled.closed) await waitForEvent(stalled, 'close', 2_000, 'the stalled client to see its socket close')
      expect(events()[`${label} rejected_proxy-missing`]).toBe(1)
      expect(events()[`${label} rejected_shutdown`]).toBe(1)
    } finally {
      await listener.close()
    }
  })

  it('reads nothing from an untrusted peer: its header reaches the upgrade as bytes', async () => {
    const target = await balanced({ trusted: ['127.0.0.2/32'] })
    const header = v1Header('203.0.113.9', 40000)
    const client = net.connect({ port: target.port, host: '127.0.0.1', localAddress: '127.0.0.1' })
    clients.push(client)
    await waitForEvent(client, 'connect', 2_000, 'a test client to connect')
    const next = new Promise<Arrival>((resolve) => { target.arrivals.subscribe(resolve) })
    client.end(Buffer.concat([header, bytes('after')]))
    expect(await within(next, 3_000, 'the server to read the client')).toEqual({
      remoteAddr: `/ip4/127.0.0.1/tcp/${client.localPort}`,
      bytes: `${header.toString('latin1')}after`
    })
  })
})
