/**
 * A small seeded PRNG (mulberry32) so that every chaos run can be replayed
 * from the seed it prints.
 */
export interface Random {
  readonly seed: number
  /** a float in [0, 1) */
  next(): number
  /** an integer in [min, max] */
  int(min: number, max: number): number
  /** true with probability p */
  chance(p: number): boolean
  pick<T>(items: readonly T[]): T
  bytes(length: number): Uint8Array
  /** a new generator derived from this one, for a sub-task that must not shift the parent's sequence */
  fork(): Random
}

export function createRandom (seed: number): Random {
  let state = seed >>> 0
  const next = (): number => {
    state = (state + 0x6D2B79F5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const random: Random = {
    seed,
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)],
    bytes: (length) => {
      const out = new Uint8Array(length)
      for (let i = 0; i < length; i++) out[i] = Math.floor(next() * 256)
      return out
    },
    fork: () => createRandom(Math.floor(next() * 4294967296))
  }
  return random
}
