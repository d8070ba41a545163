import { InvalidParametersError } from '@libp2p/interface'
import { VirtualTimeScheduler } from 'rxjs'
import { TestScheduler } from 'rxjs/testing'
import { beforeEach, describe, expect, it } from 'vitest'
import { perSubnetRateLimit } from '../../operators/index.ts'
import { fakeInbounds, marbleScheduler } from '../fixtures/operators-fakes.ts'
import { attempt, realSockets } from '../fixtures/operators-net.ts'

describe('perSubnetRateLimit', () => {
  let scheduler: TestScheduler
  beforeEach(() => { scheduler = marbleScheduler(TestScheduler, expect) })

  it('lets a subnet burst, then refills it at the rate, in virtual time', () => {
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '10.0.0.1', b: '10.0.0.1', c: '10.0.0.1', x: '10.0.0.9', d: '10.0.0.1', e: '10.0.0.1', f: '10.0.0.1' })
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      // 100/s: a token every 10 frames
      const sockets = hot('ab-cx-------d-e------f-|', s)
      const limited = sockets.pipe(perSubnetRateLimit({ rate: 100, burst: 2, scheduler }), fake.named())
      expectObservable(limited).toBe('ab--x-------d--------f-|')
      expectSubscriptions(sockets.subscriptions).toBe('^----------------------!')
    })
    expect(fake.rejected).toEqual(['c subnet-rate-limit @3', 'e subnet-rate-limit @14'])
  })

  it('keeps a bucket per subscription and runs on asyncScheduler by default', () => {
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '2001:db8::1', b: '2001:db8::2', c: '2001:db8:0:100::1', d: '2001:db8::3' })
    scheduler.run(({ hot, expectObservable }) => {
      const limit = perSubnetRateLimit({ rate: 1, burst: 1 })
      expectObservable(hot('-a-b-c-|', s).pipe(limit, fake.named())).toBe('-a---c-|')
      expectObservable(hot('-------d 1s |', s).pipe(limit, fake.named())).toBe('-------d 1s |')
    })
    expect(fake.rejected).toEqual(['b subnet-rate-limit @3'])
  })

  it('passes errors on and unsubscribes from its source when unsubscribed', () => {
    const fake = fakeInbounds(scheduler)
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const failing = hot('-a-a-#', { a: fake.inbound('a', '10.0.0.1') })
      expectObservable(failing.pipe(perSubnetRateLimit({ rate: 1, burst: 5, scheduler }), fake.named())).toBe('-a-a-#')
      expectSubscriptions(failing.subscriptions).toBe('^----!')

      const endless = hot('-a--b-', fake.many({ a: '10.0.0.1', b: '10.0.0.2' }))
      expectObservable(endless.pipe(perSubnetRateLimit({ rate: 1, burst: 1, scheduler }), fake.named()), '^--!').toBe('-a--')
      expectSubscriptions(endless.subscriptions).toBe('^--!')
    })
  })

  it('refuses a rate or burst that admits nothing', () => {
    expect(() => perSubnetRateLimit({ rate: 0, burst: 1 })).toThrow(InvalidParametersError)
    expect(() => perSubnetRateLimit({ rate: 1, burst: 0 })).toThrow(InvalidParametersError)
  })
})

describe('perSubnetRateLimit on real sockets', () => {
  const { clients, serve } = realSockets()

  it('refuses a source beyond its burst, spares other sources, and refills', async () => {
    // a virtual clock, moved by hand: 2/s earns a token back in exactly 500 ms
    const clock = new VirtualTimeScheduler()
    const advanceTo = (ms: number): void => {
      clock.schedule(() => {}, ms - clock.now())
      clock.flush()
    }
    const served = await serve({ inbound: perSubnetRateLimit({ rate: 2, burst: 2, scheduler: clock }) })
    const from2 = []
    for (let i = 0; i < 3; i++) {
      from2.push(await attempt(served.port, '127.0.0.2', clients))
    }
    expect(from2).toEqual(['welcome', 'welcome', 'refused'])
    expect(await attempt(served.port, '127.0.0.3', clients)).toBe('welcome')
    expect(served.rejections).toEqual(['127.0.0.2 subnet-rate-limit'])

    advanceTo(499)
    expect(await attempt(served.port, '127.0.0.2', clients)).toBe('refused')
    advanceTo(500)
    expect(await attempt(served.port, '127.0.0.2', clients)).toBe('welcome')
    expect(served.rejections).toEqual(['127.0.0.2 subnet-rate-limit', '127.0.0.2 subnet-rate-limit'])
  })
})
