import net from 'node:net'
import { InvalidMessageError, InvalidParametersError, TimeoutError } from '@libp2p/interface'
import { Subject, tap } from 'rxjs'
import { TestScheduler } from 'rxjs/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { acceptSockets, proxyProtocol } from '../../operators/index.ts'
import { fakeInbounds, marbleScheduler } from '../fixtures/operators-fakes.ts'
import { v1Header, v2Header } from '../fixtures/proxy-headers.ts'
import { destroyAll } from '../fixtures/raw-sockets.ts'
import { waitForEvent, within } from '../fixtures/wait.ts'
import type { InboundSocket } from '../../operators/index.ts'
import type { Socket } from 'node:net'
import type { Subscription } from 'rxjs'

/**
 * Gives a fake socket the paused-mode half of a readable stream: bytes the
 * peer sends wait in a buffer and are announced with 'readable', `read()`
 * takes them all, `unshift()` puts bytes back in front.
 */
function streamable (socket: Socket): { receive: (bytes: string | Buffer) => void, end: () => void, buffered: () => Buffer } {
  let buffered = Buffer.alloc(0)
  const fake = socket as unknown as Record<string, unknown>
  fake.read = () => {
    if (buffered.length === 0) {
      return null
    }
    const all = buffered
    buffered = Buffer.alloc(0)
    return all
  }
  fake.unshift = (bytes: Buffer) => { buffered = Buffer.concat([bytes, buffered]) }
  return {
    receive: (bytes) => {
      buffered = Buffer.concat([buffered, Buffer.from(bytes)])
      socket.emit('readable')
    },
    end: () => {
      socket.emit('readable')
      socket.emit('end')
    },
    buffered: () => buffered
  }
}

describe('proxyProtocol', () => {
  let scheduler: TestScheduler
  beforeEach(() => { scheduler = marbleScheduler(TestScheduler, expect) })

  /** a, c, d, e, f come from the balancer 10.0.0.5, b from elsewhere */
  const sockets = (fake: ReturnType<typeof fakeInbounds>): Record<'a' | 'b' | 'c' | 'd' | 'e' | 'f', InboundSocket> =>
    fake.many({ a: '10.0.0.5', b: '192.0.2.7', c: '10.0.0.5', d: '10.0.0.5', e: '10.0.0.5', f: '10.0.0.5' })

  it('passes a header\'s client at once, an untrusted socket untouched, and rejects garbage and a stall', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const peers = Object.fromEntries(Object.entries(s).map(([name, inbound]) => [name, streamable(inbound.socket)]))
    const passed: InboundSocket[] = []
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--b--c--d--------|', s)
      fake.at(4, () => { peers.a.receive(Buffer.concat([v1Header('203.0.113.9', 40000), Buffer.from('payload')])) })
      fake.at(5, () => { peers.b.receive(v1Header('198.51.100.1', 1)) })
      fake.at(10, () => { peers.c.receive('GET / HTTP/1.1\r\n') })
      const result = source.pipe(proxyProtocol({ trusted: ['10.0.0.0/8'], timeout: 15, scheduler }), tap((inbound) => passed.push(inbound)), fake.named())
      expectObservable(result).toBe('----ab--------------------|')
      expectSubscriptions(source.subscriptions).toBe('^-------------------!')
    })
    expect(fake.rejected).toEqual(['c proxy-missing @10', 'd proxy-timeout @26'])
    expect(fake.rejectErrors[0]).toBeInstanceOf(InvalidMessageError)
    expect(fake.rejectErrors[1]).toBeInstanceOf(TimeoutError)
    expect(fake.rejectErrors[1].message).toContain('/ip4/10.0.0.5/tcp/50000')
    expect(passed.map(({ remoteAddr }) => remoteAddr.toString())).toEqual(['/ip4/203.0.113.9/tcp/40000', '/ip4/192.0.2.7/tcp/50000'])
    expect({ ...passed[0] }).toMatchObject({ socket: s.a.socket, localAddr: s.a.localAddr, intake: s.a.intake })
    expect(passed[0].reject('later')).toBe(true)
    expect(s.a.reject('later')).toBe(false)
    expect(fake.rejected.at(-1)).toBe('a later @26')
    expect(peers.a.buffered().toString()).toBe('payload')
    // the untrusted socket's header is left for the upgrade to refuse
    expect(peers.b.buffered()).toEqual(v1Header('198.51.100.1', 1))
  })

  it('waits for a header that arrives in pieces, within the timeout', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const a = streamable(s.a.socket)
    const header = v2Header({ ip: '2001:db8::7', port: 443, tlvs: [[0x04, Buffer.from('noop')]] })
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('--a------|', s)
      fake.at(3, () => { a.receive(header.subarray(0, 5)) })
      fake.at(6, () => { a.receive(header.subarray(5, 20)) })
      fake.at(11, () => { a.receive(Buffer.concat([header.subarray(20), Buffer.from('rest')])) })
      expectObservable(source.pipe(proxyProtocol({ trusted: ['10.0.0.5/32'], timeout: 10, scheduler }), fake.named())).toBe('-----------(a|)')
    })
    expect(fake.rejected).toEqual([])
    expect(a.buffered().toString()).toBe('rest')
    expect(s.a.socket.listenerCount('readable')).toBe(0)
  })

  it('rejects a header that is still incomplete at the timeout', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const a = streamable(s.a.socket)
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('--a--|', s)
      fake.at(4, () => { a.receive('PROXY TCP4 1.2.') })
      expectObservable(source.pipe(proxyProtocol({ trusted: ['10.0.0.5/32'], timeout: 10, scheduler }), fake.named())).toBe('------------|')
    })
    expect(fake.rejected).toEqual(['a proxy-timeout @12'])
  })

  it('rejects malformed and oversized headers, and a peer that ends inside a header or before one', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const [a, c, d, e, f] = [s.a, s.c, s.d, s.e, s.f].map(({ socket }) => streamable(socket))
    const oversized = v2Header({ ip: '203.0.113.9', port: 1, tlvs: [[0x04, Buffer.alloc(300)]] })
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('--(acdef)--|', s)
      fake.at(3, () => { a.receive('PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n') })
      fake.at(4, () => { c.receive(oversized) })
      fake.at(5, () => { d.receive('PROXY TCP4 1.2') })
      fake.at(6, () => { d.end() })
      fake.at(7, () => { e.end() })
      fake.at(8, () => { f.receive('PROXZ') })
      expectObservable(source.pipe(proxyProtocol({ trusted: ['10.0.0.5/32'], maxHeaderBytes: 256, scheduler }), fake.named())).toBe('-----------|')
    })
    expect(fake.rejected).toEqual(['a proxy-malformed @3', 'c proxy-malformed @4', 'd proxy-malformed @6', 'e proxy-missing @7', 'f proxy-malformed @8'])
    expect(fake.rejectErrors.map(({ message }) => message)).toEqual([
      'malformed PROXY header from /ip4/10.0.0.5/tcp/50000: v1: port out of range',
      'malformed PROXY header from /ip4/10.0.0.5/tcp/50000: v2 header of 331 bytes, more than 256',
      'malformed PROXY header from /ip4/10.0.0.5/tcp/50000: the connection ended inside it',
      'no PROXY header from /ip4/10.0.0.5/tcp/50000: the connection ended first',
      'malformed PROXY header from /ip4/10.0.0.5/tcp/50000: not a PROXY protocol signature'
    ])
  })

  it('with optional, lets a trusted socket without a header through at its first byte, bytes intact', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const a = streamable(s.a.socket)
    const c = streamable(s.c.socket)
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('--a--c--|', s)
      fake.at(3, () => { a.receive('\x13/multistream/1.0.0\n') })
      fake.at(6, () => { c.end() })
      expectObservable(source.pipe(proxyProtocol({ trusted: ['10.0.0.5/32'], optional: true, scheduler }), fake.named())).toBe('---a--c-|')
    })
    expect(fake.rejected).toEqual([])
    expect(a.buffered().toString()).toBe('\x13/multistream/1.0.0\n')
  })

  it('forgets a socket that closes while it waits, and finishes waiting ones before completing', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const c = streamable(s.c.socket)
    streamable(s.a.socket)
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('--a--c-|', s)
      fake.at(4, () => { s.a.socket.destroy() })
      fake.at(9, () => { c.receive(v1Header('::1', 9)) })
      expectObservable(source.pipe(proxyProtocol({ trusted: ['10.0.0.5/32'], scheduler }), fake.named())).toBe('---------(c|)')
    })
    expect(fake.rejected).toEqual([])
    expect(s.a.socket.listenerCount('close')).toBe(0)
  })

  it('rejects the sockets still waiting when unsubscribed or when the source fails, and leaves no listener', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    for (const inbound of Object.values(s)) {
      streamable(inbound.socket)
    }
    scheduler.run(({ hot, expectObservable }) => {
      const unsubscribed = hot('--a----', s)
      const failed = hot('-----c--#', s)
      expectObservable(unsubscribed.pipe(proxyProtocol({ trusted: ['10.0.0.5/32'], scheduler, shutdownReason: 'closing' }), fake.named()), '^---!').toBe('-----')
      expectObservable(failed.pipe(proxyProtocol({ trusted: ['10.0.0.5/32'], scheduler }), fake.named())).toBe('--------#')
    })
    expect(fake.rejected).toEqual(['a closing @4', 'c shutdown @8'])
    for (const inbound of [s.a, s.c]) {
      expect(['readable', 'end', 'close'].map((event) => inbound.socket.listenerCount(event))).toEqual([0, 0, 0])
    }
  })

  it('adds nothing to an untrusted socket: no listener, no read', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('--b--|', s)
      expectObservable(source.pipe(proxyProtocol({ trusted: ['10.0.0.0/8'], scheduler }), fake.named())).toBe('--b--|')
    })
    expect(s.b.socket.eventNames()).toEqual([])
  })

  it('refuses a bad trusted block and out-of-range bounds', () => {
    expect(() => proxyProtocol({ trusted: ['10.0.0.0/33'] })).toThrow(InvalidParametersError)
    expect(() => proxyProtocol({ trusted: [], timeout: -1 })).toThrow(InvalidParametersError)
    expect(() => proxyProtocol({ trusted: [], maxHeaderBytes: 64 })).toThrow(InvalidParametersError)
  })
})

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

  it('skips the TLVs of a v2 header', async () => {
    const target = await balanced({ trusted: ['127.0.0.1/32'] })
    const header = v2Header({ ip: '198.51.100.6', port: 5, tlvs: [[0x01, bytes('h2')], [0x05, bytes('unique-id-0123456789')], [0x20, Buffer.from([0x01, 0, 0, 0, 0])]] })
    expect(await arrival(target, [Buffer.concat([header, bytes('\r\n\r\nafter')])], target)).toEqual({ remoteAddr: '/ip4/198.51.100.6/tcp/5', bytes: '\r\n\r\nafter' })
  })

  it('gives IPv6 clients of v1 and v2 headers as /ip6, IPv4-mapped ones as /ip4, behind a balancer on ::1', async () => {
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
