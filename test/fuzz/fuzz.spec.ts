/**
 * The bounded run of `npm run fuzz` (a few seconds): each property of the
 * header reader with a pinned seed, printed (FUZZ_SEED=N to run another
 * here; `npm run fuzz` draws a fresh one each run, `--seed N` replays it).
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { specSeed } from '../fixtures/seed.ts'
import { LoopbackReader } from './loopback.ts'
import { chunkingInvariance, invariants, realSockets, validHeaders } from './properties.ts'

const seed = specSeed('FUZZ_SEED', 1_029_384_756)
const RUNS = Number(process.env.FUZZ_RUNS ?? 300)

describe(`fuzzing the PROXY header reader, seed ${seed}`, () => {
  let loopback: LoopbackReader
  beforeAll(async () => {
    console.log(`fuzz: seed ${seed} (replay: FUZZ_SEED=${seed} npx vitest run test/fuzz, or the first three properties with npm run fuzz -- --seed ${seed} --rounds 1 --batch ${RUNS})`)
    loopback = await new LoopbackReader().start()
  })
  afterAll(async () => { await loopback.stop() })

  it(`for any bytes in any chunks: never throws, always decides, never holds more than maxHeaderBytes, leaves no listener or timer (${RUNS} runs)`, async () => {
    await fc.assert(invariants, { numRuns: RUNS, seed })
  }, 60_000)

  it(`gives the same outcome however the bytes are split (${RUNS} runs)`, async () => {
    await fc.assert(chunkingInvariance, { numRuns: RUNS, seed: seed + 1 })
  }, 60_000)

  it(`reads every valid header, in any chunks, to its client and leaves the payload intact (${RUNS} runs)`, async () => {
    await fc.assert(validHeaders, { numRuns: RUNS, seed: seed + 2 })
  }, 60_000)

  it(`on real loopback sockets: the same outcome as the model, nothing left on the socket (${Math.ceil(RUNS / 3)} runs)`, async () => {
    await fc.assert(realSockets(loopback), { numRuns: Math.ceil(RUNS / 3), seed: seed + 3 })
  }, 60_000)
})
