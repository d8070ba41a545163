import { InvalidParametersError, TimeoutError } from '@libp2p/interface'
import { TestScheduler } from 'rxjs/testing'
import { beforeEach, describe, expect, it } from 'vitest'
import { pipe } from 'rxjs'
import { metricsTap, upgradeCap, upgradeDeadline } from '../../operators/index.ts'
import { fakeInbounds, marbleScheduler } from '../fixtures/operators-fakes.ts'
import { attempt, realSockets } from '../fixtures/operators-net.ts'
import type { LifetimeOperator } from '../../operators/index.ts'
import type { MultiaddrConnection } from '@libp2p/interface'

describe('upgradeDeadline', () => {
  let scheduler: TestScheduler
  beforeEach(() => { scheduler = marbleScheduler(TestScheduler, expect) })

  it('lets a connection made in time live on', () => {
    const fake = fakeInbounds(scheduler)
    const a = fake.inbound('a', '10.0.0.1')
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const lifetime = cold('------c-----|')
      expectObservable(lifetime.pipe(upgradeDeadline({ ms: 8, scheduler })(a))).toBe('------c-----|')
      expectSubscriptions(lifetime.subscriptions).toBe('^-----------!')
    })
    expect(fake.rejected).toEqual([])
  })

  it('rejects the socket, cancels the upgrade and completes when the deadline passes first', () => {
    const fake = fakeInbounds(scheduler)
    const a = fake.inbound('a', '10.0.0.1')
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const lifetime = cold('----------c--|')
      expectObservable(lifetime.pipe(upgradeDeadline({ ms: 8 })(a))).toBe('--------|')
      expectSubscriptions(lifetime.subscriptions).toBe('^-------!')
    })
    expect(fake.rejected).toEqual(['a upgrade-timeout @8'])
    expect(fake.rejectErrors[0]).toBeInstanceOf(TimeoutError)
    expect(fake.rejectErrors[0].message).toMatch('/ip4/10.0.0.1/tcp/50000')
  })

  it('passes a failed upgrade on and does nothing once unsubscribed', () => {
    const fake = fakeInbounds(scheduler)
    const a = fake.inbound('a', '10.0.0.1')
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const failing = cold('---#')
      expectObservable(failing.pipe(upgradeDeadline({ ms: 8, scheduler })(a))).toBe('---#')
      expectSubscriptions(failing.subscriptions).toBe('^--!')

      const slow = cold('----------c')
      expectObservable(slow.pipe(upgradeDeadline({ ms: 8, scheduler, reason: 'slow' })(a)), '^--!').toBe('---')
      expectSubscriptions(slow.subscriptions).toBe('^--!')
    })
    expect(fake.rejected).toEqual([])
  })

  it('types as a transport LifetimeOperator and refuses a negative deadline', () => {
    const lifetime: LifetimeOperator = upgradeDeadline({ ms: 1 })
    expect(lifetime).toBeTypeOf('function')
    expect(() => upgradeDeadline({ ms: -1 })).toThrow(InvalidParametersError)
  })
})

describe('upgradeDeadline on real sockets', () => {
  const { clients, serve } = realSockets()

  it('destroys a socket whose upgrade is too slow', async () => {
    const served = await serve({ lifetime: upgradeDeadline({ ms: 50 }), upgradeMs: 2_000 })
    expect(await attempt(served.port, '127.0.0.2', clients)).toBe('refused')
    expect(served.rejections).toEqual(['127.0.0.2 upgrade-timeout'])
    expect(served.upgraded).toEqual([])
  })

  it('keeps a socket upgraded in time', async () => {
    const served = await serve({ lifetime: upgradeDeadline({ ms: 1_000 }), upgradeMs: 10 })
    expect(await attempt(served.port, '127.0.0.2', clients)).toBe('welcome')
    expect(served.rejections).toEqual([])
    expect(served.open()).toBe(1)
  })
})

describe('lifetime hooks together', () => {
  it('compose with pipe into one transport LifetimeOperator', () => {
    const scheduler = marbleScheduler(TestScheduler, expect)
    const fake = fakeInbounds(scheduler)
    const deadline = upgradeDeadline({ ms: 5, scheduler })
    const cap = upgradeCap({ max: 1 })
    const tapped = metricsTap()
    const lifetime: LifetimeOperator = (socket) => pipe(deadline(socket), cap.lifetime(socket), tapped.lifetime(socket))
    const a = fake.inbound('a', '10.0.0.1')
    scheduler.run(({ cold, expectObservable }) => {
      const connection = {} as unknown as MultiaddrConnection
      expectObservable(cold('--c--|', { c: connection }).pipe(lifetime(a))).toBe('--c--|', { c: connection })
      expectObservable(cold('--------c--|', { c: connection }).pipe(lifetime(a))).toBe('-----|')
    })
    expect(fake.rejected).toEqual(['a upgrade-timeout @5'])
  })
})
