import { InvalidMessageError, InvalidParametersError, TimeoutError } from '@libp2p/interface'
import { tap } from 'rxjs'
import { TestScheduler } from 'rxjs/testing'
import { beforeEach, describe, expect, it } from 'vitest'
import { proxyProtocol } from '../../operators/proxy-protocol/index.ts'
import { fakeInbounds, marbleScheduler } from '../fixtures/operators-fakes.ts'
import { v1Header, v2Header } from '../fixtures/proxy-headers.ts'
import type { InboundSocket } from '../../operators/index.ts'
import type { Socket } from 'node:net'

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
      const source = hot('--a--b--c--d------------------|', s)
      fake.at(4, () => { peers.a.receive(Buffer.concat([v1Header('203.0.113.9', 40000), Buffer.from('payload')])) })
      fake.at(5, () => { peers.b.receive(v1Header('198.51.100.1', 1)) })
      fake.at(10, () => { peers.c.receive('GET / HTTP/1.1\r\n') })
      const result = source.pipe(proxyProtocol({ trusted: ['10.0.0.0/8'], timeout: 15, scheduler }), tap((inbound) => passed.push(inbound)), fake.named())
      expectObservable(result).toBe('----ab------------------------|')
      expectSubscriptions(source.subscriptions).toBe('^-----------------------------!')
    })
    expect(fake.rejected).toEqual(['c proxy-missing @10', 'd proxy-timeout @26'])
    expect(fake.rejectErrors[0]).toBeInstanceOf(InvalidMessageError)
    expect(fake.rejectErrors[1]).toBeInstanceOf(TimeoutError)
    expect(fake.rejectErrors[1].message).toContain('/ip4/10.0.0.5/tcp/50000')
    expect(passed.map(({ remoteAddr }) => remoteAddr.toString())).toEqual(['/ip4/203.0.113.9/tcp/40000', '/ip4/192.0.2.7/tcp/50000'])
    expect({ ...passed[0] }).toMatchObject({ socket: s.a.socket, localAddr: s.a.localAddr, intake: s.a.intake })
    expect(passed[0].reject('later')).toBe(true)
    expect(s.a.reject('later')).toBe(false)
    expect(fake.rejected.at(-1)).toBe('a later @30')
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
      const source = hot('--a-----------|', s)
      fake.at(3, () => { a.receive(header.subarray(0, 5)) })
      fake.at(6, () => { a.receive(header.subarray(5, 20)) })
      fake.at(11, () => { a.receive(Buffer.concat([header.subarray(20), Buffer.from('rest')])) })
      expectObservable(source.pipe(proxyProtocol({ trusted: ['10.0.0.5/32'], timeout: 10, scheduler }), fake.named())).toBe('-----------a--|')
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
      const source = hot('--a-----------|', s)
      fake.at(4, () => { a.receive('PROXY TCP4 1.2.') })
      expectObservable(source.pipe(proxyProtocol({ trusted: ['10.0.0.5/32'], timeout: 10, scheduler }), fake.named())).toBe('--------------|')
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

  it('forgets a socket that closes while it waits, and rejects those still waiting when the source completes', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const c = streamable(s.c.socket)
    streamable(s.a.socket)
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('--a--c-|', s)
      fake.at(4, () => { s.a.socket.destroy() })
      fake.at(9, () => { c.receive(v1Header('::1', 9)) })
      expectObservable(source.pipe(proxyProtocol({ trusted: ['10.0.0.5/32'], scheduler }), fake.named())).toBe('-------|')
    })
    expect(fake.rejected).toEqual(['c shutdown @7'])
    expect(s.c.socket.listenerCount('readable')).toBe(0)
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

  it('rejects the socket alone, \'stage-error\', when onEvent throws for it; the stream and the other sockets go on', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const [a, c] = [s.a, s.c].map(({ socket }) => streamable(socket))
    const onEvent = (_event: unknown, inbound: InboundSocket): void => {
      if (inbound === s.a) throw new Error('a hook that fails')
    }
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('--a--c-----|', s)
      fake.at(3, () => { a.receive(v1Header('203.0.113.9', 1)) })
      fake.at(6, () => { c.receive(v1Header('203.0.113.10', 2)) })
      expectObservable(source.pipe(proxyProtocol({ trusted: ['10.0.0.5/32'], scheduler, onEvent }), fake.named())).toBe('------c----|')
    })
    expect(fake.rejected).toEqual(['a stage-error @3'])
    expect(fake.rejectErrors.map(({ message }) => message)).toEqual(['a hook that fails'])
  })

  it('refuses a bad trusted block and out-of-range bounds', () => {
    expect(() => proxyProtocol({ trusted: ['10.0.0.0/33'] })).toThrow(InvalidParametersError)
    expect(() => proxyProtocol({ trusted: [], timeout: -1 })).toThrow(InvalidParametersError)
    expect(() => proxyProtocol({ trusted: [], maxHeaderBytes: 64 })).toThrow(InvalidParametersError)
  })
})
