// Child process of `npm run bench:proxy`: the listener side, alone in its
// process so that its heap is its own. One mode per process:
//   plain:   a net.Server that holds every accepted socket, nothing else
//   held:    acceptSockets alone, each socket held once it is handed on (the
//            pipeline element without a header to wait for)
//   waiting: the same server through acceptSockets + proxyProtocol, every
//            socket trusted and waiting for a header that does not complete
//   reads:   proxyProtocol over acceptSockets; each socket that passes is
//            counted and destroyed (the throughput figure)
//   accepts: acceptSockets alone, each socket destroyed at its first byte
//            (the same loop without a header to read: the ceiling)
// IPC: sends { type: 'listening', port }; on { type: 'measure', expect }
// waits until `expect` sockets are held, collects, replies { type: 'heap', heapUsed, arrayBuffers };
// on { type: 'count' } replies { type: 'count', passed }.
import net from 'node:net'
import { acceptSockets } from '../operators/servers/index.ts'
import { proxyProtocol } from '../operators/proxy-protocol/index.ts'
import { fullGc } from './gc.ts'
import { until } from './stats.ts'
import type { Socket } from 'node:net'

export type ProxyChildMode = 'plain' | 'held' | 'waiting' | 'reads' | 'accepts'
export type ProxyChildReport =
  | { type: 'listening', port: number }
  | { type: 'heap', heapUsed: number, arrayBuffers: number, held: number }
  | { type: 'count', passed: number }

const mode = process.argv[2] as ProxyChildMode
const send = (msg: ProxyChildReport): void => { process.send?.(msg) }
const server = net.createServer()
const held = new Set<Socket>()
let passed = 0

if (mode === 'held') {
  acceptSockets(server).subscribe(({ socket }) => {
    held.add(socket)
    socket.once('close', () => held.delete(socket))
  })
} else if (mode === 'plain') {
  server.on('connection', (socket) => {
    socket.on('error', () => {})
    held.add(socket)
    socket.once('close', () => held.delete(socket))
  })
} else {
  const pipeline = mode === 'accepts' ? (source: any) => source : proxyProtocol({ trusted: ['127.0.0.0/8'], timeout: 600_000 })
  acceptSockets(server).pipe(pipeline).subscribe(({ socket }) => {
    if (mode === 'accepts') {
      socket.once('data', () => { passed++; socket.destroy() })
      return
    }
    passed++
    socket.destroy()
  })
  if (mode === 'waiting') {
    server.on('connection', (socket) => {
      held.add(socket)
      socket.once('close', () => held.delete(socket))
    })
  }
}

server.listen(0, '127.0.0.1', () => { send({ type: 'listening', port: (server.address() as net.AddressInfo).port }) })

process.on('message', (msg: { type: 'measure', expect: number } | { type: 'count' } | 'exit') => {
  if (msg === 'exit') {
    for (const socket of held) socket.destroy()
    server.close(() => { process.disconnect() })
    return
  }
  if (msg.type === 'count') {
    send({ type: 'count', passed })
    return
  }
  void (async () => {
    await until(30_000, () => `${msg.expect} sockets held (${held.size} so far)`, () => held.size >= msg.expect)
    await new Promise((resolve) => setTimeout(resolve, 300))
    await fullGc()
    const { heapUsed, arrayBuffers } = process.memoryUsage()
    send({ type: 'heap', heapUsed, arrayBuffers, held: held.size })
  })()
})
