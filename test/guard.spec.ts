import net from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { MULTISTREAM_HEADER } from '../src/guard.ts'
import { createTransport, listening } from './fixtures/transport.ts'
import { waitUntil, within } from './fixtures/wait.ts'
import type { Listener, MultiaddrConnection, Upgrader } from '@libp2p/interface'

/**
 * An upgrader that refuses past 10 pending upgrades, as libp2p's connection
 * manager does by default (`maxIncomingPendingConnections`), and otherwise
 * holds each upgrade until its signal aborts: every client here stalls.
 */
function libp2pLikeUpgrader (): Upgrader & { accepted: string[], refused: string[], pending: () => number } {
  const accepted: string[] = []
  const refused: string[] = []
  let pending = 0
  const upgradeInbound = async (maConn: MultiaddrConnection, options: { signal?: AbortSignal }): Promise<void> => {
    const from = maConn.remoteAddr.toString()
    if (pending >= 10) {
      refused.push(from)
      throw new Error(`connection from ${from} refused - incomingPendingConnections exceeded`)
    }
    pending++
    accepted.push(from)
    await new Promise<void>((_resolve, reject) => {
      options.signal?.addEventListener('abort', () => {
        pending--
        reject(options.signal?.reason)
      }, { once: true })
    })
  }
  return { upgradeInbound, accepted, refused, pending: () => pending } as unknown as Upgrader & { accepted: string[], refused: string[], pending: () => number }
}

const clients: net.Socket[] = []
const listeners: Listener[] = []
afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy()
  await Promise.all(listeners.splice(0).map(async (listener) => listener.close()))
})

function client (port: number, from: string): net.Socket {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress: from })
  socket.on('error', () => {})
  clients.push(socket)
  return socket
}

describe('the inbound guard, on by default', () => {
  it('gives a peer that sends its header a pending-upgrade slot that twelve silent sockets took', async () => {
    const upgrader = libp2pLikeUpgrader()
    const { listener, addr } = await listening(createTransport(), upgrader, multiaddr('/ip4/127.0.0.1/tcp/0'))
    listeners.push(listener)
    const port = Number(addr.getComponents()[1].value)
    for (let i = 1; i <= 12; i++) client(port, `127.0.9.${i}`)
    await waitUntil(() => upgrader.accepted.length + upgrader.refused.length >= 8, 5_000, 'the silent sockets to reach the upgrader')

    const peer = client(port, '127.0.10.1')
    await within(new Promise((resolve) => peer.once('connect', resolve)), 2_000, 'the peer to connect')
    peer.write(MULTISTREAM_HEADER)
    await waitUntil(() => upgrader.accepted.some((a) => a.startsWith('/ip4/127.0.10.1/')) || upgrader.refused.some((a) => a.startsWith('/ip4/127.0.10.1/')), 5_000, 'the peer to reach the upgrader')
    expect(upgrader.refused).toEqual([])
    expect(upgrader.accepted.some((a) => a.startsWith('/ip4/127.0.10.1/'))).toBe(true)
    expect(upgrader.pending()).toBeLessThanOrEqual(8)
  })

  it('changes nothing off: every socket goes to the upgrader at once', async () => {
    const upgrader = libp2pLikeUpgrader()
    const { listener, addr } = await listening(createTransport({ inboundGuard: false }), upgrader, multiaddr('/ip4/127.0.0.1/tcp/0'))
    listeners.push(listener)
    const port = Number(addr.getComponents()[1].value)
    for (let i = 1; i <= 12; i++) client(port, `127.0.9.${i}`)
    await waitUntil(() => upgrader.accepted.length + upgrader.refused.length === 12, 5_000, 'every socket to reach the upgrader')
    expect(upgrader.refused.length).toBe(2)
  })
})
