// Run with: npx tsx examples/fastify.ts
//
// A Fastify 5 app with @fastify/rate-limit, guarded by proxyProtocol: no
// HAProxy needed, the example plays the balancer itself. A local socket from
// 127.0.0.1 (the trusted balancer) writes a binary PROXY v2 header naming a
// client, IPv4 or IPv6, then the client's HTTP request; request.ip, the rate
// limiter and the socket see that client, and balancerAddress the balancer.
// It prints what the app saw for each client and exits.
import net from 'node:net'
import rateLimit from '@fastify/rate-limit'
import Fastify from 'fastify'
import { balancerAddress, proxyProtocol } from '../operators/proxy-protocol/index.ts'
import { guardServer } from '../operators/servers/index.ts'
import type { AddressInfo, Socket } from 'node:net'

const app = Fastify()
await app.register(rateLimit, { max: 2, timeWindow: 60_000 })
app.get('/', async (request) => ({
  ip: request.ip,
  remotePort: request.socket.remotePort,
  family: request.socket.remoteFamily,
  balancer: balancerAddress(request.socket as Socket)?.address
}))
await app.ready()
// once the app is ready its server's own listeners are in place; the balancer is 127.0.0.1
const guard = guardServer(app.server, proxyProtocol({ trusted: ['127.0.0.1/32'] }), { onReject: (socket, reason, err) => { console.log(`refused ${socket.remoteAddr.toString()}: ${reason} ${err?.message ?? ''}`) } }).subscribe()
await app.listen({ port: 0, host: '127.0.0.1' })
const { port } = app.server.address() as AddressInfo

/** a PROXY v2 header (PROXY command, TCP) from `client`:`clientPort` to the app */
function v2Header (client: string, clientPort: number): Buffer {
  const v6 = net.isIPv6(client)
  const address = (ip: string): Buffer => v6 ? ipv6Bytes(ip) : Buffer.from(ip.split('.').map(Number))
  const ports = Buffer.alloc(4)
  ports.writeUInt16BE(clientPort, 0)
  ports.writeUInt16BE(port, 2)
  const addresses = Buffer.concat([address(client), address(v6 ? '0:0:0:0:0:0:0:1' : '127.0.0.1'), ports])
  const length = Buffer.alloc(2)
  length.writeUInt16BE(addresses.length)
  const signature = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')
  return Buffer.concat([signature, Buffer.from([0x21, v6 ? 0x21 : 0x11]), length, addresses])
}

/** the 16 bytes of a full-length IPv6 address such as 2001:db8:0:0:0:0:0:7 */
function ipv6Bytes (ip: string): Buffer {
  return Buffer.concat(ip.split(':').map((group) => {
    const bytes = Buffer.alloc(2)
    bytes.writeUInt16BE(parseInt(group, 16))
    return bytes
  }))
}

async function throughBalancer (client: string, clientPort: number): Promise<string> {
  const socket = net.connect({ host: '127.0.0.1', port })
  await new Promise((resolve) => socket.once('connect', resolve))
  socket.write(Buffer.concat([v2Header(client, clientPort), Buffer.from('GET / HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n')]))
  let response = ''
  socket.on('data', (chunk: Buffer) => { response += chunk.toString() })
  await new Promise((resolve) => socket.once('close', resolve))
  const [head, body] = response.split('\r\n\r\n')
  return `${head.split('\r\n')[0]} ${body}`
}

for (const [client, clientPort] of [['203.0.113.7', 50001], ['203.0.113.7', 50002], ['203.0.113.7', 50003], ['2001:db8:0:0:0:0:0:7', 50004]] as const) {
  console.log(`${client}:${clientPort} -> ${await throughBalancer(client, clientPort)}`)
}

guard.unsubscribe()
await app.close()
