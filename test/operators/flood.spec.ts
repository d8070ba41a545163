import { afterAll, describe, expect, it } from 'vitest'
import { pipe } from 'rxjs'
import { maxConnections, upgradeCap } from '../../operators/index.ts'
import { flood } from '../fixtures/operators-flood.ts'
import { openTcpSockets, realSockets } from '../fixtures/operators-net.ts'
import { waitUntil, within } from '../fixtures/wait.ts'
import type { ServeOptions } from '../fixtures/operators-net.ts'

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
    ['upgradeCap 32, backpressure', () => {
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
