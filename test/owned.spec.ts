import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { ownedSockets } from '../src/core/owned.ts'
import { waitForEvent, within } from './fixtures/wait.ts'
import type { AddressInfo, Socket } from 'node:net'

// The registry of the sockets a listener or a dialer owns (src/core/owned.ts),
// on real sockets.

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** `count` accepted server-side sockets on 127.0.0.1 */
async function acceptedSockets (count: number): Promise<Socket[]> {
  const accepted: Socket[] = []
  const server = net.createServer((socket) => { socket.on('error', () => {}); accepted.push(socket) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const clients = Array.from({ length: count }, () => net.connect(port, '127.0.0.1').on('error', () => {}))
  cleanup.push(async () => {
    clients.forEach((c) => c.destroy())
    accepted.forEach((s) => s.destroy())
    await new Promise((resolve) => server.close(resolve))
  })
  await within(new Promise<void>((resolve) => {
    const check = (): void => { if (accepted.length === count) resolve(); else setTimeout(check, 5) }
    check()
  }), 2000, `${count} accepted sockets`)
  return accepted
}

describe('ownedSockets', () => {
  it('takes the error a socket destroyed at its creation emits on the next tick (a connect that failed at once, its dial aborted)', async () => {
    const errors: Error[] = []
    const owned = ownedSockets((err) => { errors.push(err) })
    const socket = new net.Socket()
    // what net does when connect() fails synchronously: destroy with the error, emitted on the next tick
    socket.destroy(Object.assign(new Error('connect EADDRNOTAVAIL'), { code: 'EADDRNOTAVAIL' }))
    expect(socket.closed).toBe(true)
    owned.add(socket)
    await new Promise((resolve) => setImmediate(resolve))
    expect(errors.map((err) => err.message)).toEqual(['connect EADDRNOTAVAIL'])
    expect(owned.size).toBe(0)
  })

  it("owns sockets until their close with one shared 'close' handler, and completes each one's latest lifetime once", async () => {
    const [a, b, c] = await acceptedSockets(3)
    const owned = ownedSockets(() => {})
    const before = a.listeners('close').length

    owned.add(a)
    owned.add(b)
    owned.add(c)
    owned.add(a)
    expect(owned.size).toBe(3)
    // one listener per registry on each socket, the same function for all
    expect(a.listeners('close')).toHaveLength(before + 1)
    expect(a.listeners('close').at(-1)).toBe(b.listeners('close').at(-1))

    const calls: string[] = []
    owned.onClose(a, { complete: () => calls.push('a') })
    owned.onClose(b, { complete: () => calls.push('b') })
    owned.onClose(b, { complete: () => calls.push('b2') })
    const allClosed = Promise.all([a, b, c].map(async (s) => await waitForEvent(s, 'close', 2000, 'a socket to close')))
    a.destroy()
    b.destroy()
    c.destroy()
    await allClosed
    expect(calls.sort()).toEqual(['a', 'b2'])
    expect(owned.size).toBe(0)
    // a closed socket is not owned again
    owned.add(a)
    expect(owned.size).toBe(0)
  })
  it('ownedSockets completes the lifetime set for a socket, tells of each close once counted, and drains when the last one closes', async () => {
    const [a, b] = await acceptedSockets(2)
    const open: number[] = []
    const owned = ownedSockets(() => {}, () => { open.push(owned.size) })
    owned.add(a)
    owned.add(b)
    const calls: string[] = []
    owned.onClose(a, { complete: () => calls.push('a') })
    owned.onClose(b, { complete: () => calls.push('b') })
    owned.onClose(b, undefined)
    expect(owned.size).toBe(2)
    const drained = owned.drained(60_000)
    a.destroy()
    b.destroy()
    await within(drained, 2000, 'the registry to drain')
    expect(calls).toEqual(['a'])
    expect(open).toEqual([1, 0])
    expect(owned.size).toBe(0)
    expect(owned.stragglers).toBe(0)
  })
  it('ownedSockets drives a socket\'s closed$ from its own close listener, only once watched, and at once for a socket it does not own', async () => {
    const [a, b, c] = await acceptedSockets(3)
    const owned = ownedSockets(() => {})
    owned.add(a)
    owned.add(b)
    const calls: string[] = []
    owned.onClose(a, { complete: () => calls.push('a closed') })
    const closeListeners = a.listenerCount('close')
    const watch = (name: string, socket: Socket): void => {
      owned.closed$(socket).subscribe({ next: () => calls.push(`${name} next`), complete: () => calls.push(`${name} complete`) })
    }
    watch('a1', a)
    // a watcher that leaves before the close hears nothing, and leaves the others be
    owned.closed$(a).subscribe({ next: () => calls.push('gone next'), complete: () => calls.push('gone complete') }).unsubscribe()
    watch('a2', a)
    // a socket whose only watcher left is watched no more
    owned.closed$(b).subscribe(() => calls.push('b gone')).unsubscribe()
    // c is not owned: it counts as closed at once, with no 'close' listener of its own
    const cListeners = c.listenerCount('close')
    watch('c', c)
    expect(calls).toEqual(['c next', 'c complete'])
    expect(c.listenerCount('close')).toBe(cListeners)
    expect(a.listenerCount('close')).toBe(closeListeners)
    const drained = owned.drained(60_000)
    const cClosed = new Promise((resolve) => c.once('close', resolve))
    a.destroy()
    b.destroy()
    c.destroy()
    await within(drained, 2000, 'the registry to drain')
    await within(cClosed, 2000, 'c to close')
    watch('late', a)
    expect(calls.filter((call) => !call.startsWith('c '))).toEqual(['a closed', 'a1 next', 'a1 complete', 'a2 next', 'a2 complete', 'late next', 'late complete'])
    expect(calls.filter((call) => call.startsWith('c '))).toEqual(['c next', 'c complete'])
  })
})
