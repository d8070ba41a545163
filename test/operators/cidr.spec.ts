import { InvalidParametersError } from '@libp2p/interface'
import { TestScheduler } from 'rxjs/testing'
import { beforeEach, describe, expect, it } from 'vitest'
import { allowCidr, denyCidr } from '../../operators/index.ts'
import { fakeInbounds, marbleScheduler } from '../fixtures/operators-fakes.ts'
import { attempt, realSockets } from '../fixtures/operators-net.ts'

describe('allowCidr', () => {
  let scheduler: TestScheduler
  beforeEach(() => { scheduler = marbleScheduler(TestScheduler, expect) })

  it('lets through only peers inside the blocks, IPv4 and IPv6', () => {
    const fake = fakeInbounds(scheduler)
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const sockets = hot('--a--b--c--d--|', fake.many({ a: '10.0.0.1', b: '192.0.2.7', c: '2001:db8::1', d: '2001:db9::1' }))
      const subs = '^-------------!'
      expectObservable(sockets.pipe(allowCidr(['10.0.0.0/8', '2001:db8::/32']), fake.named())).toBe('--a-----c-----|')
      expectSubscriptions(sockets.subscriptions).toBe(subs)
    })
    expect(fake.rejected).toEqual(['b cidr-not-allowed @5', 'd cidr-not-allowed @11'])
  })

  it('lets unix sockets through and takes a custom reason', () => {
    const fake = fakeInbounds(scheduler)
    scheduler.run(({ hot, expectObservable }) => {
      const sockets = hot('-a-b-|', fake.many({ a: undefined, b: '8.8.8.8' }))
      expectObservable(sockets.pipe(allowCidr(['10.0.0.0/8'], { reason: 'outsider' }), fake.named())).toBe('-a---|')
    })
    expect(fake.rejected).toEqual(['b outsider @3'])
  })

  it('passes errors on and unsubscribes from its source when unsubscribed', () => {
    const fake = fakeInbounds(scheduler)
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const failing = hot('--a--#', fake.many({ a: '10.0.0.1' }))
      expectObservable(failing.pipe(allowCidr(['10.0.0.0/8']), fake.named())).toBe('--a--#')
      expectSubscriptions(failing.subscriptions).toBe('^----!')

      const endless = hot('--a--b--', fake.many({ a: '10.0.0.1', b: '10.0.0.2' }))
      expectObservable(endless.pipe(allowCidr(['10.0.0.0/8']), fake.named()), '^---!').toBe('--a--')
      expectSubscriptions(endless.subscriptions).toBe('^---!')
    })
    expect(fake.rejected).toEqual([])
  })

  it('refuses a malformed block up front', () => {
    expect(() => allowCidr(['10.0.0.0/33'])).toThrow(InvalidParametersError)
    expect(() => allowCidr(['not-an-ip/8'])).toThrow(/not-an-ip\/8/)
  })
})

describe('denyCidr', () => {
  let scheduler: TestScheduler
  beforeEach(() => { scheduler = marbleScheduler(TestScheduler, expect) })

  it('rejects peers inside the blocks, IPv4 and IPv6', () => {
    const fake = fakeInbounds(scheduler)
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const sockets = hot('--a--b--c--d--|', fake.many({ a: '10.0.0.1', b: '192.0.2.7', c: '2001:db8::1', d: undefined }))
      expectObservable(sockets.pipe(denyCidr(['10.0.0.0/8', '2001:db8::/32']), fake.named())).toBe('-----b-----d--|')
      expectSubscriptions(sockets.subscriptions).toBe('^-------------!')
    })
    expect(fake.rejected).toEqual(['a cidr-denied @2', 'c cidr-denied @8'])
  })

  it('passes errors on and unsubscribes from its source when unsubscribed', () => {
    const fake = fakeInbounds(scheduler)
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const failing = hot('--a--b--#', fake.many({ a: '10.0.0.1', b: '192.0.2.1' }))
      expectObservable(failing.pipe(denyCidr(['10.0.0.0/8']), fake.named())).toBe('-----b--#')
      expectSubscriptions(failing.subscriptions).toBe('^-------!')

      const endless = hot('--a--b--', fake.many({ a: '192.0.2.2', b: '192.0.2.3' }))
      expectObservable(endless.pipe(denyCidr(['10.0.0.0/8']), fake.named()), '^---!').toBe('--a--')
      expectSubscriptions(endless.subscriptions).toBe('^---!')
    })
  })

  it('refuses a malformed block up front', () => {
    expect(() => denyCidr(['::1/200'])).toThrow(InvalidParametersError)
  })
})

describe('CIDR operators on real sockets', () => {
  const { clients, serve } = realSockets()

  it('allowCidr destroys sockets from outside the blocks and keeps the others', async () => {
    const served = await serve({ inbound: allowCidr(['127.0.0.0/30']) })
    const outcomes = await Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.9'].map(async (ip) => attempt(served.port, ip, clients)))
    expect(outcomes).toEqual(['welcome', 'welcome', 'refused', 'refused'])
    expect(served.rejections.sort()).toEqual(['127.0.0.4 cidr-not-allowed', '127.0.0.9 cidr-not-allowed'])
    expect(served.open()).toBe(2)
  })

  it('denyCidr destroys sockets from inside the blocks and keeps the others', async () => {
    const served = await serve({ inbound: denyCidr(['127.0.0.3/32', '127.0.1.0/24']) })
    const outcomes = await Promise.all(['127.0.0.2', '127.0.0.3', '127.0.1.7'].map(async (ip) => attempt(served.port, ip, clients)))
    expect(outcomes).toEqual(['welcome', 'refused', 'refused'])
    expect(served.rejections.sort()).toEqual(['127.0.0.3 cidr-denied', '127.0.1.7 cidr-denied'])
    expect(served.open()).toBe(1)
  })
})
