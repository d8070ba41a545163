import { describe, expect, it } from 'vitest'
import { specSeed } from '../fixtures/seed.ts'
import { runSoak } from './soak.ts'

// the long run is `npm run soak -- --minutes 30`; this is its bounded version.
// The load's choices come from a pinned seed, printed; SOAK_SEED=N runs
// another, SOAK_SECONDS lengthens it (`npm run soak` draws a fresh seed).
const seed = specSeed('SOAK_SEED', 1_387_402_617)
const SECONDS = Number(process.env.SOAK_SECONDS ?? 60)

describe(`soak, seed ${seed}`, () => {
  it(`keeps a node's TCP handles and descriptors at baseline at every quiet point through ${SECONDS} s of churn, with no uncaught error (heap trend not judged this short)`, async () => {
    const r = await runSoak({
      transport: 'rx',
      seed,
      durationMs: SECONDS * 1_000,
      warmupMs: 15_000,
      sampleEveryMs: 5_000,
      quietEveryMs: 20_000
    })
    const quiet = r.quietPoints.map((q) => `${q.t} s: tcp ${q.sample.tcpHandles} fds ${q.sample.fds} heap ${(q.sample.heapUsed / 2 ** 20).toFixed(1)} MiB`).join('; ')
    console.log(`soak: seed ${seed} (replay: SOAK_SEED=${seed} npx vitest run test/soak); ${r.load.exchanges.ok} exchanges, ${r.load.aborted.total} aborted dials, ` +
      `${r.load.raw.silent + r.load.raw.halfHandshake + r.load.raw.garbage + r.load.raw.reset} raw sockets, ${r.dialBacks.ok} dials back; quiet points ${quiet}; stop ${r.stopMs} ms`)
    expect(r.failures, 'the soak\'s own verdict: quiet points at baseline, no uncaught error, nothing left after stop').toEqual([])
    expect(r.uncaught).toEqual({ node: 0, load: 0 })
    // warm-up end (the baseline), at least one in between, and the end
    expect(r.quietPoints.length).toBeGreaterThanOrEqual(3)
    for (const q of r.quietPoints) {
      expect(q.sample.tcpHandles, `TCP handles at the quiet point at ${q.t} s`).toBeLessThanOrEqual(r.baseline?.tcpHandles ?? -1)
      expect(q.sample.fds, `descriptors at the quiet point at ${q.t} s`).toBeLessThanOrEqual(r.baseline?.fds ?? -1)
    }
    // the load did each kind of thing, and the node dialed out
    expect(r.load.exchanges.ok).toBeGreaterThan(5)
    expect(r.load.aborted.total).toBeGreaterThan(0)
    expect(r.load.raw.silent + r.load.raw.halfHandshake + r.load.raw.garbage + r.load.raw.reset).toBeGreaterThan(5)
    expect(r.dialBacks.ok).toBeGreaterThan(0)
    expect(r.samples.length, 'samples under load').toBeGreaterThanOrEqual(SECONDS / 5 - 4)
    // no trend in a minute, but a gross leak shows between the first and the last quiet point
    const first = r.quietPoints[0].sample.heapUsed
    const last = r.quietPoints.at(-1)?.sample.heapUsed ?? Infinity
    expect(last / first, 'heap at the last quiet point over the first').toBeLessThan(1.25)
    expect(r.handlesAfterStop).toEqual({})
    expect(r.stopMs).toBeLessThan(5_000)
  }, SECONDS * 1_000 + 90_000)
})
