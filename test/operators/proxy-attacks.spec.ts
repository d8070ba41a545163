/**
 * Regression tests named after the attacks on other PROXY protocol readers
 * (go-proxyproto, mastercactapus/proxyprotocol, Envoy's listener filter),
 * each on real sockets: what broke there must hold here.
 */
import net from 'node:net'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { VirtualTimeScheduler } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import { acceptSockets } from '../../operators/servers/index.ts'
import { proxyHeader, proxyProtocol } from '../../operators/proxy-protocol/index.ts'
import { DEFAULT_PROXY_HEADER_TIMEOUT } from '../../operators/proxy-protocol/proxy-protocol.ts'
import { tcp } from '../../src/index.ts'
import { recordingMetrics } from '../fixtures/metrics.ts'
import { sslValue, tlv, v2Header, withCrc32c } from '../fixtures/proxy-headers.ts'
import { destroyAll } from '../fixtures/raw-sockets.ts'
import { passThroughUpgrader } from '../fixtures/upgraders.ts'
import { waitForEvent, waitUntil, within } from '../fixtures/wait.ts'
import type { InboundSocket } from '../../operators/index.ts'
import type { ProxyProtocolOptions } from '../../operators/proxy-protocol/index.ts'
import type { Socket } from 'node:net'
import type { Subscription } from 'rxjs'

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])

describe('PROXY header attacks', () => {
  const servers: net.Server[] = []
  const clients: Socket[] = []
  const subscriptions: Subscription[] = []

  afterEach(async () => {
    subscriptions.splice(0).forEach((subscription) => { subscription.unsubscribe() })
    await destroyAll(clients)
    await Promise.all(servers.splice(0).map(async (server) => within(new Promise((resolve) => server.close(resolve)), 5_000, 'a test server to close')))
  })

  interface Target { port: number, passed: InboundSocket[], rejected: Array<{ reason: string, message: string, bytesRead: number, at: number }>, server: net.Server }

  async function serve (options: Partial<ProxyProtocolOptions> = {}): Promise<Target> {
    const server = net.createServer()
    servers.push(server)
    await within(new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)), 2_000, 'a test server to listen')
    const target: Target = { port: (server.address() as net.AddressInfo).port, passed: [], rejected: [], server }
    subscriptions.push(acceptSockets(server, {
      onReject: (inbound, reason, err) => { target.rejected.push({ reason, message: err?.message ?? '', bytesRead: inbound.socket.bytesRead, at: Date.now() }) }
    }).pipe(proxyProtocol({ trusted: ['127.0.0.1/32'], ...options })).subscribe((inbound) => {
      target.passed.push(inbound)
      inbound.socket.resume()
    }))
    return target
  }

  async function connect (port: number): Promise<Socket> {
    const socket = net.connect({ port, host: '127.0.0.1' })
    socket.on('error', () => {})
    clients.push(socket)
    await waitForEvent(socket, 'connect', 2_000, 'a test client to connect')
    return socket
  }

  const connections = async (server: net.Server): Promise<number> => new Promise((resolve, reject) => server.getConnections((err, n) => { err == null ? resolve(n) : reject(err) }))

  it('CVE-2021-23351: a v1 header with no newline is refused at 107 bytes, while the peer is still sending; what was read stays small', async () => {
    const target = await serve()
    const socket = await connect(target.port)
    const closed = waitForEvent(socket, 'close', 5_000, 'the server to cut off the endless v1 line')
    socket.write('PROXY TCP4 ')
    // 16 MiB of a line that never ends, as fast as the socket takes it
    const chunk = Buffer.alloc(64 * 1024, 'x')
    let sent = 0
    while (!socket.destroyed && sent < 16 * 1024 * 1024) {
      if (!socket.write(chunk)) await Promise.race([waitForEvent(socket, 'drain', 2_000, 'drain').catch(() => {}), closed])
      sent += chunk.length
    }
    await closed
    expect(target.rejected).toHaveLength(1)
    expect(target.rejected[0]).toMatchObject({ reason: 'proxy-malformed', message: expect.stringContaining('v1 header longer than 107 bytes') })
    // refused on its first chunks, not after reading what the peer sent
    expect(target.rejected[0].bytesRead).toBeLessThan(1024 * 1024)
    expect(sent).toBeLessThan(16 * 1024 * 1024)
  })

  it(`CVE-2021-23409: peers that never send a header are not held: with no timeout given, each is destroyed after ${DEFAULT_PROXY_HEADER_TIMEOUT} ms`, async () => {
    expect(DEFAULT_PROXY_HEADER_TIMEOUT).toBe(5_000)
    // a virtual clock: no timeout is given, the default one runs on it
    const clock = new VirtualTimeScheduler()
    const target = await serve({ scheduler: clock })
    const silent = await Promise.all(Array.from({ length: 20 }, async () => connect(target.port)))
    await waitUntil(() => clock.actions.length === 20, 2_000, 'the 20 silent sockets to wait for their header')
    clock.maxFrames = DEFAULT_PROXY_HEADER_TIMEOUT - 1
    clock.flush()
    expect(target.rejected, `rejected at ${DEFAULT_PROXY_HEADER_TIMEOUT - 1} ms`).toEqual([])
    clock.maxFrames = DEFAULT_PROXY_HEADER_TIMEOUT
    clock.flush()
    expect(target.rejected.map(({ reason }) => reason)).toEqual(Array(20).fill('proxy-timeout'))
    await Promise.all(silent.map(async (socket) => waitForEvent(socket, 'close', 3_000, 'a silent peer to be destroyed')))
    expect(await connections(target.server)).toBe(0)
  })

  it('CVE-2019-14243: v2 headers whose length is too short for their address family are refused, nothing thrown', async () => {
    const target = await serve()
    const cases = [
      // AF_INET/STREAM declaring 4 bytes, AF_INET6 declaring 20, AF_UNIX declaring 100
      Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0x00, 0x04, 1, 2, 3, 4])]),
      Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x21, 0x00, 0x14]), Buffer.alloc(20)]),
      Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x31, 0x00, 0x64]), Buffer.alloc(100)]),
      // a length that covers the address, then the peer ends before sending it
      v2Header({ ip: '203.0.113.1', port: 1 }).subarray(0, 20)
    ]
    for (const bytes of cases) {
      const socket = await connect(target.port)
      socket.end(bytes)
      await waitForEvent(socket, 'close', 3_000, 'a truncated v2 header to be refused')
    }
    expect(target.rejected.map(({ reason, message }) => `${reason}: ${message.replace(/^.*: v2: /, '')}`)).toEqual([
      'proxy-malformed: 4 bytes after the fixed part, too few for the 12 of a tcp4 address block',
      'proxy-malformed: 20 bytes after the fixed part, too few for the 36 of a tcp6 address block',
      'proxy-malformed: 100 bytes after the fixed part, too few for the 216 of a unix address block',
      'proxy-malformed: malformed PROXY header from /ip4/127.0.0.1/tcp/' + target.rejected[3]?.message.split('/tcp/')[1]
    ])
    expect(target.passed).toEqual([])
  })

  it('CVE-2024-23327: a LOCAL health check from an NLB, with addresses and TLVs or without, passes in an rx-tcp node with the balancer\'s own address', async () => {
    const metrics = recordingMetrics()
    const transport = tcp({ inbound: proxyProtocol({ trusted: ['127.0.0.1/32'] }) })({ logger: defaultLogger(), metrics })
    const upgrader = passThroughUpgrader()
    const listener = transport.createListener({ upgrader })
    await listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))
    try {
      const port = Number(listener.getAddrs()[0].getComponents()[1].value)
      const checks = [
        v2Header({ local: true }),
        // NLB's layout as LOCAL: addresses, NOOP padding, the VPC endpoint, a CRC32C; all to be ignored but the checksum checked
        withCrc32c(v2Header({ local: true, ip: '10.1.2.3', port: 80, tlvs: [[0x04, Buffer.alloc(5)], [0xea, Buffer.from('\x01vpce-08d2bf15fac5001c9')]] }), { first: true }),
        // LOCAL with a family no one defined: the receiver ignores the family
        Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0xff, 0x00, 0x00])])
      ]
      const sockets: Socket[] = []
      for (const bytes of checks) {
        const socket = await connect(port)
        socket.write(bytes)
        sockets.push(socket)
      }
      await waitUntil(() => upgrader.inbound.length === checks.length, 3_000, 'the health checks to reach the upgrade')
      expect(upgrader.inbound.map(({ remoteAddr }) => remoteAddr.toString()).sort()).toEqual(sockets.map((socket) => `/ip4/127.0.0.1/tcp/${socket.localPort}`).sort())
      const label = `127.0.0.1:${port}`
      expect(metrics.values.libp2p_tcp_listener_events_total[`${label} proxy_v2_local`]).toBe(3)
      expect(Object.keys(metrics.values.libp2p_tcp_listener_events_total).filter((key) => key.includes('rejected'))).toEqual([])
    } finally {
      await listener.close()
    }
  })

  it('CVE-2024-23325: a client of an address family the listener lacks (IPv6 on 127.0.0.1, unix, an undefined family) is a value, never a crash', async () => {
    const metrics = recordingMetrics()
    const transport = tcp({ inbound: proxyProtocol({ trusted: ['127.0.0.1/32'] }) })({ logger: defaultLogger(), metrics })
    const upgrader = passThroughUpgrader()
    const listener = transport.createListener({ upgrader })
    await listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))
    try {
      const port = Number(listener.getAddrs()[0].getComponents()[1].value)
      const unix = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x31, 0x00, 0xd8]), Buffer.alloc(216, 0x2f)])
      const undefinedFamily = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x41, 0x00, 0x0c]), Buffer.alloc(12)])
      const v6 = await connect(port)
      v6.write(v2Header({ ip: 'fe80::1', port: 443 }))
      const overUnix = await connect(port)
      overUnix.write(unix)
      const bad = await connect(port)
      bad.write(undefinedFamily)
      await waitForEvent(bad, 'close', 3_000, 'an undefined family to be refused')
      await waitUntil(() => upgrader.inbound.length === 2, 3_000, 'the IPv6 and unix clients to reach the upgrade')
      expect(upgrader.inbound.map(({ remoteAddr }) => remoteAddr.toString()).sort()).toEqual([`/ip4/127.0.0.1/tcp/${overUnix.localPort}`, '/ip6/fe80::1/tcp/443'].sort())
      expect(metrics.values.libp2p_tcp_listener_events_total[`127.0.0.1:${port} rejected_proxy-malformed`]).toBe(1)
    } finally {
      await listener.close()
    }
  })

  it('CVE-2024-23324: TLV values that are not UTF-8 never throw; text is decoded with U+FFFD, flagged, and the bytes kept', async () => {
    const target = await serve()
    const badAuthority = Buffer.from([0x61, 0xff, 0xfe, 0x62])
    const badCn = Buffer.from([0xed, 0xa0, 0x80]) // a lone surrogate, invalid in UTF-8
    const header = withCrc32c(v2Header({
      ip: '198.51.100.20',
      port: 20,
      tlvs: [
        [0x02, badAuthority],
        [0x01, Buffer.from([0xc3])],
        [0x20, sslValue(0x01, 0, [tlv(0x22, badCn)])],
        [0xea, Buffer.concat([Buffer.from([0x01]), Buffer.from([0x80, 0x81])])]
      ]
    }))
    const socket = await connect(target.port)
    socket.write(Buffer.concat([header, Buffer.from('payload')]))
    await waitUntil(() => target.passed.length === 1, 3_000, 'the header with bad UTF-8 to pass')
    const tlvs = proxyHeader(target.passed[0].socket)?.tlvs
    expect(target.passed[0].remoteAddr.toString()).toBe('/ip4/198.51.100.20/tcp/20')
    expect(tlvs?.authority).toBe('a\ufffd\ufffdb')
    expect(tlvs?.alpn).toBe('\ufffd')
    expect(tlvs?.ssl?.cn).toMatch(/^\ufffd+$/)
    expect(tlvs?.aws?.vpceId).toMatch(/^\ufffd+$/)
    expect(tlvs?.notUtf8).toEqual(['authority', 'alpn', 'ssl.cn', 'aws.vpceId'])
    expect(tlvs?.raw.find(({ type }) => type === 0x02)?.value).toEqual(badAuthority)
    expect(tlvs?.ssl?.tlvs[0].value).toEqual(badCn)
    expect(() => JSON.stringify(proxyHeader(target.passed[0].socket), (_key, value) => typeof value === 'bigint' ? String(value) : value)).not.toThrow()
    expect(target.rejected).toEqual([])
  })
})
