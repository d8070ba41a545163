// Child process of bench/upgrade-cap.ts: the listener side of the memory
// figure, alone in its process so that its heap is its own. One mode:
//   plain:   a net.Server that holds every accepted socket, unread
//   held:    acceptSockets alone, each socket handed on and held, unread
//   waiting: acceptSockets + upgradeCap({ max: 1 }) whose one slot is never
//            freed, so every later socket waits for a slot, unread
//   paused:  the same, each waiting socket also given socket.pause()
// IPC: sends { type: 'listening', port }; on { type: 'measure', expect, sent }
// waits until `expect` sockets are held with what they were `sent`, collects, replies
// { type: 'heap', heapUsed, arrayBuffers, held, buffered }.
import net from 'node:net'
import { upgradeCap } from '../operators/index.ts'
import { acceptSockets } from '../operators/servers/index.ts'
import { fullGc } from './gc.ts'
import { until } from './stats.ts'
import type { Socket } from 'node:net'

export type CapChildMode = 'plain' | 'held' | 'waiting' | 'paused'
export type CapChildReport =
  | { type: 'listening', port: number }
  | { type: 'heap', heapUsed: number, arrayBuffers: number, held: number, buffered: number }

const mode = process.argv[2] as CapChildMode
const send = (msg: CapChildReport): void => { process.send?.(msg) }
const server = net.createServer()
const held = new Set<Socket>()

server.on('connection', (socket) => {
  socket.on('error', () => {})
  held.add(socket)
  socket.once('close', () => held.delete(socket))
  if (mode === 'paused') {
    socket.pause()
  }
})
if (mode === 'held') {
  acceptSockets(server).subscribe()
} else if (mode !== 'plain') {
  const cap = upgradeCap({ max: 1, maxWaiting: 1_000_000, maxWait: 600_000 })
  // the first socket takes the one slot and keeps it: its lifetime never ends
  acceptSockets(server).pipe(cap.inbound).subscribe()
}

server.listen(0, '127.0.0.1', () => { send({ type: 'listening', port: (server.address() as net.AddressInfo).port }) })

process.on('message', (msg: { type: 'measure', expect: number, sent: number } | 'exit') => {
  if (msg === 'exit') {
    for (const socket of held) socket.destroy()
    server.close(() => { process.disconnect() })
    return
  }
  void (async () => {
    await until(30_000, () => `${msg.expect} sockets held (${held.size} so far)`, () => held.size >= msg.expect)
    // what the clients sent is in: Node reads a socket nobody reads until its readableHighWaterMark
    await until(30_000, 'each socket to buffer what Node reads of it unasked', () => [...held].every((socket) => socket.readableLength >= Math.min(msg.sent, socket.readableHighWaterMark)))
    await fullGc()
    const { heapUsed, arrayBuffers } = process.memoryUsage()
    const buffered = [...held].reduce((sum, socket) => sum + socket.readableLength, 0)
    send({ type: 'heap', heapUsed, arrayBuffers, held: held.size, buffered })
  })()
})
