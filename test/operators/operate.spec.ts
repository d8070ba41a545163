import { TestScheduler } from 'rxjs/testing'
import { beforeEach, describe, expect, it } from 'vitest'
import { forSocket } from '../../src/core/for-socket.ts'
import { guard, operate, operatorObserver } from '../../src/core/operate.ts'
import { fakeInbounds, marbleScheduler } from '../fixtures/operators-fakes.ts'

describe('operate', () => {
  let scheduler: TestScheduler
  beforeEach(() => { scheduler = marbleScheduler(TestScheduler, expect) })

  const failOn = (bad: string) => operate<string, string>((source, subscriber) =>
    source.subscribe(operatorObserver(subscriber, (value) => {
      if (value === bad) {
        throw new Error(`bad ${value}`)
      }
      subscriber.next(value)
    })))

  it('turns a throw in next into an error of the stream, and unsubscribes the source', () => {
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--b--c--|')
      expectObservable(source.pipe(failOn('b'))).toBe('--a--#', undefined, new Error('bad b'))
      expectSubscriptions(source.subscriptions).toBe('^----!')
    })
  })

  it('forwards completion and errors by default, and a throw in their handlers as an error', () => {
    const throwing = operate<string, string>((source, subscriber) =>
      source.subscribe(operatorObserver(subscriber, undefined, () => { throw new Error('on complete') })))
    scheduler.run(({ hot, expectObservable }) => {
      expectObservable(hot('--a--|').pipe(failOn('x'))).toBe('--a--|')
      expectObservable(hot('--a--#').pipe(failOn('x'))).toBe('--a--#')
      expectObservable(hot('--a--|').pipe(throwing)).toBe('--a--#', undefined, new Error('on complete'))
    })
  })

  it('errors the subscriber when init throws', () => {
    const broken = operate<string, string>(() => { throw new Error('init') })
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--|')
      expectObservable(source.pipe(broken)).toBe('#', undefined, new Error('init'))
      expectSubscriptions(source.subscriptions).toBe([])
    })
  })
})

describe('guard', () => {
  it('turns a throw in a stage\'s work into an error of its stream', () => {
    const scheduler = marbleScheduler(TestScheduler, expect)
    scheduler.run(({ expectObservable }) => {
      const timed = operate<string, string>((source, subscriber) => {
        const timer = scheduler.schedule(() => { guard(subscriber, () => { throw new Error('in a timer') }) }, 3)
        subscriber.add(timer)
        return source.subscribe(operatorObserver(subscriber))
      })
      expectObservable(scheduler.createHotObservable('-a------|').pipe(timed)).toBe('-a-#', undefined, new Error('in a timer'))
    })
  })
})

describe('forSocket', () => {
  it('rejects the socket whose work threw, under stage-error, and only it', () => {
    const scheduler = marbleScheduler(TestScheduler, expect)
    const fake = fakeInbounds(scheduler)
    const s = fake.many({ a: '10.0.0.1', b: '10.0.0.2' })
    expect(forSocket(s.a, () => { throw new Error('boom') })).toBe(false)
    expect(forSocket(s.b, () => {})).toBe(true)
    expect(fake.rejected).toEqual(['a stage-error @0'])
    expect(fake.rejectErrors.map(({ message }) => message)).toEqual(['boom'])
  })

  it('destroys the socket when its reject throws too, and still returns false', () => {
    const scheduler = marbleScheduler(TestScheduler, expect)
    const fake = fakeInbounds(scheduler)
    const { a } = fake.many({ a: '10.0.0.1' })
    const wrapped = { ...a, reject: () => { throw new Error('counting failed') } }
    expect(forSocket(wrapped, () => { throw new Error('boom') })).toBe(false)
    expect(a.socket.destroyed).toBe(true)
  })
})
