import { InvalidParametersError } from '@libp2p/interface'
import { TestScheduler } from 'rxjs/testing'
import { beforeEach, describe, expect, it } from 'vitest'
import { maxConnections, perSubnetLimit } from '../../operators/index.ts'
import { fakeInbounds, marbleScheduler } from '../fixtures/operators-fakes.ts'
import { attempt, realSockets } from '../fixtures/operators-net.ts'
import { waitUntil } from '../fixtures/wait.ts'

describe('perSubnetLimit', () => {
  let scheduler: TestScheduler
  beforeEach(() => { scheduler = marbleScheduler(TestScheduler, expect) })

  it('rejects a socket whose subnet already holds max open ones, until one closes', () => {
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '10.0.0.1', b: '10.0.0.1', c: '10.0.0.1', d: '10.0.0.1', e: '10.0.0.2' })
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const sockets = hot('--a--b--c--e---d--|', s)
      fake.at(12, () => s.a.socket.destroy())
      expectObservable(sockets.pipe(perSubnetLimit({ max: 2 }), fake.named())).toBe('--a--b-----e---d--|')
      expectSubscriptions(sockets.subscriptions).toBe('^-----------------!')
    })
    expect(fake.rejected).toEqual(['c subnet-limit @8'])
  })

  it('groups IPv6 peers by /56 and IPv4 peers by /32 unless told otherwise', () => {
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '2001:db8:0:1::1', b: '2001:db8:0:2::1', c: '2001:db8:1::1', d: '10.0.0.1', e: '10.0.0.2', f: '10.0.0.3' })
    scheduler.run(({ hot, expectObservable }) => {
      expectObservable(hot('-a-b-c-|', s).pipe(perSubnetLimit({ max: 1 }), fake.named())).toBe('-a---c-|')
      expectObservable(hot('-d-e-f-|', s).pipe(perSubnetLimit({ max: 2, ipv4Prefix: 24 }), fake.named())).toBe('-d-e---|')
    })
    expect(fake.rejected).toEqual(['b subnet-limit @3', 'f subnet-limit @5'])
  })

  it('leaves unix sockets alone, passes errors on and detaches from sockets when unsubscribed', () => {
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '10.0.0.1', b: undefined, c: undefined, d: '10.0.0.1' })
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const failing = hot('-b-c-#', s)
      expectObservable(failing.pipe(perSubnetLimit({ max: 1 }), fake.named())).toBe('-b-c-#')
      expectSubscriptions(failing.subscriptions).toBe('^----!')

      const endless = hot('-a--d-', s)
      expectObservable(endless.pipe(perSubnetLimit({ max: 1 }), fake.named()), '^--!').toBe('-a--')
      expectSubscriptions(endless.subscriptions).toBe('^--!')
    })
    expect(s.a.socket.listenerCount('close')).toBe(0)
    expect(fake.rejected).toEqual([])
  })

  it('refuses a cap below one', () => {
    expect(() => perSubnetLimit({ max: 0 })).toThrow(InvalidParametersError)
  })

  it('counts a socket open until its closed$, which it watches from admission to close or unsubscription', () => {
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '10.0.0.1', b: '10.0.0.1', c: '10.0.0.1', d: '10.0.0.1' })
    scheduler.run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      // a's closed$ ends at 8, with no 'close' from its socket; b's never does
      const aClosed = cold<void>('------(x|)')
      const bClosed = cold<void>('-')
      const sockets = hot('--a--b--c--d--', { a: { ...s.a, closed$: aClosed }, b: { ...s.b, closed$: bClosed }, c: s.c, d: s.d })
      expectObservable(sockets.pipe(perSubnetLimit({ max: 2 }), fake.named()), '^------------!').toBe('--a--b-----d-')
      expectSubscriptions(aClosed.subscriptions).toBe('--^-----!')
      expectSubscriptions(bClosed.subscriptions).toBe('-----^-------!')
    })
    expect(fake.rejected).toEqual(['c subnet-limit @8'])
  })

  it('rejects the socket alone when judging it throws, and goes on with the next', () => {
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '10.0.0.1', b: '10.0.0.2', c: '10.0.0.3' })
    // a dry-run listener that throws for b: the user's callback, called for one socket
    const dryRun = ({ remoteAddr }: { remoteAddr: { toString: () => string } }): void => {
      if (remoteAddr.toString().includes('10.0.0.2')) {
        throw new Error('listener bug')
      }
    }
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const sockets = hot('--a--b--c--|', s)
      expectObservable(sockets.pipe(maxConnections({ max: 0, dryRun }), fake.named())).toBe('--a-----c--|')
      expectSubscriptions(sockets.subscriptions).toBe('^----------!')
    })
    expect(fake.rejected).toEqual(['b stage-error @5'])
    expect(fake.rejectErrors.map(({ message }) => message)).toEqual(['listener bug'])
  })
})

describe('maxConnections', () => {
  let scheduler: TestScheduler
  beforeEach(() => { scheduler = marbleScheduler(TestScheduler, expect) })

  it('rejects a socket while max of those it let through are open', () => {
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '10.0.0.1', b: '10.0.0.2', c: '10.0.0.3', d: '2001:db8::1' })
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const sockets = hot('--a--b--c-----d--|', s)
      fake.at(10, () => s.b.socket.destroy())
      expectObservable(sockets.pipe(maxConnections({ max: 2 }), fake.named())).toBe('--a--b--------d--|')
      expectSubscriptions(sockets.subscriptions).toBe('^----------------!')
    })
    expect(fake.rejected).toEqual(['c max-connections @8'])
  })

  it('passes errors on, and max 0 refuses everything', () => {
    const fake = fakeInbounds(scheduler)
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const failing = hot('-a-#', fake.many({ a: '10.0.0.1' }))
      expectObservable(failing.pipe(maxConnections({ max: 0 }), fake.named())).toBe('---#')
      expectSubscriptions(failing.subscriptions).toBe('^--!')
    })
    expect(fake.rejected).toEqual(['a max-connections @1'])
  })
})

describe('open-socket limits on real sockets', () => {
  const { clients, serve } = realSockets()

  it('perSubnetLimit caps each source address and frees a slot when a socket closes', async () => {
    const served = await serve({ inbound: perSubnetLimit({ max: 2 }) })
    const port = served.port
    const first = [await attempt(port, '127.0.0.2', clients), await attempt(port, '127.0.0.2', clients), await attempt(port, '127.0.0.3', clients)]
    expect(first).toEqual(['welcome', 'welcome', 'welcome'])
    expect(await attempt(port, '127.0.0.2', clients)).toBe('refused')
    expect(served.rejections).toEqual(['127.0.0.2 subnet-limit'])

    clients[0].socket.destroy()
    await waitUntil(() => served.open() === 2, 2_000, 'the server side of the closed client to close')
    expect(await attempt(port, '127.0.0.2', clients)).toBe('welcome')
  })

  it('perSubnetLimit with a /24 counts 127.0.0.2 and 127.0.0.3 together', async () => {
    const served = await serve({ inbound: perSubnetLimit({ max: 1, ipv4Prefix: 24 }) })
    expect(await attempt(served.port, '127.0.0.2', clients)).toBe('welcome')
    expect(await attempt(served.port, '127.0.0.3', clients)).toBe('refused')
    expect(await attempt(served.port, '127.0.1.3', clients)).toBe('welcome')
  })

  it('maxConnections caps open sockets over all sources', async () => {
    const served = await serve({ inbound: maxConnections({ max: 2 }) })
    const outcomes = []
    for (const ip of ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']) {
      outcomes.push(await attempt(served.port, ip, clients))
    }
    expect(outcomes).toEqual(['welcome', 'welcome', 'refused', 'refused'])
    expect(served.rejections).toEqual(['127.0.0.4 max-connections', '127.0.0.5 max-connections'])
    await waitUntil(() => served.open() === 2, 2_000, 'the rejected sockets to close on the server side')
  })
})
