import { InvalidParametersError } from '@libp2p/interface'
import { fromEvent, ignoreElements, take, tap } from 'rxjs'
import { TestScheduler } from 'rxjs/testing'
import { beforeEach, describe, expect, it } from 'vitest'
import { shedStalled } from '../../operators/shed-stalled.ts'
import { fakeInbounds, marbleScheduler } from '../fixtures/operators-fakes.ts'
import { attempt, connect, realSockets } from '../fixtures/operators-net.ts'
import type { ShedStalled } from '../../operators/shed-stalled.ts'
import type { InboundSocket } from '../../operators/index.ts'
import type { MonoTypeOperatorFunction } from 'rxjs'

/** counts `n` bytes received on a fake socket */
const received = (inbound: InboundSocket, n: number): void => { (inbound.socket as { bytesRead: number }).bytesRead = n }

/** each socket let through lives (holds its slot) until it closes, as in a listener whose upgrades never finish */
const live = (shed: ShedStalled): MonoTypeOperatorFunction<InboundSocket> => tap((inbound) => {
  shed.lifetime(inbound)(fromEvent(inbound.socket, 'close').pipe(take(1), ignoreElements())).subscribe()
})

describe('shedStalled', () => {
  let scheduler: TestScheduler
  beforeEach(() => { scheduler = marbleScheduler(TestScheduler, expect) })

  it('under pressure, makes room at the expense of the upgrade stalled longest', () => {
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '10.0.0.1', b: '10.0.0.2', c: '10.0.0.3' })
    for (const inbound of Object.values(s)) received(inbound, 0)
    const shed = shedStalled({ max: 2, stalledMs: 6, every: 2, scheduler })
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--b--c---------|', s)
      // b keeps sending; a has sent nothing since it was let through @2
      for (const frame of [7, 9, 11, 13]) fake.at(frame, () => { received(s.b, frame * 10) })
      expectObservable(source.pipe(shed.inbound, live(shed), fake.named())).toBe('--a--b----c-------|')
      expectSubscriptions(source.subscriptions).toBe('^-----------------!')
    })
    expect(fake.rejected).toEqual(['a upgrade-stalled @10'])
  })

  it('counts a drip of one byte at a time as no progress', () => {
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '10.0.0.1', b: '10.0.0.2' })
    for (const inbound of Object.values(s)) received(inbound, 0)
    const shed = shedStalled({ max: 1, stalledMs: 4, progressBytes: 8, every: 1, scheduler })
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('-ab-------|', s)
      for (let frame = 2; frame < 10; frame++) fake.at(frame, () => { received(s.a, frame) })
      expectObservable(source.pipe(shed.inbound, live(shed), fake.named())).toBe('-a---b----|')
    })
    expect(fake.rejected).toEqual(['a upgrade-stalled @5'])
  })

  it('without pressure, sheds nobody however long an upgrade stalls', () => {
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '10.0.0.1', b: '10.0.0.2' })
    for (const inbound of Object.values(s)) received(inbound, 0)
    const shed = shedStalled({ max: 2, stalledMs: 2, every: 1, scheduler })
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('-a-b------------|', s)
      expectObservable(source.pipe(shed.inbound, live(shed), fake.named())).toBe('-a-b------------|')
    })
    expect(fake.rejected).toEqual([])
  })

  it('admits the next waiting socket when an upgrade settles, and rejects the longest-waiting past maxWaiting', () => {
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '10.0.0.1', b: '10.0.0.2', c: '10.0.0.3', d: '10.0.0.4' })
    for (const inbound of Object.values(s)) received(inbound, 0)
    const shed = shedStalled({ max: 1, maxWaiting: 1, stalledMs: 100, scheduler })
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('-abc------|', s)
      fake.at(6, () => { s.a.socket.destroy() })
      expectObservable(source.pipe(shed.inbound, live(shed), fake.named())).toBe('-a----c---|')
    })
    expect(fake.rejected).toEqual(['b upgrade-queue-full @3'])
  })

  it('drops, under pressure, the slot of a socket that closed without being told its upgrade settled', () => {
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '10.0.0.1', b: '10.0.0.2' })
    for (const inbound of Object.values(s)) received(inbound, 0)
    const shed = shedStalled({ max: 1, stalledMs: 100, every: 2, scheduler })
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('-a--b------|', s)
      fake.at(3, () => { s.a.socket.destroy() })
      // no lifetime half: nothing frees a's slot but the measure under pressure (b waits from @4, measured @6)
      expectObservable(source.pipe(shed.inbound, fake.named())).toBe('-a----b----|')
    })
    expect(fake.rejected).toEqual([])
  })

  it('rejects the waiting sockets when unsubscribed, and checks its options', () => {
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '10.0.0.1', b: '10.0.0.2' })
    for (const inbound of Object.values(s)) received(inbound, 0)
    const shed = shedStalled({ max: 1, stalledMs: 100, scheduler })
    scheduler.run(({ hot, expectObservable }) => {
      const source = hot('-ab-----', s)
      expectObservable(source.pipe(shed.inbound, live(shed), fake.named()), '^----!').toBe('-a----')
    })
    expect(fake.rejected).toEqual(['b shutdown @5'])
    expect(() => shedStalled({ max: 0 })).toThrow(InvalidParametersError)
    expect(() => shedStalled({ max: 1, stalledMs: -1 })).toThrow(InvalidParametersError)
  })
})

describe('shedStalled on real sockets', () => {
  const { clients, serve } = realSockets()

  it('rejects a silent upgrade to let in a waiting client, and keeps one that keeps sending', async () => {
    const shed = shedStalled({ max: 2, stalledMs: 300, every: 50 })
    const served = await serve({ inbound: shed.inbound, lifetime: shed.lifetime, upgradeMs: 1_500 })
    const talker = connect(served.port, '127.0.0.2')
    clients.push(talker)
    const talking = setInterval(() => { talker.socket.write('sixteen bytes...') }, 100)
    try {
      const silent = attempt(served.port, '127.0.0.3', clients)
      const waiting = attempt(served.port, '127.0.0.4', clients)
      expect(await Promise.all([talker.outcome, silent, waiting])).toEqual(['welcome', 'refused', 'welcome'])
    } finally {
      clearInterval(talking)
    }
    expect(served.rejections).toEqual(['127.0.0.3 upgrade-stalled'])
  })
})
