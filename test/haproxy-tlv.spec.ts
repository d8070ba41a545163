/**
 * v2 TLVs from a real HAProxy (Debian's 2.6): an SSL frontend with a
 * self-signed certificate made for the test, `send-proxy-v2-ssl` and
 * `send-proxy-v2-ssl-cn`, `proxy-v2-options` with `crc32c`, `unique-id`
 * (from a `unique-id-format`), `authority` and the SSL details, clients
 * bound to their own loopback addresses. A relay between HAProxy and the
 * server flips one bit of the unique ID to check that the CRC32C catches it.
 * `set-proxy-v2-tlv-fmt` came in HAProxy 2.9: its test runs only where the
 * haproxy here accepts it (the TLV it sends is decoded from bytes in
 * test/operators/proxy-tlv.spec.ts).
 */
import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { acceptSockets } from '../operators/servers/index.ts'
import { proxyHeader, proxyProtocol } from '../operators/proxy-protocol/index.ts'
import { findHaproxy, haproxyAccepts, startHaproxy } from './fixtures/haproxy.ts'
import { destroyAll } from './fixtures/raw-sockets.ts'
import { waitForEvent, within } from './fixtures/wait.ts'
import { skipNow, skipping } from './fixtures/skip.ts'
import type { ProxyHeader } from '../operators/proxy-protocol/index.ts'
import type { Haproxy, Route } from './fixtures/haproxy.ts'
import type { Socket } from 'node:net'
import type { Subscription } from 'rxjs'

const { bin, reason } = findHaproxy()
const openssl = spawnSync('openssl', ['version'], { timeout: 5_000 }).status === 0
if (reason != null) console.warn(`HAProxy TLV tests skipped: ${reason}`)
if (!openssl) console.warn('HAProxy TLV tests skipped: no openssl to make the test certificates')

/** what a server behind HAProxy saw of one socket */
interface Seen { remoteAddr: string, proxy?: ProxyHeader, bytes: string }

/** a server reading PROXY headers from 127.0.0.1, reporting each socket that passes once it has sent `bytes` bytes */
class Backend {
  readonly server = net.createServer()
  readonly rejections: string[] = []
  readonly seen: Seen[] = []
  private subscription?: Subscription

  async start (): Promise<number> {
    await within(new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve)), 2_000, 'a backend to listen')
    this.subscription = acceptSockets(this.server, { onReject: (_inbound, why, err) => { this.rejections.push(`${why}: ${err?.message ?? ''}`) } })
      .pipe(proxyProtocol({ trusted: ['127.0.0.1/32'] }))
      .subscribe(({ socket, remoteAddr }) => {
        const chunks: Buffer[] = []
        socket.on('data', (chunk: Buffer) => {
          chunks.push(chunk)
          if (Buffer.concat(chunks).includes('\n')) {
            this.seen.push({ remoteAddr: remoteAddr.toString(), proxy: proxyHeader(socket), bytes: Buffer.concat(chunks).toString() })
            socket.end('ok\n')
          }
        })
      })
    return (this.server.address() as net.AddressInfo).port
  }

  async stop (): Promise<void> {
    this.subscription?.unsubscribe()
    await within(new Promise((resolve) => this.server.close(resolve)), 5_000, 'a backend to close')
  }
}

/** a TCP relay to `target` that flips one bit of the first chunk at `flipAt` */
async function flippingRelay (target: number, flipAt: (chunk: Buffer) => number, open: Socket[]): Promise<{ port: number, server: net.Server }> {
  const server = net.createServer((inbound) => {
    open.push(inbound)
    inbound.on('error', () => {})
    const outbound = net.connect({ port: target, host: '127.0.0.1' })
    open.push(outbound)
    outbound.on('error', () => {})
    let first = true
    inbound.on('data', (chunk: Buffer) => {
      if (first) {
        first = false
        chunk[flipAt(chunk)] ^= 0x01
      }
      outbound.write(chunk)
    })
    outbound.pipe(inbound)
    inbound.on('close', () => outbound.destroy())
    outbound.on('close', () => inbound.destroy())
  })
  await within(new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)), 2_000, 'the relay to listen')
  return { port: (server.address() as net.AddressInfo).port, server }
}

async function certificate (dir: string, name: string, cn: string, key: string[]): Promise<{ key: string, cert: string, pem: string }> {
  const keyFile = join(dir, `${name}.key`)
  const certFile = join(dir, `${name}.crt`)
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', ...key, '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${cn}`], { timeout: 30_000 })
  if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr.toString()}`)
  const [keyPem, certPem] = await Promise.all([readFile(keyFile, 'utf8'), readFile(certFile, 'utf8')])
  const pem = join(dir, `${name}.pem`)
  await writeFile(pem, certPem + keyPem)
  return { key: keyPem, cert: certPem, pem }
}

describe.skipIf(bin == null || !openssl)(skipping('v2 TLVs from HAProxy', reason ?? (openssl ? undefined : 'no openssl to make the test certificates')), () => {
  const backends: Backend[] = []
  const open: Socket[] = []
  let haproxy: Haproxy | undefined
  let relay: net.Server | undefined
  let dir = ''
  let client: { key: string, cert: string }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `rx-tcp-tlv-${process.pid}-`))
    // the balancer's certificate: RSA 2048 signed with SHA-256, so HAProxy reports RSA2048 and RSA-SHA256
    const server = await certificate(dir, 'balancer', 'balancer.test', ['rsa:2048', '-sha256'])
    client = await certificate(dir, 'client', 'client.test', ['ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'])
    const ports: number[] = []
    for (let i = 0; i < 4; i++) {
      const backend = new Backend()
      backends.push(backend)
      ports.push(await backend.start())
    }
    // route 3 reaches its backend through the relay that flips a bit of the unique ID
    const flipping = await flippingRelay(ports[3], (chunk) => chunk.indexOf('rx-') + 3, open)
    relay = flipping.server
    const ssl = `ssl crt ${server.pem} alpn h2,http/1.1 ca-file ${join(dir, 'client.crt')} verify optional`
    const routes: Route[] = [
      {
        server: ports[0],
        send: 'send-proxy-v2',
        bindOptions: ssl,
        frontend: ['unique-id-format rx-%ci-%cp'],
        serverOptions: 'send-proxy-v2-ssl-cn proxy-v2-options crc32c,unique-id,authority,ssl-cipher,cert-sig,cert-key'
      },
      { server: ports[1], send: 'send-proxy-v2', bindOptions: ssl, serverOptions: 'send-proxy-v2-ssl' },
      { server: ports[2], send: 'send-proxy-v2', frontend: ['unique-id-format rx-%ci-%cp'], serverOptions: 'proxy-v2-options crc32c,unique-id' },
      { server: flipping.port, send: 'send-proxy-v2', frontend: ['unique-id-format rx-%ci-%cp'], serverOptions: 'proxy-v2-options crc32c,unique-id' }
    ]
    haproxy = await startHaproxy(bin as string, routes)
  })

  afterAll(async () => {
    await destroyAll(open)
    await haproxy?.stop()
    await Promise.all(backends.map(async (backend) => backend.stop()))
    if (relay !== undefined) await new Promise((resolve) => relay?.close(resolve))
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })

  /** a TLS client from `localAddress` through HAProxy's route `i`; resolves with its local port once the server answered */
  async function tlsClient (i: number, localAddress: string, options: tls.ConnectionOptions): Promise<number> {
    // bound to its own loopback address first: tls.connect's options do not carry localAddress
    const raw = net.connect({ port: haproxy!.ports[i], host: '127.0.0.1', localAddress })
    raw.on('error', () => {})
    open.push(raw)
    const socket = tls.connect({ socket: raw, rejectUnauthorized: false, ...options })
    open.push(socket)
    socket.on('error', () => {})
    await waitForEvent(socket, 'secureConnect', 5_000, 'the TLS handshake with HAProxy')
    const answered = waitForEvent(socket, 'data', 5_000, 'the backend to answer through HAProxy')
    socket.write('hello\n')
    await answered
    return raw.localPort as number
  }

  async function plainClient (i: number, localAddress: string): Promise<Socket> {
    const socket = net.connect({ port: haproxy!.ports[i], host: '127.0.0.1', localAddress })
    open.push(socket)
    socket.on('error', () => {})
    await waitForEvent(socket, 'connect', 5_000, 'a client to reach HAProxy')
    socket.write('hello\n')
    return socket
  }

  it('send-proxy-v2-ssl-cn with crc32c, unique-id, authority, cipher and certificate algorithms: all decoded, the CRC32C checked', async () => {
    const port = await tlsClient(0, '127.0.0.6', { servername: 'app.example.com', ALPNProtocols: ['h2'], key: client.key, cert: client.cert })
    const [seen] = backends[0].seen
    expect(seen.remoteAddr).toBe(`/ip4/127.0.0.6/tcp/${port}`)
    // HAProxy terminated the TLS: the server reads the client's plaintext after the header
    expect(seen.bytes).toBe('hello\n')
    expect(seen.proxy).toMatchObject({ version: 2, command: 'proxy', family: 'tcp4', source: { ip: '127.0.0.6', port } })
    const tlvs = seen.proxy?.tlvs
    expect(tlvs?.alpn).toBe('h2')
    expect(tlvs?.authority).toBe('app.example.com')
    expect(tlvs?.uniqueId?.toString()).toBe(`rx-127.0.0.6-${port}`)
    expect(tlvs?.crc32c).toEqual(expect.any(Number))
    expect(tlvs?.ssl).toMatchObject({
      tls: true,
      certInConnection: true,
      verify: 0,
      verified: true,
      version: expect.stringMatching(/^TLSv1\.[23]$/),
      cn: 'client.test',
      cipher: expect.stringMatching(/^TLS_/),
      sigAlg: 'RSA-SHA256',
      keyAlg: 'RSA2048'
    })
    expect(tlvs?.notUtf8).toBeUndefined()
    expect(backends[0].rejections).toEqual([])
  })

  it('send-proxy-v2-ssl from a client without a certificate: TLS, no certificate, not verified, no CN', async () => {
    const port = await tlsClient(1, '127.0.0.7', { servername: 'other.example.com' })
    const [seen] = backends[1].seen
    expect(seen.remoteAddr).toBe(`/ip4/127.0.0.7/tcp/${port}`)
    expect(seen.proxy?.tlvs?.ssl).toMatchObject({ tls: true, certInConnection: false, certInSession: false, verified: false })
    expect(seen.proxy?.tlvs?.ssl?.version).toMatch(/^TLSv1\.[23]$/)
    expect(seen.proxy?.tlvs?.ssl?.cn).toBeUndefined()
    // without proxy-v2-options, HAProxy sends no authority nor checksum
    expect(seen.proxy?.tlvs?.authority).toBeUndefined()
    expect(seen.proxy?.tlvs?.crc32c).toBeUndefined()
  })

  it('a plain TCP frontend with crc32c and unique-id: the ID and a checked CRC32C, no SSL TLV', async () => {
    const socket = await plainClient(2, '127.0.0.8')
    await waitForEvent(socket, 'data', 5_000, 'the backend to answer')
    const [seen] = backends[2].seen
    expect(seen.remoteAddr).toBe(`/ip4/127.0.0.8/tcp/${socket.localPort}`)
    expect(seen.proxy?.tlvs?.uniqueId?.toString()).toBe(`rx-127.0.0.8-${socket.localPort}`)
    expect(seen.proxy?.tlvs?.crc32c).toEqual(expect.any(Number))
    expect(seen.proxy?.tlvs?.ssl).toBeUndefined()
    expect(seen.proxy?.tlvs?.raw.map(({ type }) => type).sort()).toEqual([0x03, 0x05])
  })

  it('refuses HAProxy\'s header once a bit of its unique ID was flipped on the way: CRC32C mismatch, proxy-malformed', async () => {
    // HAProxy's readiness probes at start went through the relay too
    const before = backends[3].rejections.length
    const socket = await plainClient(3, '127.0.0.9')
    await waitForEvent(socket, 'close', 5_000, 'the backend to refuse the tampered header')
    expect(backends[3].seen).toEqual([])
    expect(backends[3].rejections.length).toBe(before + 1)
    for (const rejection of backends[3].rejections) {
      expect(rejection).toMatch(/^proxy-malformed: malformed PROXY header from \/ip4\/127\.0\.0\.1\/tcp\/\d+: v2: CRC32C mismatch/)
    }
  })

  it('set-proxy-v2-tlv-fmt (HAProxy 2.9+): a custom TLV, in the raw list', async (context) => {
    if (!await haproxyAccepts(bin as string, 'send-proxy-v2 set-proxy-v2-tlv-fmt(0xE1) rx')) {
      skipNow(context, `set-proxy-v2-tlv-fmt is not in ${spawnSync(bin as string, ['-v']).stdout.toString().split('\n')[0]}; its TLV is tested from bytes`)
    }
    const backend = new Backend()
    const port = await backend.start()
    const proxy = await startHaproxy(bin as string, [{ server: port, send: 'send-proxy-v2', serverOptions: 'set-proxy-v2-tlv-fmt(0xE1) %[src]' }])
    try {
      const socket = net.connect({ port: proxy.ports[0], host: '127.0.0.1', localAddress: '127.0.0.10' })
      open.push(socket)
      await waitForEvent(socket, 'connect', 5_000, 'a client to reach HAProxy')
      socket.write('hello\n')
      await waitForEvent(socket, 'data', 5_000, 'the backend to answer')
      expect(backend.seen[0].proxy?.tlvs?.raw.find(({ type }) => type === 0xe1)?.value.toString()).toBe('127.0.0.10')
    } finally {
      await proxy.stop()
      await backend.stop()
    }
  })
})
