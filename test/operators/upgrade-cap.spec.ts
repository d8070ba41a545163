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

  it('by default, lets sockets at the cap wait unread for a slot, in order, and never touches intake', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const cap = upgradeCap({ max: 2 })
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--b--c--d--e-----------|', s)
      fake.at(17, () => { cap.lifetime(s.a)(of('upgraded')).subscribe() })
      fake.at(20, () => { s.b.socket.destroy() })
      fake.at(23, () => { cap.lifetime(s.c)(of('upgraded')).subscribe() })
      expectObservable(source.pipe(cap.inbound, fake.named())).toBe('--a--b-----------c--d--e--|')
      expectSubscriptions(source.subscriptions).toBe('^-------------------------!')
    })
    expect(fake.rejected).toEqual([])
    expect(fake.intakeCalls).toEqual([])
  })

  it('sheds sockets past maxWaiting with a reason of their own', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const cap = upgradeCap({ max: 2, maxWaiting: 2 })
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('--a--b--c--d--e-----------|', s)
      fake.at(17, () => { cap.lifetime(s.a)(of('upgraded')).subscribe() })
      fake.at(20, () => { cap.lifetime(s.b)(of('upgraded')).subscribe() })
      expectObservable(source.pipe(cap.inbound, fake.named())).toBe('--a--b-----------c--d-----|')
    })
    expect(fake.rejected).toEqual(['e upgrade-queue-full @14'])
    expect(fake.intakeCalls).toEqual([])
  })

  it('rejects a socket that waited maxWait for a slot, and serves the next one in its place', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    scheduler.run(({ hot, expectObservable }) => {
      const cap = upgradeCap({ max: 1, maxWait: 10, scheduler })
      const source = hot('--a--b--c-------------|', s)
      fake.at(16, () => { cap.lifetime(s.a)(of('upgraded')).subscribe() })
      expectObservable(source.pipe(cap.inbound, fake.named())).toBe('--a-------------c-----|')
    })
    expect(fake.rejected).toEqual(['b upgrade-wait-timeout @15'])
    expect(fake.rejectErrors.map(({ name }) => name)).toEqual(['TimeoutError'])
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

  it('with close-server, pauses intake at the cap and resumes at its low-water mark, not one below', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const cap = upgradeCap({ max: 4, policy: 'close-server', listenBelow: 2 })
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('--a--b--c--d--e-----------|', s)
      fake.at(17, () => { cap.lifetime(s.a)(of('upgraded')).subscribe() })
      fake.at(19, () => { cap.lifetime(s.b)(of('upgraded')).subscribe() })
      fake.at(21, () => { cap.lifetime(s.c)(of('upgraded')).subscribe() })
      fake.at(23, () => { cap.lifetime(s.d)(of('upgraded')).subscribe() })
      expectObservable(source.pipe(cap.inbound, fake.named())).toBe('--a--b--c--d-----e--------|')
    })
    // 4 in upgrade at 11; 4 (e waiting) at 17, 3 at 19, 2 at 21, 1 at 23: below 2
    expect(fake.intakeCalls).toEqual(['pause upgrades-in-flight @11', 'resume upgrades-in-flight @23'])
    expect(fake.rejected).toEqual([])
  })

  it('with close-server, rejects the waiting sockets and resumes intake when unsubscribed', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const cap = upgradeCap({ max: 2, policy: 'close-server' })
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--b--c--d----', s)
      expectObservable(source.pipe(cap.inbound, fake.named()), '^-----------!').toBe('--a--b-------')
      expectSubscriptions(source.subscriptions).toBe('^-----------!')
    })
    expect(fake.rejected).toEqual(['c shutdown @12', 'd shutdown @12'])
    expect(fake.intakeCalls).toEqual(['pause upgrades-in-flight @5', 'resume upgrades-in-flight @12'])
    expect(s.a.socket.listenerCount('close')).toBe(0)
  })

  it('releases its waiting sockets before completing, without resuming intake', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const cap = upgradeCap({ max: 2, policy: 'close-server' })
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--b--c--|', s)
      fake.at(14, () => { s.a.socket.destroy() })
      expectObservable(source.pipe(cap.inbound, fake.named())).toBe('--a--b--------(c|)')
      expectSubscriptions(source.subscriptions).toBe('^----------!')
    })
    expect(fake.rejected).toEqual([])
    expect(fake.intakeCalls).toEqual(['pause upgrades-in-flight @5'])
  })

  it('completes once the last waiting socket is gone after its source completed', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    scheduler.run(({ hot, expectObservable }) => {
      const cap = upgradeCap({ max: 1, maxWait: 6, scheduler })
      const source = hot('--a--b--|', s)
      expectObservable(source.pipe(cap.inbound, fake.named())).toBe('--a--------|')
    })
    expect(fake.rejected).toEqual(['b upgrade-wait-timeout @11'])
  })

  it('fails at once on error, rejecting its waiting sockets', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const cap = upgradeCap({ max: 1, policy: 'close-server', reason: 'busy', shutdownReason: 'gone' })
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--b--#', s)
      expectObservable(source.pipe(cap.inbound, fake.named())).toBe('--a-----#')
      expectSubscriptions(source.subscriptions).toBe('^-------!')
    })
    expect(fake.rejected).toEqual(['b gone @8'])
    expect(fake.intakeCalls).toEqual(['pause busy @2'])
  })

  it('forgets a waiting socket that closes while it waits', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const cap = upgradeCap({ max: 1, maxWaiting: 2 })
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('--a--b--c--|', s)
      fake.at(6, () => { s.b.socket.destroy() })
      fake.at(9, () => { cap.lifetime(s.a)(of('upgraded')).subscribe() })
      expectObservable(source.pipe(cap.inbound, fake.named())).toBe('--a------c-|')
    })
    expect(fake.rejected).toEqual([])
    expect(fake.intakeCalls).toEqual([])
  })

  it('follows each socket to its end through its closed$, and stops when the slot is freed', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const cap = upgradeCap({ max: 1 })
    scheduler.run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      // a closes by its closed$ alone at 6 (its socket emits no 'close'); b's slot is freed by its lifetime at 12
      const aClosed = cold<void>('----(x|)')
      const bClosed = cold<void>('-------------------(x|)')
      const a = { ...s.a, closed$: aClosed }
      const b = { ...s.b, closed$: bClosed }
      const source = hot('--a--b---------|', { a, b })
      fake.at(12, () => { cap.lifetime(b)(of('upgraded')).subscribe() })
      expectObservable(source.pipe(cap.inbound, fake.named())).toBe('--a---b--------|')
      expectSubscriptions(aClosed.subscriptions).toBe('--^---!')
      // b is watched while it waits (5 to 6), then while it holds its slot (6 to 12)
      expectSubscriptions(bClosed.subscriptions).toBe(['-----^!', '------^-----!'])
    })
    expect(s.a.socket.listenerCount('close')).toBe(0)
  })

  it('rejects the socket alone when pausing intake for it throws', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const cap = upgradeCap({ max: 1, policy: 'close-server' })
    const broken = { ...s.a, intake: { pause: () => { throw new Error('no pause') }, resume: () => {} } }
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('--a--b--|', { a: broken, b: s.b })
      expectObservable(source.pipe(cap.inbound, fake.named())).toBe('-----b--|')
    })
    expect(fake.rejected).toEqual(['a stage-error @2'])
    expect(fake.intakeCalls).toEqual(['pause upgrades-in-flight @5'])
  })

  it('errors its stream, never throws from a lifetime, when resuming intake throws', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const cap = upgradeCap({ max: 1, policy: 'close-server' })
    const broken = { ...s.a, intake: { pause: () => {}, resume: () => { throw new Error('no resume') } } }
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a-------', { a: broken })
      fake.at(5, () => { cap.lifetime(broken)(of('upgraded')).subscribe() })
      expectObservable(source.pipe(cap.inbound, fake.named())).toBe('--a--#', undefined, new Error('no resume'))
      expectSubscriptions(source.subscriptions).toBe('^----!')
    })
  })

  it('destroys a waiting socket whose deadline passed even when its reject throws, and goes on', () => {
    const fake = fakeInbounds(scheduler)
    const s = sockets(fake)
    const b = { ...s.b, reject: () => { throw new Error('reject bug') } }
    scheduler.run(({ hot, expectObservable }) => {
      const cap = upgradeCap({ max: 1, maxWait: 4, scheduler })
      const source = hot('--a--b-------c--|', { a: s.a, b, c: s.c })
      fake.at(11, () => { cap.lifetime(s.a)(of('upgraded')).subscribe() })
      expectObservable(source.pipe(cap.inbound, fake.named())).toBe('--a----------c--|')
    })
    expect(s.b.socket.destroyed).toBe(true)
  })

  it('types its lifetime half as a transport LifetimeOperator', () => {
    const lifetime: LifetimeOperator = upgradeCap({ max: 1 }).lifetime
    expect(lifetime).toBeTypeOf('function')
    expect(() => upgradeCap({ max: 0 })).toThrow(InvalidParametersError)
    expect(() => upgradeCap({ max: 2, listenBelow: 3 })).toThrow(InvalidParametersError)
    expect(() => upgradeCap({ max: 2, policy: 'backpressure' as 'wait' })).toThrow(InvalidParametersError)
  })
})

describe('upgradeCap on real sockets', () => {
  const { clients, serve } = realSockets()

  it('by default, keeps listening at the cap and serves the waiting sockets in turn', async () => {
    const cap = upgradeCap({ max: 1 })
    const served = await serve({ inbound: cap.inbound, lifetime: cap.lifetime, upgradeMs: 200 })
    const { port, server } = served
    const outcomes = Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.4'].map(async (ip) => attempt(port, ip, clients)))
    await waitUntil(() => served.open() === 3, 2_000, 'three sockets accepted, one in upgrade and two waiting')
    expect(server.listening).toBe(true)
    expect(await outcomes).toEqual(['welcome', 'welcome', 'welcome'])
    expect(served.rejections).toEqual([])
  })

  it('with close-server, stops accepting while upgrades fill the cap and listens again after', async () => {
    const cap = upgradeCap({ max: 2, policy: 'close-server' })
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
