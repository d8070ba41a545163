import { InvalidParametersError } from '@libp2p/interface'
import { TestScheduler } from 'rxjs/testing'
import { beforeEach, describe, expect, it } from 'vitest'
import { openingBytes } from '../../operators/opening-bytes.ts'
import { fakeInbounds, marbleScheduler } from '../fixtures/operators-fakes.ts'
import { attempt, connect, realSockets } from '../fixtures/operators-net.ts'
import { within } from '../fixtures/wait.ts'
import type { InboundSocket } from '../../operators/index.ts'
import type { Socket } from 'node:net'

const PREFIX = Buffer.from('\x13/multistream/1.0.0\n')

/** Gives a fake socket a readable side: `feed` queues bytes and emits 'readable', `read` takes them, `unshift` puts them back */
function readable (inbound: InboundSocket): { feed: (bytes: Buffer | string) => void, unread: () => Buffer } {
  const fake = inbound.socket as Socket & { queued: Buffer[] }
  fake.queued = []
  fake.read = () => fake.queued.length === 0 ? null : Buffer.concat(fake.queued.splice(0))
  fake.unshift = (chunk: Buffer) => { fake.queued.unshift(chunk) }
  return {
    feed: (bytes) => {
      fake.queued.push(Buffer.from(bytes))
      fake.emit('readable')
    },
    unread: () => Buffer.concat(fake.queued)
  }
}

describe('openingBytes', () => {
  let scheduler: TestScheduler
  beforeEach(() => { scheduler = marbleScheduler(TestScheduler, expect) })

  it('lets a socket through once its prefix has arrived, bytes unread; rejects a mismatch at once and the silent at the deadline', () => {
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '10.0.0.1', b: '10.0.0.2', c: '10.0.0.3' })
    const a = readable(s.a)
    const c = readable(s.c)
    readable(s.b)
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--b--c----|', s)
      fake.at(3, () => { a.feed(PREFIX.subarray(0, 5)) })
      fake.at(4, () => { a.feed(Buffer.concat([PREFIX.subarray(5), Buffer.from('\x07/noise\n')])) })
      fake.at(9, () => { c.feed('GET / HTTP/1.1\r\n') })
      expectObservable(source.pipe(openingBytes({ prefix: PREFIX, ms: 10, scheduler }), fake.named())).toBe('----a----------|')
      expectSubscriptions(source.subscriptions).toBe('^------------!')
    })
    expect(fake.rejected).toEqual(['c opening-mismatch @9', 'b opening-timeout @15'])
    expect(a.unread().toString()).toBe('\x13/multistream/1.0.0\n\x07/noise\n')
    expect(s.a.socket.listenerCount('readable')).toBe(0)
  })

  it('without a prefix, lets a socket through on its first byte; rejects one whose peer ends first', () => {
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '10.0.0.1', b: '10.0.0.2' })
    const a = readable(s.a)
    readable(s.b)
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('--a--b---|', s)
      fake.at(3, () => { a.feed('x') })
      fake.at(6, () => { s.b.socket.emit('end') })
      expectObservable(source.pipe(openingBytes({ scheduler }), fake.named())).toBe('---a-----|')
    })
    expect(fake.rejected).toEqual(['b opening-ended @6'])
  })

  it('under pressure, each newcomer sheds the longest-waiting socket once it has waited minMs', () => {
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '10.0.0.1', b: '10.0.0.2', c: '10.0.0.3', d: '10.0.0.4' })
    for (const inbound of Object.values(s)) readable(inbound)
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('-ab--c---d--', s)
      expectObservable(source.pipe(openingBytes({ maxWaiting: 2, minMs: 5, ms: 100, scheduler }), fake.named()), '^-----------!').toBe('------------')
    })
    // c arrives when a has waited 4 (< 5): nobody is shed; d arrives when a has waited 8
    expect(fake.rejected).toEqual(['a opening-shed @9', 'b shutdown @12', 'c shutdown @12', 'd shutdown @12'])
  })

  it('forgets a socket that closes while it waits, and checks its options', () => {
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '10.0.0.1' })
    readable(s.a)
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('-a---|', s)
      fake.at(3, () => { s.a.socket.destroy() })
      expectObservable(source.pipe(openingBytes({ ms: 10, scheduler }), fake.named())).toBe('-----|')
    })
    expect(fake.rejected).toEqual([])
    expect(() => openingBytes({ ms: -1 })).toThrow(InvalidParametersError)
    expect(() => openingBytes({ maxWaiting: 1.5 })).toThrow(InvalidParametersError)
  })
})

describe('openingBytes on real sockets', () => {
  const { clients, serve } = realSockets()

  it('upgrades a client that opens with the prefix, with its bytes unread, and refuses garbage and silence', async () => {
    const first: Buffer[] = []
    const served = await serve({
      inbound: openingBytes({ prefix: PREFIX, ms: 300 }),
      lifetime: (accepted) => (lifetime$) => {
        accepted.socket.once('data', (chunk: Buffer) => { first.push(chunk) })
        return lifetime$
      }
    })
    const good = connect(served.port, '127.0.0.2')
    clients.push(good)
    good.socket.write(Buffer.concat([PREFIX, Buffer.from('\x07/noise\n')]))
    const garbage = connect(served.port, '127.0.0.3')
    clients.push(garbage)
    garbage.socket.write('\x16\x03\x01 a TLS hello')
    const [silent, welcomed, refused] = await Promise.all([attempt(served.port, '127.0.0.4', clients), good.outcome, within(garbage.outcome, 3_000, 'the garbage client to be refused')])
    expect([welcomed, refused, silent]).toEqual(['welcome', 'refused', 'refused'])
    expect(Buffer.concat(first).toString()).toBe('\x13/multistream/1.0.0\n\x07/noise\n')
    expect(served.rejections.sort()).toEqual(['127.0.0.3 opening-mismatch', '127.0.0.4 opening-timeout'])
  })
})
