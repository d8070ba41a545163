/**
 * The proposed upstream fixes of test/holepunch/patches/ apply to the
 * installed libp2p, and do what docs/holepunch.md says: with them, a dial
 * opened with `initiator: false` (as @libp2p/dcutr opens its hole punch)
 * reaches the transport, and so the upgrader, with `initiator: false`
 * (obstacle 1), and the upgrader gives such a connection the direction the
 * muxer takes its role from (obstacle 2). The tests without them assert the
 * bugs: when a libp2p release fixes one, its test fails, and the patch can
 * go. The full hole punch is `npm run holepunch` (namespaces, root).
 */
import { spawnSync } from 'node:child_process'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { tcp } from '../../src/index.ts'
import { skipping } from '../fixtures/skip.ts'
import { PATCHES, patchedLibp2p } from './patched.ts'
import type { Transport } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

interface Seen {
  /** what the transport's dial was given for `initiator` when libp2p opened a connection with `initiator: false` */
  initiator: unknown
  /** the connection's direction once the upgrader has taken it with `initiator: false` */
  direction: unknown
}

/** what a transport sees of a dial that libp2p (from `entry`) opens with `initiator: false` */
async function seenByTransport (entry?: string): Promise<Seen> {
  const { createLibp2p } = await import(entry ?? 'libp2p') as typeof import('libp2p')
  const seen: Seen[] = []
  const recording = (components: any): Transport => {
    const transport = tcp()(components)
    // the dial records what it was given and opens no socket: the upgrade of
    // a stand-in connection fails once the upgrader has chosen its direction
    return Object.assign(Object.create(transport), {
      dial: async (ma: Multiaddr, options: any) => {
        const maConn = { remoteAddr: ma, direction: 'outbound' }
        await options.upgrader.upgradeOutbound(maConn, { ...options, initiator: false }).catch(() => {})
        seen.push({ initiator: options.initiator, direction: maConn.direction })
        throw new Error('recorded')
      }
    })
  }
  const node = await createLibp2p({ transports: [recording], connectionEncrypters: [noise()], streamMuxers: [yamux()], connectionGater: { denyDialMultiaddr: () => false } })
  try {
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    // libp2p.dial hands its options to connectionManager.openConnection, as dcutr's dial does
    await expect(node.dial(multiaddr(`/ip4/127.0.0.1/tcp/9/p2p/${peer.toString()}`), { initiator: false } as any)).rejects.toThrow()
  } finally {
    await node.stop()
  }
  expect(seen).toHaveLength(1)
  return seen[0]
}

// patch(1) applies them; without it the spec skips, saying why
const noPatch = spawnSync('patch', ['--version']).status === 0 ? undefined : 'patch(1) is not installed'

describe.skipIf(noPatch != null)(skipping('the proposed libp2p fixes', noPatch), () => {
  it('apply to the installed libp2p', () => {
    expect(PATCHES.length).toBeGreaterThan(0)
    expect(patchedLibp2p(PATCHES, 'spec')).toMatch(/^file:.*\/\.results\/holepunch\/spec\/node_modules\/libp2p\/dist\/src\/index\.js$/)
  })

  it('without them, the dial queue drops `initiator: false` (obstacle 1) and the muxer runs as the TCP direction says (obstacle 2)', async () => {
    expect(await seenByTransport()).toEqual({ initiator: undefined, direction: 'outbound' })
  })

  it('with them, `initiator: false` reaches the transport and the connection is inbound for the encrypter and the muxer', async () => {
    expect(await seenByTransport(patchedLibp2p(PATCHES, 'spec'))).toEqual({ initiator: false, direction: 'inbound' })
  })
})
