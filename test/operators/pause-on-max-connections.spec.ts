import { InvalidParametersError } from '@libp2p/interface'
import { TestScheduler } from 'rxjs/testing'
import { beforeEach, describe, expect, it } from 'vitest'
import { pauseOnMaxConnections } from '../../operators/index.ts'
import { fakeInbounds, marbleScheduler } from '../fixtures/operators-fakes.ts'
import { attempt, realSockets } from '../fixtures/operators-net.ts'
import { waitUntil } from '../fixtures/wait.ts'

describe('pauseOnMaxConnections', () => {
  let scheduler: TestScheduler
  beforeEach(() => { scheduler = marbleScheduler(TestScheduler, expect) })

  it('pauses intake at closeAbove open sockets and resumes below listenBelow, letting all through', () => {
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '10.0.0.1', b: '10.0.0.2', c: '10.0.0.3', d: '10.0.0.4' })
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const sockets = hot('-a-b-c---d------|', s)
      fake.at(7, () => s.a.socket.destroy())
      fake.at(11, () => s.b.socket.destroy())
      fake.at(13, () => s.c.socket.destroy())
      expectObservable(sockets.pipe(pauseOnMaxConnections({ closeAbove: 3, listenBelow: 2 }), fake.named())).toBe('-a-b-c---d------|')
      expectSubscriptions(sockets.subscriptions).toBe('^---------------!')
    })
    expect(fake.intakeCalls).toEqual(['pause max-connections @5', 'resume max-connections @13'])
    expect(fake.rejected).toEqual([])
  })

  it('resumes intake when unsubscribed while paused', () => {
    const fake = fakeInbounds(scheduler)
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const sockets = hot('-a-b---', fake.many({ a: '10.0.0.1', b: '10.0.0.2' }))
      expectObservable(sockets.pipe(pauseOnMaxConnections({ closeAbove: 2, listenBelow: 1 }), fake.named()), '^----!').toBe('-a-b--')
      expectSubscriptions(sockets.subscriptions).toBe('^----!')
    })
    expect(fake.intakeCalls).toEqual(['pause max-connections @3', 'resume max-connections @5'])
  })

  it('never resumes after its source completed or failed', () => {
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '10.0.0.1', b: '10.0.0.2' })
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const completing = hot('-a-|', s)
      const failing = hot('-b-#', s)
      fake.at(6, () => { s.a.socket.destroy(); s.b.socket.destroy() })
      expectObservable(completing.pipe(pauseOnMaxConnections({ closeAbove: 1, listenBelow: 1, reason: 'full' }), fake.named())).toBe('-a-|')
      expectObservable(failing.pipe(pauseOnMaxConnections({ closeAbove: 1, listenBelow: 1, reason: 'full' }), fake.named())).toBe('-b-#')
      expectSubscriptions(completing.subscriptions).toBe('^--!')
      expectSubscriptions(failing.subscriptions).toBe('^--!')
    })
    expect(fake.intakeCalls).toEqual(['pause full @1', 'pause full @1'])
  })

  it('counts sockets open by their closed$ and stops watching when unsubscribed', () => {
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '10.0.0.1', b: '10.0.0.2', c: '10.0.0.3' })
    scheduler.run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const aClosed = cold<void>('-----(x|)')
      const bClosed = cold<void>('-')
      const sockets = hot('-a-b-----c---', { a: { ...s.a, closed$: aClosed }, b: { ...s.b, closed$: bClosed }, c: s.c })
      expectObservable(sockets.pipe(pauseOnMaxConnections({ closeAbove: 2, listenBelow: 2 }), fake.named()), '^----------!').toBe('-a-b-----c-')
      expectSubscriptions(aClosed.subscriptions).toBe('-^----!')
      expectSubscriptions(bClosed.subscriptions).toBe('---^-------!')
    })
    // paused at 2 open (3), resumed when a's closed$ said it closed (6), paused again at c (9), resumed when unsubscribed (11)
    expect(fake.intakeCalls).toEqual(['pause max-connections @3', 'resume max-connections @6', 'pause max-connections @9', 'resume max-connections @11'])
  })

  it('rejects the socket alone when pausing intake for it throws', () => {
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '10.0.0.1', b: '10.0.0.2' })
    const broken = { ...s.a, intake: { pause: () => { throw new Error('no pause') }, resume: () => {} } }
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const sockets = hot('-a-b-|', { a: broken, b: s.b })
      expectObservable(sockets.pipe(pauseOnMaxConnections({ closeAbove: 1, listenBelow: 1 }), fake.named())).toBe('---b-|')
      expectSubscriptions(sockets.subscriptions).toBe('^----!')
    })
    expect(fake.rejected).toEqual(['a stage-error @1'])
    expect(fake.intakeCalls).toEqual(['pause max-connections @3'])
  })

  it('refuses closeAbove below listenBelow', () => {
    expect(() => pauseOnMaxConnections({ closeAbove: 1, listenBelow: 2 })).toThrow(InvalidParametersError)
  })
})

describe('pauseOnMaxConnections on real sockets', () => {
  const { clients, serve } = realSockets()

  it('closes the listening handle at the cap and listens again on the same port below it', async () => {
    const served = await serve({ inbound: pauseOnMaxConnections({ closeAbove: 2, listenBelow: 1 }) })
    const { port, server } = served
    expect(await attempt(port, '127.0.0.2', clients)).toBe('welcome')
    expect(await attempt(port, '127.0.0.3', clients)).toBe('welcome')
    expect(server.listening).toBe(false)
    expect(await attempt(port, '127.0.0.4', clients)).toBe('refused')

    clients[0].socket.destroy()
    clients[1].socket.destroy()
    await waitUntil(() => server.listening, 2_000, 'the server to listen again')
    expect(await attempt(port, '127.0.0.5', clients)).toBe('welcome')
    expect(served.rejections).toEqual([])
  })
})
