/**
 * Express 5 and Fastify 5 apps behind a real HAProxy (Debian's, `mode tcp`,
 * `send-proxy` and `send-proxy-v2`), guarded by `guardServer(server,
 * proxyProtocol(...))` and nothing else: no map of the app's own, no
 * `trust proxy`. Every socket reaches the app from HAProxy's 127.0.0.1; each
 * client connects from a loopback address of its own (127.0.0.20 and up), so
 * the assertions tell client from balancer. Handlers, `req.ip` /
 * `request.ip`, `req.socket.remoteAddress` and the ecosystems' rate limiters
 * (`express-rate-limit`, `@fastify/rate-limit`) all see the client, over
 * HTTP/1.1, HTTPS and HTTP/2. Express 5 cannot serve HTTP/2 streams (its
 * request object is Node's `IncomingMessage`), so it runs on
 * `http2.createSecureServer({ allowHTTP1: true })` serving HTTP/1.1 over
 * TLS; Fastify runs with `http2: true`, secure (h2 by ALPN) and cleartext
 * (h2c).
 */
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import net from 'node:net'
import fastifyRateLimit from '@fastify/rate-limit'
import express from 'express'
import { rateLimit } from 'express-rate-limit'
import Fastify from 'fastify'
import { Agent } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { balancerAddress, proxyProtocol } from '../operators/proxy-protocol/index.ts'
import { guardServer } from '../operators/servers/index.ts'
import { selfSigned } from './fixtures/certificate.ts'
import { findHaproxy, startHaproxy } from './fixtures/haproxy.ts'
import { within } from './fixtures/wait.ts'
import { skipping } from './fixtures/skip.ts'
import type { Haproxy, Route } from './fixtures/haproxy.ts'
import type { FastifyInstance } from 'fastify'
import type { AddressInfo, Server, Socket } from 'node:net'
import type { Subscription } from 'rxjs'

const { bin, reason } = findHaproxy()
if (reason != null) console.warn(`HAProxy app tests skipped: ${reason}`)
const certificate = selfSigned()
if (certificate.reason != null) console.warn(`HAProxy app tests skipped: ${certificate.reason}`)
afterAll(() => { certificate.remove() })

/** how a client speaks to an app: HTTP/1.1 in clear or over TLS, HTTP/2 over TLS (h2 by ALPN) or in clear (h2c) */
type Wire = 'http1' | 'https1' | 'h2' | 'h2c'

interface AppCase {
  name: string
  wire: Wire
  start: () => Promise<{ server: Server, close: () => Promise<void> }>
}

/** what a handler answers: what the framework and the socket say of the peer */
interface Seen {
  ip?: string
  remoteAddress?: string
  remotePort?: number
  balancer?: string
  httpVersion?: string
}

const LIMIT = 2

function expressApp (): express.Express {
  const app = express()
  // the ecosystem's limiter with its defaults: keyed by req.ip
  app.use(rateLimit({ windowMs: 60_000, limit: LIMIT, standardHeaders: 'draft-8', legacyHeaders: false }))
  app.get('/', (req, res) => {
    const seen: Seen = { ip: req.ip, remoteAddress: req.socket.remoteAddress, remotePort: req.socket.remotePort, balancer: balancerAddress(req.socket)?.address, httpVersion: req.httpVersion }
    res.json(seen)
  })
  return app
}

async function fastifyApp (app: FastifyInstance): Promise<FastifyInstance> {
  await app.register(fastifyRateLimit, { max: LIMIT, timeWindow: 60_000 })
  app.get('/', async (request) => {
    const socket = request.socket as Socket
    const seen: Seen = { ip: request.ip, remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, balancer: balancerAddress(socket)?.address, httpVersion: request.raw.httpVersion }
    return seen
  })
  return app
}

const guard = (): ReturnType<typeof proxyProtocol> => proxyProtocol({ trusted: ['127.0.0.1/32'] })

/** a Node server running `app`, guarded, listening on 127.0.0.1 */
async function nodeServer (server: Server): Promise<{ server: Server, close: () => Promise<void> }> {
  const subscription: Subscription = guardServer(server, guard()).subscribe()
  await within(new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)), 2_000, 'an app server to listen')
  return {
    server,
    close: async () => {
      subscription.unsubscribe()
      ;(server as http.Server).closeAllConnections?.()
      await within(new Promise((resolve) => { server.close(resolve) }), 5_000, 'an app server to close')
    }
  }
}

async function fastifyServer (app: FastifyInstance): Promise<{ server: Server, close: () => Promise<void> }> {
  await fastifyApp(app)
  await app.ready()
  // the server's own listeners are in place once the app is ready
  const subscription: Subscription = guardServer(app.server as Server, guard()).subscribe()
  await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    server: app.server as Server,
    close: async () => {
      subscription.unsubscribe()
      await within(app.close(), 5_000, 'a fastify app to close')
    }
  }
}

const { key, cert } = certificate
const apps: AppCase[] = [
  { name: 'Express on http.createServer', wire: 'http1', start: async () => nodeServer(http.createServer(expressApp())) },
  { name: 'Express on https.createServer', wire: 'https1', start: async () => nodeServer(https.createServer({ key, cert }, expressApp())) },
  { name: 'Express on http2.createSecureServer({ allowHTTP1 }), HTTP/1.1 over TLS', wire: 'https1', start: async () => nodeServer(http2.createSecureServer({ key, cert, allowHTTP1: true }, expressApp() as any) as unknown as Server) },
  { name: 'Fastify', wire: 'http1', start: async () => fastifyServer(Fastify()) },
  { name: 'Fastify with https', wire: 'https1', start: async () => fastifyServer(Fastify({ https: { key: key as Buffer, cert: cert as Buffer } }) as unknown as FastifyInstance) },
  { name: 'Fastify with http2 and https (h2)', wire: 'h2', start: async () => fastifyServer(Fastify({ http2: true, https: { key: key as Buffer, cert: cert as Buffer } }) as unknown as FastifyInstance) },
  { name: 'Fastify with http2 in clear (h2c)', wire: 'h2c', start: async () => fastifyServer(Fastify({ http2: true }) as unknown as FastifyInstance) }
]

const versions: Array<Route['send']> = ['send-proxy', 'send-proxy-v2']

/** one GET through HAProxy's `port` from `localAddress`, on a connection of its own */
async function get (wire: Wire, port: number, localAddress: string): Promise<{ status: number, seen: Seen }> {
  if (wire === 'h2c') {
    const session = http2.connect(`http://127.0.0.1:${port}`, { createConnection: () => net.connect({ host: '127.0.0.1', port, localAddress }) })
    session.on('error', () => {})
    try {
      const request = session.request({ ':path': '/' })
      const chunks: Buffer[] = []
      let status = 0
      request.on('response', (headers) => { status = Number(headers[':status']) })
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      await within(new Promise((resolve, reject) => { request.on('end', resolve); request.on('error', reject) }), 5_000, `an h2c answer to ${localAddress}`)
      return { status, seen: status === 200 ? JSON.parse(Buffer.concat(chunks).toString()) : {} }
    } finally {
      session.destroy()
    }
  }
  const agent = new Agent({ localAddress, allowH2: wire === 'h2', pipelining: 0, connect: { ca: certificate.cert, servername: 'localhost' } })
  try {
    const scheme = wire === 'http1' ? 'http' : 'https'
    const response = await fetch(`${scheme}://127.0.0.1:${port}/`, { dispatcher: agent, signal: AbortSignal.timeout(5_000) } as RequestInit)
    // a refusal's body is text for express-rate-limit, JSON for @fastify/rate-limit
    const body = await response.text()
    return { status: response.status, seen: response.status === 200 ? JSON.parse(body) as Seen : {} }
  } finally {
    await within(agent.close(), 3_000, 'an undici agent to close')
  }
}

describe.skipIf(bin == null || certificate.reason != null)(skipping('Express and Fastify behind HAProxy', reason ?? certificate.reason), () => {
  const started: Array<{ server: Server, close: () => Promise<void> }> = []
  let haproxy: Haproxy | undefined

  beforeAll(async () => {
    for (const app of apps) {
      started.push(await app.start())
    }
    // two routes per app: one with each PROXY version, to the same server (proxyProtocol reads both)
    const routes: Route[] = started.flatMap(({ server }) => versions.map((send) => ({ server: (server.address() as AddressInfo).port, send })))
    haproxy = await startHaproxy(bin as string, routes)
  })

  afterAll(async () => {
    await haproxy?.stop()
    await Promise.all(started.splice(0).map(async ({ close }) => close()))
  })

  apps.forEach((app, a) => {
    versions.forEach((send, v) => {
      const route = a * versions.length + v
      // two clients of its own per case: the rate limiters' counts of one case never reach another
      const client = `127.0.0.${20 + 2 * route}`
      const other = `127.0.0.${21 + 2 * route}`

      it(`${app.name}, ${send}: the handler, ${app.name.startsWith('Express') ? 'req.ip' : 'request.ip'} and req.socket see the client; the rate limiter counts it, not HAProxy`, async () => {
        const port = haproxy!.ports[route]
        const first = await get(app.wire, port, client)
        expect(first.status).toBe(200)
        expect(first.seen).toMatchObject({ ip: client, remoteAddress: client, balancer: '127.0.0.1' })
        expect(first.seen.remotePort).toBeGreaterThan(0)
        expect(first.seen.httpVersion).toBe(app.wire === 'h2' || app.wire === 'h2c' ? '2.0' : '1.1')

        // the limit is the client's: its third request is refused, a second client's first one is not
        expect((await get(app.wire, port, client)).status).toBe(200)
        expect((await get(app.wire, port, client)).status).toBe(429)
        const fresh = await get(app.wire, port, other)
        expect(fresh.status).toBe(200)
        expect(fresh.seen).toMatchObject({ ip: other, remoteAddress: other })
      })
    })
  })
})
