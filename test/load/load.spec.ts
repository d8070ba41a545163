import { describe, expect, it } from 'vitest'
import { tcp } from '../../src/index.ts'
import { runLoad } from './load.ts'

// the full figure (5,000 connections) is `npm run load`; this keeps npm test fast
const UPGRADED = Number(process.env.LOAD_UPGRADED ?? 300)
const SILENT = Number(process.env.LOAD_SILENT ?? 1_200)

describe('load', () => {
  it(`holds ${UPGRADED + SILENT} concurrent connections on one listener (${UPGRADED} upgraded, ${SILENT} mid-upgrade) and closes it in bounded time leaving nothing`, async () => {
    // unguarded: the inbound guard would shed these silent sockets, which is what npm run flood measures
    const r = await runLoad({ transport: tcp({ inboundGuard: false }), upgraded: UPGRADED, silent: SILENT })
    console.log(`load: held ${r.held}, built in ${(r.buildMs / 1000).toFixed(1)} s, close() ${r.closeMs.toFixed(1)} ms, last client 'close' ${r.clientsClosedMs.toFixed(1)} ms`)
    expect(r.errors).toEqual([])
    expect(r.held).toBe(UPGRADED + SILENT)
    expect(r.closeMs).toBeLessThan(2_000)
    expect(r.closeEvents).toBe(1)
    expect(r.notDestroyed, 'accepted sockets not destroyed when close() resolved').toBe(0)
    expect(r.clientsOpen, "client sockets that never saw 'close'").toBe(0)
    expect(r.leftover, 'handles and timers left behind').toEqual({})
  }, 60_000)
})
