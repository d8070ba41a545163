/**
 * A few cells of `npm run interop` in `npm test`, against the real go-libp2p
 * and rust-libp2p peers: ping, a 1 MiB echo and a peer killed mid-upgrade,
 * in both directions on rx-tcp, and the finding of the interop runs (the
 * error of a dial whose peer dies mid-upgrade). It uses the peers as last
 * built and never builds them (a cold rust build takes minutes): without a
 * binary it skips and says why; `npm run interop` builds them.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { settledTcpHandles } from '../fixtures/netns.ts'
import { skipping } from '../fixtures/skip.ts'
import { runCell } from './cells.ts'
import { interopNode } from './js-node.ts'
import { builtPeer, killAllPeers, listenAddr, spawnPeer } from './peers.ts'
import { SCENARIOS } from './scenarios.ts'
import type { InteropNode } from './js-node.ts'
import type { PeerBinary, PeerKind } from './peers.ts'

const loopback = { jsIp: '127.0.0.1', peerIp: '127.0.0.1', slow: 2 }

const built: Array<{ kind: PeerKind, binary?: PeerBinary, reason?: string }> = (['go', 'rust'] as const).map((kind) => {
  const b = builtPeer(kind)
  const reason = b.skip
  if (reason != null) console.warn(`interop spec, ${kind} peer skipped: ${reason}`)
  return { kind, binary: reason == null ? b : undefined, reason }
})

afterEach(() => { killAllPeers() })

for (const { kind, binary, reason } of built) {
  describe.skipIf(binary == null)(skipping(`rx-tcp against the ${kind}-libp2p peer`, reason), () => {
    for (const direction of ['js-dials', 'js-listens'] as const) {
      for (const scenario of ['ping', 'echo', 'kill-upgrade']) {
        it(`${scenario}, ${direction === 'js-dials' ? 'the JS node dials' : 'the peer dials'}`, async () => {
          const r = await runCell({ peer: kind, transport: 'rx', direction, scenario, network: 'loopback' }, SCENARIOS[scenario], binary as PeerBinary, loopback)
          expect(r.uncaught).toEqual([])
          expect(r.status, r.detail).toBe('pass')
        }, 20_000)
      }
    }

    describe('a dial whose peer dies after TCP and before encryption', () => {
      let node: InteropNode | undefined
      afterEach(async () => { await node?.stop(); node = undefined })

      it('rejects with an error that names the address, not a bare AbortError, and leaves no socket', async () => {
        const peer = spawnPeer(binary as PeerBinary, ['--listen', '/ip4/127.0.0.1/tcp/0'])
        const addr = listenAddr(await peer.waitFor((e) => e.event === 'listening', 'listening', 10_000), '127.0.0.1')
        // the gater runs after TCP and before noise: the peer dies there, the upgrade goes on
        node = await interopNode({ transport: 'rx', hooks: { outbound: async () => { await peer.signal('SIGKILL') } } })
        const err = await node.dial(multiaddr(addr), { signal: AbortSignal.timeout(10_000) }).then(() => undefined, (err) => err)
        expect(err, 'the dial to a killed peer succeeded').toBeDefined()
        // nobody aborted this dial: the peer went
        expect(err.name).not.toBe('AbortError')
        expect(err.message).toContain(addr.split('/p2p/')[0])
        expect(await settledTcpHandles(1000)).toEqual([])
      })

      it('still rejects with an AbortError when the caller aborts', async () => {
        const peer = spawnPeer(binary as PeerBinary, ['--listen', '/ip4/127.0.0.1/tcp/0'])
        const addr = listenAddr(await peer.waitFor((e) => e.event === 'listening', 'listening', 10_000), '127.0.0.1')
        const controller = new AbortController()
        node = await interopNode({ transport: 'rx', hooks: { outbound: async () => { controller.abort() } } })
        const err = await node.dial(multiaddr(addr), { signal: controller.signal }).then(() => undefined, (err) => err)
        expect(err?.name).toBe('AbortError')
        await peer.signal('SIGKILL')
      })
    })
  })
}
