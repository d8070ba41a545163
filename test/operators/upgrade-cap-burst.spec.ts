import { afterEach, describe, expect, it } from 'vitest'
import { burst } from '../fixtures/upgrade-burst.ts'

describe('upgradeCap under a burst', () => {
  const cleanup: Array<() => Promise<void> | void> = []
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn()
  })

  it('serves a burst of 60 on max 2 with its default options, resetting at most 6', async () => {
    const figures = await burst(60, { max: 2 }, cleanup)
    // the figure, printed for the record: served, waiting, reset
    console.log(`upgradeCap({ max: 2 }), burst of 60: ${JSON.stringify(figures)}`)
    expect(figures.reset + figures.closed).toBeLessThanOrEqual(6)
    expect(figures.served).toBeGreaterThanOrEqual(54)
  })
})
