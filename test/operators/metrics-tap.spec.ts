import { format } from 'node:util'
import { pipe, of, tap } from 'rxjs'
import { TestScheduler } from 'rxjs/testing'
import { beforeEach, describe, expect, it } from 'vitest'
import { denyCidr, metricsTap } from '../../operators/index.ts'
import { LISTENER_EVENTS_METRIC } from '../../operators/metrics-tap.ts'
import { fakeInbounds, marbleScheduler } from '../fixtures/operators-fakes.ts'
import { attempt, realSockets } from '../fixtures/operators-net.ts'
import type { InboundSocket } from '../../operators/index.ts'
import type { Logger, MetricGroup, Metrics } from '@libp2p/interface'

/** A metrics registry and a logger that remember what they were told. */
function recorders (): { metrics: Metrics, log: Logger, counts: Record<string, number>, groups: string[], lines: string[] } {
  const counts: Record<string, number> = {}
  const groups: string[] = []
  const lines: string[] = []
  const group: Partial<MetricGroup> = {
    increment: (values) => {
      for (const key of Object.keys(values)) {
        counts[key] = (counts[key] ?? 0) + 1
      }
    }
  }
  const metrics = {
    registerMetricGroup: (name: string) => {
      groups.push(name)
      return group
    }
  } as unknown as Metrics
  const log = Object.assign((fmt: string, ...args: unknown[]) => { lines.push(format(fmt.replaceAll('%a', '%s'), ...args.map(String))) }, {
    error: () => {},
    trace: () => {},
    enabled: true,
    newScope: () => log
  }) as unknown as Logger
  return { metrics, log, counts, groups, lines }
}

describe('metricsTap', () => {
  let scheduler: TestScheduler
  beforeEach(() => { scheduler = marbleScheduler(TestScheduler, expect) })

  it('counts accepted, rejected by reason (once) and upgraded sockets under the listener metric names', () => {
    const fake = fakeInbounds(scheduler)
    const { metrics, log, counts, groups, lines } = recorders()
    const tapped = metricsTap({ metrics, log })
    const passed: InboundSocket[] = []
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const sockets = hot('-a-b-c-|', fake.many({ a: '10.0.0.1', b: '10.0.0.2', c: '10.0.0.3' }))
      const pipeline = pipe(tapped.inbound, denyCidr(['10.0.0.2/32']), tap((inbound: InboundSocket) => passed.push(inbound)))
      expectObservable(sockets.pipe(pipeline, fake.named())).toBe('-a---c-|')
      expectSubscriptions(sockets.subscriptions).toBe('^------!')
    })
    passed[1].reject('late', new Error('changed our mind'))
    passed[1].reject('again')
    tapped.lifetime(passed[0])(of('connection')).subscribe()

    expect(groups).toEqual([LISTENER_EVENTS_METRIC])
    expect(counts).toEqual({
      '127.0.0.1:4001 accepted': 3,
      '127.0.0.1:4001 rejected_cidr-denied': 1,
      '127.0.0.1:4001 rejected_late': 1,
      '127.0.0.1:4001 upgraded': 1
    })
    expect(fake.rejected).toEqual(['b cidr-denied @3', 'c late @7'])
    expect(lines).toContain('rejected /ip4/10.0.0.3/tcp/50000: late (changed our mind)')
    expect(lines).toContain('upgraded /ip4/10.0.0.1/tcp/50000')
  })

  it('rejects the socket alone when its logger throws for it, and counts it', () => {
    const fake = fakeInbounds(scheduler)
    const { metrics, counts } = recorders()
    const log = Object.assign((fmt: string, ...args: unknown[]) => {
      if (fmt.startsWith('accepted') && String(args[0]).includes('10.0.0.2')) {
        throw new Error('logger bug')
      }
    }, { error: () => {}, trace: () => {}, enabled: true }) as unknown as Logger
    const tapped = metricsTap({ metrics, log })
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const sockets = hot('-a-b-c-|', fake.many({ a: '10.0.0.1', b: '10.0.0.2', c: '10.0.0.3' }))
      expectObservable(sockets.pipe(tapped.inbound, fake.named())).toBe('-a---c-|')
      expectSubscriptions(sockets.subscriptions).toBe('^------!')
    })
    expect(fake.rejected).toEqual(['b stage-error @3'])
    expect(counts).toEqual({ '127.0.0.1:4001 accepted': 3, '127.0.0.1:4001 rejected_stage-error': 1 })
  })

  it('passes errors on, unsubscribes with its consumer and works without metrics or log', () => {
    const fake = fakeInbounds(scheduler)
    const tapped = metricsTap()
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const failing = hot('-a-#', fake.many({ a: '10.0.0.1' }))
      expectObservable(failing.pipe(tapped.inbound, fake.named())).toBe('-a-#')
      expectSubscriptions(failing.subscriptions).toBe('^--!')

      const endless = hot('-a--b-', fake.many({ a: '10.0.0.1', b: '10.0.0.2' }))
      expectObservable(endless.pipe(tapped.inbound, fake.named()), '^--!').toBe('-a--')
      expectSubscriptions(endless.subscriptions).toBe('^--!')
    })
  })
})

describe('metricsTap on real sockets', () => {
  const { clients, serve } = realSockets()

  it('counts what a guarded server did, keyed by its listening address', async () => {
    const { metrics, counts } = recorders()
    const tapped = metricsTap({ metrics })
    const served = await serve({ inbound: pipe(tapped.inbound, denyCidr(['127.0.0.3/32'])), lifetime: tapped.lifetime })
    expect(await attempt(served.port, '127.0.0.2', clients)).toBe('welcome')
    expect(await attempt(served.port, '127.0.0.3', clients)).toBe('refused')
    const addr = `127.0.0.1:${served.port}`
    expect(counts).toEqual({ [`${addr} accepted`]: 2, [`${addr} rejected_cidr-denied`]: 1, [`${addr} upgraded`]: 1 })
    expect(served.rejections).toEqual(['127.0.0.3 cidr-denied'])
  })
})
