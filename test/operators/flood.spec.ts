import { EventEmitter } from 'node:events'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, describe, expect, it } from 'vitest'
import { NEVER, pipe, Subject } from 'rxjs'
import { maxConnections, perSubnetLimit, perSubnetRateLimit, upgradeCap } from '../../operators/index.ts'
import { DEFAULT_MAX_SUBNETS } from '../../operators/per-subnet-rate-limit.ts'
import { addressFlood, flood, heapAfterGc } from '../fixtures/operators-flood.ts'
import { openTcpSockets, realSockets } from '../fixtures/operators-net.ts'
import { waitUntil, within } from '../fixtures/wait.ts'
import type { InboundSocket } from '../../operators/index.ts'
import type { ServeOptions } from '../fixtures/operators-net.ts'
import type { MonoTypeOperatorFunction, SchedulerLike } from 'rxjs'

const ATTEMPTS = 2_000
const CONCURRENCY = 200
const UPGRADE_MS = 10

describe('a flood of 2,000 connection attempts', () => {
  const { serve } = realSockets()
  const figures: Array<Record<string, string | number>> = []
  afterAll(() => {
    console.log(`flood: ${ATTEMPTS} attempts, ${CONCURRENCY} at a time, upgrades of ${UPGRADE_MS}ms, loopback`)
    console.table(figures)
  })

  const cases: Array<[string, () => ServeOptions]> = [
    ['no cap', () => ({})],
    ['upgradeCap 32, waiting', () => {
      const cap = upgradeCap({ max: 32 })
      return { inbound: cap.inbound, lifetime: cap.lifetime }
    }],
    ['upgradeCap 32, drop + maxConnections 64', () => {
      const cap = upgradeCap({ max: 32, policy: 'drop' })
      return { inbound: pipe(maxConnections({ max: 64 }), cap.inbound), lifetime: cap.lifetime }
    }]
  ]

  for (const [name, guard] of cases) {
    it(`leaves no socket open on either side (${name})`, async () => {
      const baseline = openTcpSockets()
      const served = await serve({ ...guard(), upgradeMs: UPGRADE_MS })
      const result = await within(flood(served.port, { attempts: ATTEMPTS, concurrency: CONCURRENCY }), 30_000, `the flood against ${name}`)
      figures.push({ guard: name, ms: result.ms, peakServerSockets: served.peakOpen(), peakClientSockets: result.peakClients, welcomed: result.welcomed, refused: result.refused, timedOut: result.timedOut })

      expect(result.welcomed + result.refused).toBe(ATTEMPTS)
      expect(result.timedOut).toBe(0)
      expect(served.upgraded).toHaveLength(result.welcomed)
      await waitUntil(() => served.open() === 0, 5_000, 'every server-side socket to close')
      await served.close()
      await waitUntil(() => openTcpSockets() === baseline, 5_000, `TCP sockets back to ${baseline} (${openTcpSockets()} open)`)
      if (name !== 'no cap') {
        expect(served.peakOpen()).toBeLessThan(CONCURRENCY)
      }
    })
  }

  it('closing the listener mid-flood resolves and tears everything down', async () => {
    const baseline = openTcpSockets()
    const cap = upgradeCap({ max: 32 })
    const served = await serve({ inbound: cap.inbound, lifetime: cap.lifetime, upgradeMs: UPGRADE_MS })
    const flooding = flood(served.port, { attempts: ATTEMPTS, concurrency: CONCURRENCY })
    await waitUntil(() => served.upgraded.length >= 40, 10_000, '40 upgrades before closing')
    const openAtClose = served.open()
    const closing = performance.now()
    await within(served.close(), 5_000, 'the listener to close mid-flood')
    const closeMs = Math.round(performance.now() - closing)
    expect(served.open()).toBe(0)
    expect(served.server.listening).toBe(false)

    const result = await within(flooding, 30_000, 'the flood to finish after the listener closed')
    figures.push({ guard: 'upgradeCap 32, closed mid-flood', ms: result.ms, closeMs, openAtClose, peakServerSockets: served.peakOpen(), welcomed: result.welcomed, refused: result.refused, timedOut: result.timedOut })
    expect(result.welcomed + result.refused).toBe(ATTEMPTS)
    expect(result.timedOut).toBe(0)
    await waitUntil(() => openTcpSockets() === baseline, 5_000, `TCP sockets back to ${baseline} (${openTcpSockets()} open)`)
  })
})

/**
 * What the per-subnet operators keep while 100,000 distinct addresses
 * (IPv4 from 10.0.0.0/8, IPv6 each in a /56 of its own) arrive, measured as
 * the heap in use after a full GC with the subscription alive. Fake sockets:
 * 100,000 real ones do not fit a test machine's loopback in a test's time,
 * and the operators' state does not depend on the socket. The rate
 * limiter's clock is frozen, so no bucket ever refills and the sweep frees
 * nothing: its worst case.
 */
describe('state under a flood from 100,000 distinct addresses', () => {
  const FLOOD = 100_000
  const frozen = { now: () => 0, schedule: () => { throw new Error('the frozen clock schedules nothing') } } as unknown as SchedulerLike
  const figures: Array<Record<string, string | number>> = []
  afterAll(() => {
    console.log(`per-subnet state: heap in use after a full GC, ${FLOOD} distinct addresses, subscription alive`)
    console.table(figures)
  })

  /** heap growth, in KiB, while the subscription of `flooding` holds what it kept */
  const grows = (flooding: (subscriptions: Array<{ unsubscribe: () => void }>) => void): number => {
    const subscriptions: Array<{ unsubscribe: () => void }> = []
    const before = heapAfterGc()
    flooding(subscriptions)
    const after = heapAfterGc()
    subscriptions.forEach((subscription) => { subscription.unsubscribe() })
    return Math.round((after - before) / 1024)
  }

  for (const family of [4, 6] as const) {
    it(`perSubnetRateLimit keeps at most maxSubnets buckets (IPv${family}): 100,000 addresses cost what 16,384 do`, () => {
      const limiter = (maxSubnets?: number): MonoTypeOperatorFunction<InboundSocket> => perSubnetRateLimit({ rate: 1, burst: 5, scheduler: frozen, maxSubnets })
      let passed = 0
      const atCap = grows((subscription) => { passed += addressFlood(limiter(), DEFAULT_MAX_SUBNETS, family, { closeAfter: true, subscription }).passed })
      const flood = grows((subscription) => { passed += addressFlood(limiter(), FLOOD, family, { closeAfter: true, subscription }).passed })
      // the control: without the bound, the same flood's state grows with the addresses
      const unbounded = grows((subscription) => { addressFlood(limiter(FLOOD * 10), FLOOD, family, { closeAfter: true, subscription }) })
      figures.push({ operator: 'perSubnetRateLimit', family: `IPv${family}`, case: `${DEFAULT_MAX_SUBNETS} addresses`, KiB: atCap })
      figures.push({ operator: 'perSubnetRateLimit', family: `IPv${family}`, case: `${FLOOD} addresses (default maxSubnets ${DEFAULT_MAX_SUBNETS})`, KiB: flood })
      figures.push({ operator: 'perSubnetRateLimit', family: `IPv${family}`, case: `${FLOOD} addresses, maxSubnets ${FLOOD * 10}`, KiB: unbounded })
      expect(passed).toBe(DEFAULT_MAX_SUBNETS + FLOOD)
      expect(flood).toBeLessThan(atCap * 1.5 + 512)
      expect(flood).toBeLessThan(6 * 1024)
      expect(unbounded).toBeGreaterThan(flood * 3)
    })

    it(`perSubnetLimit keeps nothing once a flood of short connections is over, and one closed$ watch per open socket while they are open (IPv${family})`, () => {
      const short = grows((subscription) => { addressFlood(perSubnetLimit({ max: 1 }), FLOOD, family, { closeAfter: true, subscription }) })
      const held: Array<{ destroy: () => void }> = []
      const sockets = grows((subscription) => { addressFlood((source) => source, FLOOD, family, { closeAfter: false, held: held as any, subscription }) })
      held.splice(0).forEach((socket) => { socket.destroy() })
      const open = grows((subscription) => { addressFlood(perSubnetLimit({ max: 1 }), FLOOD, family, { closeAfter: false, held: held as any, subscription }) })
      held.splice(0).forEach((socket) => { socket.destroy() })
      const perSocket = Math.round((open - sockets) * 1024 / FLOOD)
      figures.push({ operator: 'perSubnetLimit', family: `IPv${family}`, case: `${FLOOD} connections, each closed after it passed`, KiB: short })
      figures.push({ operator: 'perSubnetLimit', family: `IPv${family}`, case: `${FLOOD} connections held open: bytes of state per open socket`, KiB: `${perSocket} B` })
      expect(short).toBeLessThan(1024)
      expect(perSocket).toBeGreaterThan(0)
      // a watch of the socket's closed$ (an RxJS subscription) per open socket: ~0.9–1 KB with the
      // fixture's closed$, where the socket table this stage kept before cost ~150 B
      expect(perSocket).toBeLessThan(1536)
    })
  }

  it('perSubnetRateLimit at its bound forgets the subnet touched longest ago, which starts again full; the recent ones stay limited', () => {
    const source = new Subject<InboundSocket>()
    const verdicts: string[] = []
    const subscription = source.pipe(perSubnetRateLimit({ rate: 1, burst: 1, scheduler: frozen, maxSubnets: 3 })).subscribe(({ remoteAddr }) => {
      verdicts.push(`${remoteAddr.getComponents()[0].value ?? '?'} passed`)
    })
    const send = (ip: string): void => {
      source.next({ socket: new EventEmitter() as any, remoteAddr: multiaddr(`/ip4/${ip}/tcp/1`), localAddr: multiaddr('/ip4/127.0.0.1/tcp/1'), intake: { pause: () => {}, resume: () => {} }, closed$: NEVER, reject: (reason) => { verdicts.push(`${ip} ${reason}`); return true } })
    }
    for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.2', '10.0.0.4', '10.0.0.1', '10.0.0.3', '10.0.0.2']) send(ip)
    subscription.unsubscribe()
    expect(verdicts).toEqual([
      '10.0.0.1 passed', '10.0.0.2 passed', '10.0.0.3 passed',
      '10.0.0.2 subnet-rate-limit', // still kept: limited
      '10.0.0.4 passed', // a fourth subnet: 10.0.0.1, touched longest ago, is forgotten
      '10.0.0.1 passed', // and starts again full; 10.0.0.2 goes
      '10.0.0.3 subnet-rate-limit', // kept: still limited
      '10.0.0.2 passed' // forgotten: full again
    ])
  })
})
