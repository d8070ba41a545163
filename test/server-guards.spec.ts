/**
 * The operators guarding Node's own servers through `guardServer` (built on
 * `acceptSockets`): `http.Server`, `https.Server` and `tls.Server`, with real
 * clients (`fetch` through undici's Agent for http and https, `tls.connect`)
 * on loopback addresses and a self-signed certificate made by `openssl`.
 */
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import { pipe } from 'rxjs'
import { Agent } from 'undici'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { denyCidr, upgradeCap } from '../operators/index.ts'
import { guardServer } from '../operators/servers/index.ts'
import { proxyProtocol } from '../operators/proxy-protocol/index.ts'
import { selfSigned } from './fixtures/certificate.ts'
import { v1Header } from './fixtures/proxy-headers.ts'
import { destroyAll } from './fixtures/raw-sockets.ts'
import { tcpHandles, waitForEvent, waitUntil, within } from './fixtures/wait.ts'
import { skipping } from './fixtures/skip.ts'
import type { InboundOperator } from '../operators/index.ts'
import type { AddressInfo, Server, Socket } from 'node:net'
import type { Subscription } from 'rxjs'

type Kind = 'http' | 'https' | 'tls'

const certificate = selfSigned()
if (certificate.reason != null) console.warn(`https and tls guard tests skipped: ${certificate.reason}`)
afterAll(() => {
  certificate.remove()
})

interface Guarded {
  server: Server
  port: number
  /** `127.0.0.3 cidr-denied`, in order */
  rejections: string[]
  /** the client address of each request (http, https) or connection (tls) the server handled */
  served: string[]
  /** TLS handshakes completed, and TLS errors before one */
  handshakes: number
  tlsErrors: number
}

/** `what` as the server told it, or 'refused' when the connection was refused, reset or closed first */
type Reply = string

/** a plain HTTP/1.1 GET written on `stream`; resolves with the response body once the server closes */
async function requestOver (stream: Socket): Promise<string> {
  const chunks: Buffer[] = []
  stream.on('data', (chunk: Buffer) => chunks.push(chunk))
  const ended = waitForEvent(stream, 'end', 5_000, 'the server to answer and close')
  stream.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
  await ended
  const response = Buffer.concat(chunks).toString()
  return response.slice(response.indexOf('\r\n\r\n') + 4)
}

describe('guarding Node servers', () => {
  const subscriptions: Subscription[] = []
  const servers: Server[] = []
  const agents: Agent[] = []
  const sockets: Socket[] = []

  afterEach(async () => {
    await Promise.all(agents.splice(0).map(async (agent) => within(agent.close(), 3_000, 'an undici agent to close')))
    await destroyAll(sockets)
    subscriptions.splice(0).forEach((subscription) => { subscription.unsubscribe() })
    await Promise.all(servers.splice(0).map(async (server) => within(new Promise((resolve) => { server.close(resolve) }), 5_000, 'a guarded server to close')))
  })

  async function guarded (kind: Kind, inbound: InboundOperator): Promise<Guarded> {
    const state: Guarded = { rejections: [], served: [], handshakes: 0, tlsErrors: 0 } as unknown as Guarded
    // the socket's own peer: the client's, when proxyProtocol read a header (no map of the app's own)
    const hello = (socket: Socket): string => {
      const client = socket.remoteAddress ?? '?'
      state.served.push(client)
      return `hello ${client}`
    }
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => { res.end(hello(req.socket)) }
    const { key, cert } = certificate
    const server: Server = kind === 'http'
      ? http.createServer(handler)
      : kind === 'https'
        ? https.createServer({ key, cert }, handler)
        : tls.createServer({ key, cert }, (socket) => { socket.write(`${hello(socket)}\n`) })
    server.on('secureConnection', () => { state.handshakes++ })
    server.on('tlsClientError', () => { state.tlsErrors++ })
    servers.push(server)
    subscriptions.push(guardServer(server, inbound, {
      onReject: ({ remoteAddr }, reason) => { state.rejections.push(`${remoteAddr.getComponents()[0].value} ${reason}`) }
    }).subscribe())
    await within(new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)), 2_000, `the ${kind} server to listen`)
    state.server = server
    state.port = (server.address() as AddressInfo).port
    return state
  }

  /** a client on `localAddress` (its connection kept open, as a browser keeps one alive) */
  function client (kind: Kind, port: number, localAddress: string): () => Promise<Reply> {
    if (kind === 'tls') {
      return async () => {
        const tcp = net.connect({ host: '127.0.0.1', port, localAddress })
        tcp.on('error', () => {})
        const socket = tls.connect({ socket: tcp, ca: certificate.cert, servername: 'localhost' })
        socket.on('error', () => {})
        sockets.push(tcp, socket)
        const reply = new Promise<Reply>((resolve) => {
          socket.once('data', (chunk: Buffer) => { resolve(chunk.toString().trim()) })
          socket.once('close', () => { resolve('refused') })
        })
        return within(reply, 5_000, `a tls reply to ${localAddress}`)
      }
    }
    const agent = new Agent({ localAddress, connect: { ca: certificate.cert } })
    agents.push(agent)
    return async () => {
      try {
        const response = await fetch(`${kind}://127.0.0.1:${port}/`, { dispatcher: agent, signal: AbortSignal.timeout(5_000) } as RequestInit)
        return await response.text()
      } catch (err: any) {
        if (err.name === 'TimeoutError') throw err
        return 'refused'
      }
    }
  }

  const kinds: Kind[] = ['http', 'https', 'tls']
  for (const kind of kinds) {
    describe.skipIf(kind !== 'http' && certificate.reason != null)(skipping(`${kind}.Server`, kind !== 'http' ? certificate.reason : undefined), () => {
      it('a rejected socket never reaches the TLS handshake or a handler; the others are served', async () => {
        const served = await guarded(kind, pipe(denyCidr(['127.0.0.3/32'])))
        expect(await client(kind, served.port, '127.0.0.2')()).toBe('hello 127.0.0.2')
        expect(await client(kind, served.port, '127.0.0.3')()).toBe('refused')
        expect(await client(kind, served.port, '127.0.0.4')()).toBe('hello 127.0.0.4')
        expect(served.rejections).toEqual(['127.0.0.3 cidr-denied'])
        expect(served.served).toEqual(['127.0.0.2', '127.0.0.4'])
        expect({ handshakes: served.handshakes, tlsErrors: served.tlsErrors }).toEqual({ handshakes: kind === 'http' ? 0 : 2, tlsErrors: 0 })
      })

      it('pauses intake at the cap and resumes it below, leaving the open connections served', async () => {
        const served = await guarded(kind, upgradeCap({ max: 1, policy: 'close-server' }).inbound)
        const first = client(kind, served.port, '127.0.0.2')
        expect(await first()).toBe('hello 127.0.0.2')
        await waitUntil(() => !served.server.listening, 3_000, 'intake to pause with one connection open')
        const second = client(kind, served.port, '127.0.0.4')
        expect(await second()).toBe('refused')
        if (kind !== 'tls') {
          // the idle keep-alive connection outlived the pause and serves again
          expect(await first()).toBe('hello 127.0.0.2')
        }
        await Promise.all(agents.splice(0, 1).map(async (agent) => agent.close()))
        await destroyAll(sockets)
        await waitUntil(() => served.server.listening, 3_000, 'intake to resume once the connection closed')
        expect(await client(kind, served.port, '127.0.0.4')()).toBe('hello 127.0.0.4')
        expect(served.served).toEqual(kind === 'tls' ? ['127.0.0.2', '127.0.0.4'] : ['127.0.0.2', '127.0.0.2', '127.0.0.4'])
      })

      it('holds a socket until the pipeline lets it through: a PROXY header never reaches the server, the client\'s address does', async () => {
        const served = await guarded(kind, proxyProtocol({ trusted: ['127.0.0.1/32'] }))
        const raw = net.connect({ host: '127.0.0.1', port: served.port })
        raw.on('error', () => {})
        sockets.push(raw)
        await waitForEvent(raw, 'connect', 2_000, 'a client of the balancer to connect')
        // the header alone first: a server reading the socket now would take it for its own protocol
        await within(new Promise<void>((resolve) => { raw.write(v1Header('203.0.113.7', 5555), () => { resolve() }) }), 2_000, 'the header to leave')
        const stream = kind === 'http' ? raw : tls.connect({ socket: raw, ca: certificate.cert, servername: 'localhost' })
        stream.on('error', () => {})
        if (kind === 'tls') {
          const line = await waitForEvent<Buffer>(stream, 'data', 5_000, 'the tls server to greet the client')
          expect(String(line).trim()).toBe('hello 203.0.113.7')
        } else {
          expect(await requestOver(stream)).toBe('hello 203.0.113.7')
        }
        expect(served.rejections).toEqual([])
      })

      it('closing leaves no handle', async () => {
        const served = await guarded(kind, pipe(denyCidr(['127.0.0.3/32'])))
        expect(await client(kind, served.port, '127.0.0.2')()).toBe('hello 127.0.0.2')
        await Promise.all(agents.splice(0).map(async (agent) => agent.close()))
        await destroyAll(sockets)
        subscriptions.splice(0).forEach((subscription) => { subscription.unsubscribe() })
        const closed = waitForEvent(served.server, 'close', 5_000, `the ${kind} server to close`)
        served.server.close()
        await closed
        servers.splice(0)
        // this file's sockets and servers are the process's only TCP handles
        await waitUntil(() => tcpHandles().length === 0, 3_000, `no TCP handle to be left (now ${tcpHandles().join(', ')})`)
      })
    })
  }
})
