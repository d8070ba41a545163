/**
 * After `proxyProtocol` has read a header, every peer Node exposes is the
 * client's: `remoteAddress`, `remotePort` and `remoteFamily` of the raw
 * socket, of the TLSSocket over it, and of the `req.socket` of `http`,
 * `https` and `http2` (plain and secure) requests, with the balancer's
 * address still reachable through `balancerAddress`. The balancer is a raw
 * socket from 127.0.0.1 writing the header itself; HAProxy in front of
 * Express and Fastify is in haproxy-apps.spec.ts.
 */
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import { pipe, tap } from 'rxjs'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { balancerAddress, proxyProtocol } from '../operators/proxy-protocol/index.ts'
import { denyCidr, metricsTap } from '../operators/index.ts'
import { guardServer } from '../operators/servers/index.ts'
import { selfSigned } from './fixtures/certificate.ts'
import { v1Header, v2Header } from './fixtures/proxy-headers.ts'
import { destroyAll } from './fixtures/raw-sockets.ts'
import { waitForEvent, within } from './fixtures/wait.ts'
import { skipping } from './fixtures/skip.ts'
import type { InboundOperator } from '../operators/index.ts'
import type { ProxyProtocolOptions } from '../operators/proxy-protocol/index.ts'
import type { Logger } from '@libp2p/interface'
import type { AddressInfo, Server, Socket } from 'node:net'
import type { Subscription } from 'rxjs'

type Kind = 'net' | 'tls' | 'http' | 'https' | 'http2' | 'http2-secure'
const kinds: Kind[] = ['net', 'tls', 'http', 'https', 'http2', 'http2-secure']

const certificate = selfSigned()
if (certificate.reason != null) console.warn(`tls, https and http2-secure client-address tests skipped: ${certificate.reason}`)
afterAll(() => { certificate.remove() })

/** what a server saw of its peer */
interface Seen {
  address?: string
  port?: number
  family?: string
  balancer?: string
}

function seen (socket: Socket): Seen {
  return { address: socket.remoteAddress, port: socket.remotePort, family: socket.remoteFamily, balancer: balancerAddress(socket)?.address }
}

/** the native handle under a socket, as Node keeps it (read here only to show that it is left alone) */
function handleOf (socket: Socket): object | undefined {
  return (socket as unknown as { _handle?: object | null })._handle ?? undefined
}

describe('the client\'s address where the server reads it', () => {
  const servers: Server[] = []
  const sockets: Socket[] = []
  const subscriptions: Subscription[] = []
  const sessions: http2.ClientHttp2Session[] = []

  afterEach(async () => {
    sessions.splice(0).forEach((session) => { session.destroy() })
    await destroyAll(sockets)
    subscriptions.splice(0).forEach((subscription) => { subscription.unsubscribe() })
    await Promise.all(servers.splice(0).map(async (server) => within(new Promise((resolve) => { server.close(resolve) }), 5_000, 'a server to close')))
  })

  /** a server of `kind` that answers each client with what it saw of its peer, as JSON */
  async function serve (kind: Kind, inbound: InboundOperator, beforeSecure?: (tlsSocket: Socket) => void): Promise<number> {
    const { key, cert } = certificate
    const answer = (socket: Socket): string => JSON.stringify(seen(socket))
    const handler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): void => {
      const socket = req.socket as Socket
      // an HTTP/2 stream's session has the same socket, seen from the session
      const session = 'stream' in req ? seen(req.stream.session?.socket as Socket) : undefined
      res.end(JSON.stringify({ ...seen(socket), session }))
    }
    const server: Server = kind === 'net'
      ? net.createServer((socket) => { socket.end(answer(socket)) })
      : kind === 'tls'
        ? tls.createServer({ key, cert }, (socket) => { socket.end(answer(socket)) })
        : kind === 'http'
          ? http.createServer(handler)
          : kind === 'https'
            ? https.createServer({ key, cert }, handler)
            : kind === 'http2'
              ? http2.createServer(handler)
              : http2.createSecureServer({ key, cert }, handler)
    servers.push(server)
    subscriptions.push(guardServer(server, inbound).subscribe())
    // put before guardServer's own, which it prepended when subscribed
    if (beforeSecure !== undefined) server.prependListener('secureConnection', beforeSecure)
    await within(new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)), 2_000, `the ${kind} server to listen`)
    return (server.address() as AddressInfo).port
  }

  /** the balancer: a socket from 127.0.0.1 that writes `header`, then speaks `kind` for its client */
  async function ask (kind: Kind, port: number, header: Buffer): Promise<Seen & { session?: Seen }> {
    const raw = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' })
    raw.on('error', () => {})
    sockets.push(raw)
    await waitForEvent(raw, 'connect', 2_000, 'the balancer to connect')
    raw.write(header)
    const secure = (alpn?: string[]): tls.TLSSocket => {
      const socket = tls.connect({ socket: raw, ca: certificate.cert, servername: 'localhost', ALPNProtocols: alpn })
      socket.on('error', () => {})
      sockets.push(socket)
      return socket
    }
    let text: string
    if (kind === 'net' || kind === 'tls') {
      const stream = kind === 'net' ? raw : secure()
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      await waitForEvent(stream, 'end', 5_000, `the ${kind} server to answer`)
      text = Buffer.concat(chunks).toString()
    } else if (kind === 'http' || kind === 'https') {
      const stream = kind === 'http' ? raw : secure()
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      const ended = waitForEvent(stream, 'end', 5_000, `the ${kind} server to answer`)
      stream.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
      await ended
      const response = Buffer.concat(chunks).toString()
      text = response.slice(response.indexOf('\r\n\r\n') + 4)
    } else {
      const stream = kind === 'http2' ? raw : secure(['h2'])
      const session = http2.connect(`${kind === 'http2' ? 'http' : 'https'}://localhost:${port}`, { createConnection: () => stream })
      session.on('error', () => {})
      sessions.push(session)
      const request = session.request({ ':path': '/' })
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      await waitForEvent(request, 'end', 5_000, `the ${kind} server to answer`)
      text = Buffer.concat(chunks).toString()
    }
    return JSON.parse(text)
  }

  const guard = (options: Partial<ProxyProtocolOptions> = {}): InboundOperator => proxyProtocol({ trusted: ['127.0.0.1/32'], ...options })
  const tlsKinds = new Set<Kind>(['tls', 'https', 'http2-secure'])

  for (const kind of kinds) {
    describe.skipIf(tlsKinds.has(kind) && certificate.reason != null)(skipping(kind, tlsKinds.has(kind) ? certificate.reason : undefined), () => {
      it('a v1 header: remoteAddress, remotePort and remoteFamily are the client\'s, balancerAddress the balancer\'s', async () => {
        const port = await serve(kind, guard())
        const got = await ask(kind, port, v1Header('203.0.113.7', 5555))
        const client = { address: '203.0.113.7', port: 5555, family: 'IPv4', balancer: '127.0.0.1' }
        expect(got).toMatchObject(client)
        if (kind.startsWith('http2')) expect(got.session).toEqual(client)
      })

      it('leaves Node\'s native handle as it was: no method of it replaced, the socket\'s own getters give the client', async () => {
        const handles: object[] = []
        const port = await serve(kind, pipe(guard(), tap(({ socket }) => {
          const handle = handleOf(socket)
          if (handle !== undefined) handles.push(handle)
        })))
        const got = await ask(kind, port, v1Header('203.0.113.7', 5555))
        expect(got).toMatchObject({ address: '203.0.113.7', port: 5555, balancer: '127.0.0.1' })
        expect(handles).toHaveLength(1)
        expect(Object.getOwnPropertyNames(handles[0])).not.toContain('getpeername')
        expect(Object.getOwnPropertySymbols(handles[0])).toEqual(Object.getOwnPropertySymbols(handles[0]).filter((symbol) => symbol.description !== 'rx-tcp.proxied'))
      })

      it('a v2 header with an IPv6 client, written long-hand: the socket reads it canonical', async () => {
        const port = await serve(kind, guard())
        const got = await ask(kind, port, v2Header({ ip: '2001:db8:0:0:1:0:0:7', port: 6000 }))
        expect(got).toMatchObject({ address: '2001:db8::1:0:0:7', port: 6000, family: 'IPv6', balancer: '127.0.0.1' })
      })

      it('socketPeer \'balancer\' leaves the socket as Node made it; balancerAddress still answers', async () => {
        const port = await serve(kind, guard({ socketPeer: 'balancer' }))
        const got = await ask(kind, port, v1Header('203.0.113.7', 5555))
        expect(got).toMatchObject({ address: '127.0.0.1', family: 'IPv4', balancer: '127.0.0.1' })
      })

      it('a LOCAL header (a health check) names no client: the socket keeps its own peer, balancerAddress is undefined', async () => {
        const port = await serve(kind, guard())
        const got = await ask(kind, port, v2Header({ local: true }))
        expect(got.address).toBe('127.0.0.1')
        expect(got.balancer).toBeUndefined()
      })

      if (tlsKinds.has(kind)) {
        it('without a TLSSocket\'s _parent (another runtime), guardServer finds the socket by the TCP connection they share', async () => {
          let parentless = 0
          const port = await serve(kind, guard(), (tlsSocket) => {
            delete (tlsSocket as unknown as { _parent?: unknown })._parent
            parentless++
          })
          const got = await ask(kind, port, v2Header({ ip: '203.0.113.10', port: 7070 }))
          expect(parentless).toBe(1)
          expect(got).toMatchObject({ address: '203.0.113.10', port: 7070, family: 'IPv4', balancer: '127.0.0.1' })
        })
      }
    })
  }

  it('a socket a later stage rejects is reported under the client: onReject and a metricsTap placed before proxyProtocol', async () => {
    const rejected: string[] = []
    const logged: string[] = []
    const log = Object.assign((format: string, addr: unknown) => {
      if (format.startsWith('rejected')) logged.push(String(addr))
    }, { enabled: true, error: () => {}, trace: () => {}, newScope: () => log }) as unknown as Logger
    const tap = metricsTap({ log })
    const server = net.createServer((socket) => { socket.end('served') })
    servers.push(server)
    subscriptions.push(guardServer(server, pipe(tap.inbound, guard(), denyCidr(['203.0.113.0/24'])), {
      onReject: ({ remoteAddr }, reason) => { rejected.push(`${remoteAddr.toString()} ${reason}`) }
    }).subscribe())
    await within(new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)), 2_000, 'the server to listen')
    const raw = net.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port })
    raw.on('error', () => {})
    sockets.push(raw)
    const closed = waitForEvent(raw, 'close', 5_000, 'the denied client to be closed')
    raw.write(v1Header('203.0.113.7', 5555))
    await closed
    expect(rejected).toEqual(['/ip4/203.0.113.7/tcp/5555 cidr-denied'])
    expect(logged).toEqual(['/ip4/203.0.113.7/tcp/5555'])
  })

  it('a socket from outside trusted is left alone: its header is bytes, its peer its own', async () => {
    const port = await serve('net', proxyProtocol({ trusted: ['10.0.0.0/8'] }))
    const got = await ask('net', port, Buffer.alloc(0))
    expect(got).toEqual({ address: '127.0.0.1', port: got.port, family: 'IPv4' })
  })
})
