import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { SocketTable } from '../src/core/socket-table.ts'
import { ownedSockets } from '../src/core/owned.ts'
import { waitForEvent, within } from './fixtures/wait.ts'
import type { AddressInfo, Socket } from 'node:net'

// The one socket registry under the listener's and the dialer's owned
// sockets and the operators' open-socket counts, on real sockets.

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

describe('SocketTable', () => {
  it('follows sockets until their close with one shared handler, and tells their value once', async () => {
    const [a, b, c] = await acceptedSockets(3)
    const closed: Array<[Socket, string]> = []
    const table = new SocketTable<string>((socket, value) => { closed.push([socket, value]) })
    const before = a.listeners('close').length

    expect(table.add(a, 'a')).toBe(true)
    expect(table.add(b, 'b')).toBe(true)
    expect(table.add(c, 'c')).toBe(true)
    expect(table.add(a, 'again')).toBe(false)
    expect(table.size).toBe(3)
    // one listener per table on each socket, the same function for all
    expect(a.listeners('close')).toHaveLength(before + 1)
    expect(a.listeners('close').at(-1)).toBe(b.listeners('close').at(-1))

    table.set(b, 'b2')
    table.forget(c)
    expect(c.listeners('close')).toHaveLength(before)

    const bothClosed = Promise.all([waitForEvent(a, 'close', 2000, 'a to close'), waitForEvent(b, 'close', 2000, 'b to close')])
    a.destroy()
    b.destroy()
    c.destroy()
    await bothClosed
    // each socket once, with its latest value (in whichever order they closed)
    expect(closed.map(([socket, value]) => [socket === a ? 'a' : socket === b ? 'b' : '?', value]).sort()).toEqual([['a', 'a'], ['b', 'b2']])
    expect(table.size).toBe(0)
    expect(table.add(a, 'closed')).toBe(false)
  })

  it('clear() detaches from every socket without telling the owner', async () => {
    const sockets = await acceptedSockets(2)
    const closed: Socket[] = []
    const table = new SocketTable<undefined>((socket) => { closed.push(socket) })
    const before = sockets[0].listeners('close').length
    sockets.forEach((s) => table.add(s, undefined))
    table.clear()
    expect(table.size).toBe(0)
    expect(sockets[0].listeners('close')).toHaveLength(before)
    const gone = waitForEvent(sockets[1], 'close', 2000, 'the socket to close')
    sockets.forEach((s) => s.destroy())
    await gone
    expect(closed).toEqual([])
  })
})

describe('the registries built on it', () => {
  it('ownedSockets calls the close callback set for a socket, and drains when the last one closes', async () => {
    const [a, b] = await acceptedSockets(2)
    const owned = ownedSockets(() => {})
    owned.add(a)
    owned.add(b)
    const calls: string[] = []
    owned.onClose(a, () => calls.push('a'))
    owned.onClose(b, () => calls.push('b'))
    owned.onClose(b, undefined)
    expect(owned.size).toBe(2)
    const drained = owned.drained(new Promise(() => {}))
    a.destroy()
    b.destroy()
    await within(drained, 2000, 'the registry to drain')
    expect(calls).toEqual(['a'])
    expect(owned.size).toBe(0)
    expect(owned.stragglers).toBe(0)
  })
  it('ownedSockets drives a socket\'s closed$ from its own close listener, only once watched, and at once for a closed socket', async () => {
    const [a, b, c] = await acceptedSockets(3)
    const owned = ownedSockets(() => {})
    owned.add(a)
    owned.add(b)
    const calls: string[] = []
    owned.onClose(a, () => calls.push('a closed'))
    const closeListeners = a.listenerCount('close')
    const watch = (name: string, socket: Socket): void => {
      owned.closed$(socket).subscribe({ next: () => calls.push(`${name} next`), complete: () => calls.push(`${name} complete`) })
    }
    watch('a1', a)
    watch('a2', a)
    // c is not owned: it is watched through its own 'close'
    watch('c', c)
    expect(a.listenerCount('close')).toBe(closeListeners)
    const drained = owned.drained(new Promise(() => {}))
    const cClosed = new Promise((resolve) => c.once('close', resolve))
    a.destroy()
    b.destroy()
    c.destroy()
    await within(drained, 2000, 'the registry to drain')
    await within(cClosed, 2000, 'c to close')
    watch('late', a)
    expect(calls.filter((call) => !call.startsWith('c '))).toEqual(['a closed', 'a1 next', 'a2 next', 'a1 complete', 'a2 complete', 'late next', 'late complete'])
    expect(calls.filter((call) => call.startsWith('c '))).toEqual(['c next', 'c complete'])
  })
})
