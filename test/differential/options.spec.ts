/**
 * The differential suite, options: each scenario runs against rx-tcp and
 * against `@libp2p/tcp` (see `./fixture.ts` for what is compared and how).
 */
import { describe, it } from 'vitest'
import { both, differentialSuite, factories, failure, intended, same } from './fixture.ts'
import type { Failure } from './fixture.ts'

differentialSuite()

/** What `tcp(init)` does with `init`: 'taken', or what it threw */
function given (kind: 'rx' | 'ref', init: Record<string, unknown>): Failure | 'taken' {
  try {
    factories[kind](init as any)
    return 'taken'
  } catch (err) {
    return failure(err)
  }
}

describe('options', () => {
  it.each([
    { backlog: -3 },
    { backlog: 1.5 },
    { maxConnections: 2.5 },
    { inboundSocketInactivityTimeout: 'x' },
    { outboundSocketInactivityTimeout: -1 },
    { inboundSocketInactivityTimeout: Number.NaN },
    { closeServerOnMaxConnections: { closeAbove: -1, listenBelow: -2 } },
    { dialOpts: { noDelay: 'yes' } },
    { listenOpts: { keepAliveInitialDelay: -1 } }
  ])('%j: rx-tcp refuses it at tcp() with InvalidParametersError, @libp2p/tcp takes it', async (init) => {
    intended(await both(async (kind) => given(kind, init)), {
      rx: { class: 'InvalidParametersError', name: 'InvalidParametersError', code: undefined },
      ref: 'taken'
    })
  })

  it('the values at the edge of the bounds are taken by both', async () => {
    const init = { backlog: 0, maxConnections: 0, inboundSocketInactivityTimeout: 0, outboundSocketInactivityTimeout: 2 ** 31 - 1, dialOpts: { noDelay: false, keepAliveInitialDelay: 0 }, someOtherKey: true }
    same(await both(async (kind) => given(kind, init)), 'taken')
  })
})
