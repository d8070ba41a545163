/**
 * The bounded run of `npm run pipelines` in `npm test`: generated user
 * pipelines of ordinary RxJS on a real listener, with a pinned seed
 * (PIPELINES_SEED=N and PIPELINES_RUNS=N to change them here; the long run,
 * with a fresh seed, is `npm run pipelines`).
 */
import fc from 'fast-check'
import { describe, it } from 'vitest'
import { specSeed } from '../fixtures/seed.ts'
import { contractHolds } from './properties.ts'

const SEED = specSeed('PIPELINES_SEED', 19)
const RUNS = Number(process.env.PIPELINES_RUNS ?? 36)

describe('any pipeline of ordinary RxJS operators in inbound and lifetime', () => {
  it(`closes every dropped socket within its deadline, serves or closes visibly, stops bounded with no handle and nothing uncaught (${RUNS} pipelines, seed ${SEED})`, async () => {
    // a failed run is not shrunk: each takes seconds of real sockets; its pipeline is in the message
    await fc.assert(contractHolds(), { numRuns: RUNS, seed: SEED, endOnFailure: true })
  }, 240_000)
})
