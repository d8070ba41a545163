import { describe, expect, it } from 'vitest'
import { runWorkerExit } from './worker/host.ts'
import type { WorkerExitResult } from './worker/host.ts'

// How long after stop() resolved the worker thread may take to exit by
// itself. Measured at 10-30 ms on Node 24 on an idle machine (docs/runtimes.md,
// "Worker threads"); the rest is margin for a loaded one. A handle left
// behind holds the thread for good, so the bound separates the two cases
// whatever the load.
const BOUND_MS = 2_000

function why (r: WorkerExitResult): string {
  return `the worker did not exit within ${BOUND_MS} ms of stop() (${r.stopMs} ms); still active in it: ${r.resourcesLeft.length > 0 ? r.resourcesLeft.join(', ') : '(nothing listed)'}`
}

describe('a libp2p node in a worker thread', () => {
  // the reference too: if it fails along with rx-tcp, the cause is in the stack, not the transport
  for (const [transport, name] of [['rx', 'rx-tcp'], ['ref', '@libp2p/tcp']] as const) {
    it(`on ${name}, stopped with connections both ways, dials in flight and handshakes halfway, exits by itself`, async () => {
      const r = await runWorkerExit({ transport, boundMs: BOUND_MS })
      // what was in flight when it stopped
      expect(r.connectionsAtStop, 'an inbound and an outbound connection at stop()').toBeGreaterThanOrEqual(2)
      expect(r.dialsInFlight).toBe(2)
      expect(r.halfHandshakes).toBe(2)
      expect(r.exitAfterMs, why(r)).toBeDefined()
      expect(r.exitAfterMs).toBeLessThanOrEqual(BOUND_MS)
      expect(r.exitCode).toBe(0)
    }, 60_000)
  }

  it('is held by a socket the worker leaks, and says which handle holds it', async () => {
    const r = await runWorkerExit({ transport: 'rx', boundMs: 1_000, leak: true })
    expect(r.exitAfterMs, 'a worker with an open socket must not count as exited').toBeUndefined()
    expect(r.resourcesLeft).toContain('TCPSocketWrap')
  }, 60_000)
})
