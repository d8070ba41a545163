import { afterAll, describe, expect, it } from 'vitest'
import { specSeed } from '../fixtures/seed.ts'
import { buildNetwork } from './network.ts'
import { runScenario } from './scenario.ts'
import { formatTable } from './verdict.ts'

// pinned, printed; SIM_SEED=N runs another (`npm run sim` draws a fresh one each run)
const seed = specSeed('SIM_SEED', 3_141_076_452)
// two namespaces (or, without root, two loopback ranges), so that traffic crosses the impaired links
const net = buildNetwork({ hosts: 2, addressesPerHost: 8, impairment: { lossPercent: 3, rate: '20mbit' } })

describe(`simulation (npm run sim, bounded), seed ${seed}`, () => {
  afterAll(() => { net.teardown() })

  it('carries gossipsub, DHT and pings among 6 rx-tcp nodes under churn and stops them all leaving nothing', async () => {
    const summary = await runScenario(net, {
      mode: 'rx',
      seed,
      nodes: 6,
      seconds: 8,
      publishEveryMs: 500,
      dhtEveryMs: 400,
      pingEveryMs: 250,
      abortEveryMs: 500,
      churnEveryMs: 3_000,
      settleMs: 3_000,
      graceMs: 2_000
    })
    console.log(`sim: seed ${seed} (replay: SIM_SEED=${seed} npx vitest run test/sim), network ${net.kind}: ${net.shaping}\n${formatTable([summary])}`)
    expect(summary.hostErrors, 'node starts and stops that failed').toEqual([])
    expect(summary.uncaught + summary.unhandled, summary.faults.join('\n')).toBe(0)
    expect(summary.handlesByHost.flat(), 'TCP handles left after every node stopped').toEqual([])
    expect(summary.churned, 'nodes replaced by churn').toBeGreaterThan(0)
    expect(summary.gossip.expected, 'messages expected somewhere').toBeGreaterThan(0)
    // TCP retransmits what the loss rule drops: a message is late, not lost
    expect(summary.gossip.ratio, 'gossipsub delivery').toBeGreaterThan(0.95)
    expect(summary.dht.put.ok, 'DHT puts stored on a remote peer').toBeGreaterThan(0)
    expect(summary.ping.ok, 'pings answered').toBeGreaterThan(0)
    expect(summary.abortedDials.aborted, 'dials aborted by their signal').toBeGreaterThan(0)
    expect(summary.stopMs.max, 'slowest node stop()').toBeLessThan(5_000)
  }, 60_000)
})
