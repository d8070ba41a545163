import { InvalidParametersError } from '@libp2p/interface'
import { NEVER, of } from 'rxjs'
import { TestScheduler } from 'rxjs/testing'
import { beforeEach, describe, expect, it } from 'vitest'
import { upgradeCap } from '../../operators/index.ts'
import { fakeInbounds, marbleScheduler } from '../fixtures/operators-fakes.ts'
import { attempt, realSockets } from '../fixtures/operators-net.ts'
import { waitUntil } from '../fixtures/wait.ts'
import type { InboundSocket, LifetimeOperator } from '../../operators/index.ts'

describe('upgradeCap', () => {
  let scheduler: TestScheduler
  beforeEach(() => { scheduler = marbleScheduler(TestScheduler, expect) })

  const sockets = (fake: ReturnType<typeof fakeInbounds>): Record<'a' | 'b' | 'c' | 'd' | 'e', InboundSocket> =>
    fake.many({ a: '10.0.0.1', b: '10.0.0.2', c: '10.0.0.3', d: '10.0.0.4', e: '10.0.0.5' })

  it('with backpressure, pauses intake at the cap, queues accepted sockets and resumes below it', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const cap = upgradeCap({ max: 2 })
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--b--c--d--e-----------|', s)
      fake.at(17, () => { cap.lifetime(s.a)(of('upgraded')).subscribe() })
      fake.at(20, () => { s.b.socket.destroy() })
      fake.at(23, () => { cap.lifetime(s.c)(of('upgraded')).subscribe() })
      expectObservable(source.pipe(cap.inbound, fake.named())).toBe('--a--b-----------c--d-----|')
      expectSubscriptions(source.subscriptions).toBe('^-------------------------!')
    })
    expect(fake.rejected).toEqual(['e upgrades-in-flight @14'])
    expect(fake.intakeCalls).toEqual(['pause upgrades-in-flight @5', 'resume upgrades-in-flight @23'])
  })

  it('with drop, rejects sockets over the cap and never touches intake', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const cap = upgradeCap({ max: 2, policy: 'drop' })
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--b--c--d--|', s)
      fake.at(9, () => { cap.lifetime(s.a)(NEVER).subscribe().unsubscribe() })
      expectObservable(source.pipe(cap.inbound, fake.named())).toBe('--a--b-----d--|')
      expectSubscriptions(source.subscriptions).toBe('^-------------!')
    })
    expect(fake.rejected).toEqual(['c upgrades-in-flight @8'])
    expect(fake.intakeCalls).toEqual([])
  })

  it('rejects the queued sockets and resumes intake when unsubscribed', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const cap = upgradeCap({ max: 2 })
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--b--c--d----', s)
      expectObservable(source.pipe(cap.inbound, fake.named()), '^-----------!').toBe('--a--b-------')
      expectSubscriptions(source.subscriptions).toBe('^-----------!')
    })
    expect(fake.rejected).toEqual(['c shutdown @12', 'd shutdown @12'])
    expect(fake.intakeCalls).toEqual(['pause upgrades-in-flight @5', 'resume upgrades-in-flight @12'])
    expect(s.a.socket.listenerCount('close')).toBe(0)
  })

  it('releases its queue before completing, without resuming intake', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const cap = upgradeCap({ max: 2 })
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--b--c--|', s)
      fake.at(14, () => { s.a.socket.destroy() })
      expectObservable(source.pipe(cap.inbound, fake.named())).toBe('--a--b--------(c|)')
      expectSubscriptions(source.subscriptions).toBe('^----------!')
    })
    expect(fake.rejected).toEqual([])
    expect(fake.intakeCalls).toEqual(['pause upgrades-in-flight @5'])
  })

  it('fails at once on error, rejecting its queue', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const cap = upgradeCap({ max: 1, reason: 'busy', shutdownReason: 'gone' })
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--b--#', s)
      expectObservable(source.pipe(cap.inbound, fake.named())).toBe('--a-----#')
      expectSubscriptions(source.subscriptions).toBe('^-------!')
    })
    expect(fake.rejected).toEqual(['b gone @8'])
    expect(fake.intakeCalls).toEqual(['pause busy @2'])
  })

  it('forgets a queued socket that closes while it waits', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const cap = upgradeCap({ max: 1, maxQueued: 2 })
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('--a--b--c--|', s)
      fake.at(6, () => { s.b.socket.destroy() })
      fake.at(9, () => { cap.lifetime(s.a)(of('upgraded')).subscribe() })
      expectObservable(source.pipe(cap.inbound, fake.named())).toBe('--a------c-|')
    })
    expect(fake.rejected).toEqual([])
    expect(fake.intakeCalls).toEqual(['pause upgrades-in-flight @2'])
  })

  it('types its lifetime half as a transport LifetimeOperator', () => {
    const lifetime: LifetimeOperator = upgradeCap({ max: 1 }).lifetime
    expect(lifetime).toBeTypeOf('function')
    expect(() => upgradeCap({ max: 0 })).toThrow(InvalidParametersError)
  })
})

describe('upgradeCap on real sockets', () => {
  const { clients, serve } = realSockets()

  it('with backpressure, stops accepting while upgrades fill the cap and listens again after', async () => {
    const cap = upgradeCap({ max: 2 })
    const served = await serve({ inbound: cap.inbound, lifetime: cap.lifetime, upgradeMs: 500 })
    const { port, server } = served
    const upgrading = Promise.all([attempt(port, '127.0.0.2', clients), attempt(port, '127.0.0.3', clients)])
    await waitUntil(() => !server.listening, 2_000, 'intake to pause at two upgrades in flight')
    expect(await attempt(port, '127.0.0.4', clients)).toBe('refused')
    expect(await upgrading).toEqual(['welcome', 'welcome'])
    await waitUntil(() => server.listening, 2_000, 'intake to resume once the upgrades finished')
    expect(await attempt(port, '127.0.0.5', clients)).toBe('welcome')
    expect(served.rejections).toEqual([])
  })

  it('with drop, destroys sockets over the cap', async () => {
    const cap = upgradeCap({ max: 1, policy: 'drop' })
    const served = await serve({ inbound: cap.inbound, lifetime: cap.lifetime, upgradeMs: 500 })
    const upgrading = attempt(served.port, '127.0.0.2', clients)
    await waitUntil(() => served.open() === 1, 2_000, 'the first socket to be in upgrade')
    expect(await attempt(served.port, '127.0.0.3', clients)).toBe('refused')
    expect(await upgrading).toBe('welcome')
    expect(served.rejections).toEqual(['127.0.0.3 upgrades-in-flight'])
    expect(await attempt(served.port, '127.0.0.4', clients)).toBe('welcome')
  })
})
