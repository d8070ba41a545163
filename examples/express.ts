// Run with: npx tsx examples/express.ts
//
// An Express 5 app with express-rate-limit, guarded by proxyProtocol: no
// HAProxy needed, the example plays the balancer itself. A local socket from
// 127.0.0.1 (the trusted balancer) writes a PROXY header naming a client,
// then the client's HTTP request; the app's handler, req.ip and the rate
// limiter see that client, and balancerAddress(req.socket) the balancer.
// It prints what the app saw for three clients and exits.
import http from 'node:http'
import net from 'node:net'
import express from 'express'
import { rateLimit } from 'express-rate-limit'
import { balancerAddress, proxyProtocol } from '../operators/proxy-protocol/index.ts'
import { guardServer } from '../operators/servers/index.ts'
import type { AddressInfo } from 'node:net'

const app = express()
// keyed by req.ip, as every Express rate limiter is: the client's address now
app.use(rateLimit({ windowMs: 60_000, limit: 2, standardHeaders: 'draft-8', legacyHeaders: false }))
app.get('/', (req, res) => {
  res.json({ ip: req.ip, remotePort: req.socket.remotePort, family: req.socket.remoteFamily, balancer: balancerAddress(req.socket)?.address })
})

const server = http.createServer(app)
// the balancer is 127.0.0.1: only its sockets may carry a PROXY header
const guard = guardServer(server, proxyProtocol({ trusted: ['127.0.0.1/32'] })).subscribe()
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const { port } = server.address() as AddressInfo

/** what a balancer does: connect, write the PROXY v1 line for `client`, then pass the client's bytes */
async function throughBalancer (client: string, clientPort: number): Promise<string> {
  const socket = net.connect({ host: '127.0.0.1', port })
  await new Promise((resolve) => socket.once('connect', resolve))
  socket.write(`PROXY TCP4 ${client} 127.0.0.1 ${clientPort} ${port}\r\n`)
  socket.write('GET / HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n')
  let response = ''
  socket.on('data', (chunk: Buffer) => { response += chunk.toString() })
  await new Promise((resolve) => socket.once('close', resolve))
  const [head, body] = response.split('\r\n\r\n')
  return `${head.split('\r\n')[0]} ${body}`
}

for (const [client, clientPort] of [['203.0.113.7', 50001], ['203.0.113.7', 50002], ['203.0.113.7', 50003], ['198.51.100.4', 50004]] as const) {
  console.log(`${client}:${clientPort} -> ${await throughBalancer(client, clientPort)}`)
}

guard.unsubscribe()
server.close()
