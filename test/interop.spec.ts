/**
 * Real libp2p 3 nodes (noise + yamux) on loopback and unix sockets: rx-tcp
 * talking to rx-tcp, and rx-tcp talking to `@libp2p/tcp` with either side
 * listening. Each pair opens an echo stream in each direction over the one
 * connection the dialer made, so both nodes send and both nodes receive.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createNode, echo, handleEcho, payload, socketDir, stopNodes } from './fixtures/nodes.ts'
import type { TransportKind } from './fixtures/nodes.ts'
import type { Libp2p } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

const BYTES = 64 * 1024

interface Family {
  name: string
  /** the listen address; unix paths come from a fresh temp dir */
  listen: (dir: Awaited<ReturnType<typeof socketDir>>) => string
  /** the protocol code every dialable address of the family carries */
  code: string
}

const families: Family[] = [
  { name: '127.0.0.1', listen: () => '/ip4/127.0.0.1/tcp/0', code: 'ip4' },
  { name: '::1', listen: () => '/ip6/::1/tcp/0', code: 'ip6' },
  { name: 'a unix socket', listen: (dir) => dir.path('node.sock'), code: 'unix' }
]

const label = { rx: 'rx-tcp', ref: '@libp2p/tcp' }

const pairs = ([['rx', 'rx'], ['rx', 'ref'], ['ref', 'rx']] as const).map(([listener, dialer]) => ({
  listener: listener as TransportKind,
  dialer: dialer as TransportKind,
  title: `an ${label[listener]} listener and an ${label[dialer]} dialer`
}))

for (const family of families) {
  describe(`interop on ${family.name}`, () => {
    let nodes: Libp2p[] = []
    let dir: Awaited<ReturnType<typeof socketDir>>

    beforeEach(async () => {
      dir = await socketDir()
    })

    afterEach(async () => {
      const stopping = nodes
      nodes = []
      await stopNodes(stopping)
      await dir.remove()
    })

    for (const pair of pairs) {
      it(`${pair.title} exchange data both ways`, async () => {
        const listener = await createNode({ transport: pair.listener, listen: [family.listen(dir)] })
        nodes.push(listener)
        const dialer = await createNode({ transport: pair.dialer })
        nodes.push(dialer)
        await Promise.all([handleEcho(listener), handleEcho(dialer)])

        const [target] = addressesOf(listener, family)
        expect(target, `${label[pair.listener]} listens on ${family.name}`).toBeDefined()

        const outbound = payload(BYTES, 1)
        expect(await echo(dialer, target, outbound, { signal: AbortSignal.timeout(10_000) })).toEqual(outbound)

        // the listener opens its own stream back over the connection it accepted
        const [accepted] = listener.getConnections(dialer.peerId)
        expect(accepted, 'the listener holds the inbound connection').toBeDefined()
        expect(accepted.direction).toBe('inbound')
        expect(accepted.remoteAddr.getComponents()[0].name).toBe(family.code)
        const inbound = payload(BYTES, 2)
        expect(await echo(listener, dialer.peerId, inbound, { signal: AbortSignal.timeout(10_000) })).toEqual(inbound)

        // the reverse stream needed no second connection
        expect(listener.getConnections(dialer.peerId)).toHaveLength(1)
        expect(dialer.getConnections(listener.peerId)).toHaveLength(1)
      })
    }
  })
}

/** the node's addresses of the family (each with the node's /p2p/ suffix) */
function addressesOf (node: Libp2p, family: Family): Multiaddr[] {
  return node.getMultiaddrs().filter(ma => ma.getComponents()[0].name === family.code)
}
