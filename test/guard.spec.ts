import net from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { EMPTY } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import { MULTISTREAM_HEADER } from '../src/guard.ts'
import { createTransport, listening } from './fixtures/transport.ts'
import { waitForEvent, waitUntil, within } from './fixtures/wait.ts'
import type { Listener, MultiaddrConnection, Upgrader } from '@libp2p/interface'
import type { MonoTypeOperatorFunction } from 'rxjs'

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

/** An upgrader whose upgrades settle when the test says (or when their signal aborts) */
function heldUpgrader (): Upgrader & { started: string[], pending: () => number, settleAll: () => void } {
  const started: string[] = []
  const settles = new Set<() => void>()
  const upgradeInbound = async (maConn: MultiaddrConnection, options: { signal?: AbortSignal }): Promise<void> => {
    started.push(maConn.remoteAddr.toString())
    await new Promise<void>((resolve, reject) => {
      const settle = (): void => {
        settles.delete(settle)
        resolve()
      }
      settles.add(settle)
      options.signal?.addEventListener('abort', () => {
        settles.delete(settle)
        reject(options.signal?.reason)
      }, { once: true })
    })
  }
  const settleAll = (): void => { for (const settle of [...settles]) settle() }
  return { upgradeInbound, started, pending: () => settles.size, settleAll } as unknown as Upgrader & { started: string[], pending: () => number, settleAll: () => void }
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

  it('frees the slot of an upgrade that settled, and of one whose socket closed: silent sockets are upgraded again', async () => {
    const upgrader = heldUpgrader()
    const { listener, addr } = await listening(createTransport({ inboundGuard: { maxUpgrading: 2 } }), upgrader, multiaddr('/ip4/127.0.0.1/tcp/0'))
    listeners.push(listener)
    const port = Number(addr.getComponents()[1].value)
    const reached = (from: string): boolean => upgrader.started.some((a) => a.startsWith(`/ip4/${from}/`))

    // both slots taken by silent sockets, whose upgrades then succeed
    client(port, '127.0.11.1')
    client(port, '127.0.11.2')
    await waitUntil(() => upgrader.pending() === 2, 5_000, 'two upgrades to start')
    upgrader.settleAll()
    // without the release, the slots stay taken: the next silent sockets would wait for a header they never send
    client(port, '127.0.11.3')
    const closing = client(port, '127.0.11.4')
    await waitUntil(() => reached('127.0.11.3') && reached('127.0.11.4'), 5_000, 'two more silent sockets to reach the upgrader once the first upgrades settled')

    // one of those closes mid-upgrade: its upgrade is aborted, and its slot freed
    closing.destroy()
    await waitUntil(() => upgrader.pending() === 1, 5_000, 'the closed socket\'s upgrade to be aborted')
    client(port, '127.0.11.5')
    await waitUntil(() => reached('127.0.11.5'), 5_000, 'a silent socket to take the slot the closed one freed')
    expect(upgrader.started).toHaveLength(5)
  })

  it('frees the slot of a socket whose lifetime never began its upgrade: silent sockets are upgraded again', async () => {
    const upgrader = heldUpgrader()
    let dropped = 0
    // the first two lifetimes never subscribe: their sockets are rejected without an upgrade
    const lifetime = (): MonoTypeOperatorFunction<MultiaddrConnection> => (lifetime$) => dropped++ < 2 ? EMPTY : lifetime$
    const { listener, addr } = await listening(createTransport({ inboundGuard: { maxUpgrading: 2 }, lifetime }), upgrader, multiaddr('/ip4/127.0.0.1/tcp/0'))
    listeners.push(listener)
    const port = Number(addr.getComponents()[1].value)
    const first = [client(port, '127.0.12.1').resume(), client(port, '127.0.12.2').resume()]
    await Promise.all(first.map(async (socket) => socket.closed ? undefined : waitForEvent(socket, 'close', 5_000, 'a dropped socket to be closed')))
    // with both slots still counted, this silent socket would wait for a header it never sends
    client(port, '127.0.12.3')
    await waitUntil(() => upgrader.started.some((a) => a.startsWith('/ip4/127.0.12.3/')), 5_000, 'a silent socket to reach the upgrader')
  })
})
