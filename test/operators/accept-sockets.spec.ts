import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { firstValueFrom, take, toArray } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import { acceptSockets } from '../../operators/servers/index.ts'
import { serverIntake } from '../../src/core/server-intake.ts'
import { boundMultiaddr } from '../../src/core/addresses.ts'
import { remoteMultiaddr } from '../../src/core/inbound-socket.ts'
import { closeAll, connect } from '../fixtures/operators-net.ts'
import { waitForEvent, waitUntil, within } from '../fixtures/wait.ts'
import { skipping } from '../fixtures/skip.ts'
import type { InboundSocket } from '../../operators/index.ts'
import type { Client } from '../fixtures/operators-net.ts'
import type { Socket } from 'node:net'
import type { Subscription } from 'rxjs'

const hasIPv6Loopback = Object.values(networkInterfaces()).flat().some((info) => info?.address === '::1')

describe('acceptSockets', () => {
  const servers: net.Server[] = []
  const clients: Client[] = []
  const subscriptions: Subscription[] = []
  let dir: string | undefined

  afterEach(async () => {
    subscriptions.splice(0).forEach((subscription) => { subscription.unsubscribe() })
    await closeAll(clients)
    await Promise.all(servers.splice(0).map(async (server) => within(new Promise((resolve) => server.close(resolve)), 5_000, 'a test server to close')))
    if (dir !== undefined) {
      await rm(dir, { recursive: true, force: true })
      dir = undefined
    }
  })

  async function listening (options: net.ListenOptions = { host: '127.0.0.1', port: 0 }): Promise<net.Server> {
    const server = net.createServer()
    servers.push(server)
    await within(new Promise<void>((resolve) => server.listen(options, resolve)), 2_000, 'a test server to listen')
    return server
  }

  /** the next `count` sockets the server accepts, each closed when the test ends */
  async function nextAccepted (server: net.Server, count = 1, onReject?: (inbound: InboundSocket, reason: string) => void): Promise<InboundSocket[]> {
    const accepted = firstValueFrom(acceptSockets(server, { onReject }).pipe(take(count), toArray()))
    return within(accepted, 2_000, `${count} accepted sockets`)
  }

  it('emits each accepted socket with its remote and local multiaddrs', async () => {
    const server = await listening()
    const { port } = server.address() as net.AddressInfo
    const accepted = nextAccepted(server)
    const client = connect(port, '127.0.0.2')
    clients.push(client)
    await waitForEvent(client.socket, 'connect', 2_000, 'the client to connect')
    const [inbound] = await accepted
    expect(inbound.remoteAddr.toString()).toBe(`/ip4/127.0.0.2/tcp/${client.socket.localPort}`)
    expect(inbound.localAddr.toString()).toBe(`/ip4/127.0.0.1/tcp/${port}`)
    inbound.socket.destroy()
  })

  it('rejects a socket once: destroyed, reported with its reason, false the second time', async () => {
    const server = await listening()
    const reports: string[] = []
    const accepted = nextAccepted(server, 1, (inbound, reason) => reports.push(`${inbound.remoteAddr.toString()} ${reason}`))
    const client = connect((server.address() as net.AddressInfo).port, '127.0.0.3')
    clients.push(client)
    const [inbound] = await accepted
    expect(inbound.reject('not-today', new Error('go away'))).toBe(true)
    expect(inbound.reject('still-not')).toBe(false)
    expect(inbound.socket.destroyed).toBe(true)
    expect(await within(client.outcome, 2_000, 'the client to see the rejection')).toBe('refused')
    expect(reports).toEqual([`${inbound.remoteAddr.toString()} not-today`])
  })

  it('survives a peer resetting a socket nobody has picked up yet', async () => {
    const server = await listening()
    const accepted = nextAccepted(server)
    const client = connect((server.address() as net.AddressInfo).port)
    clients.push(client)
    const [inbound] = await accepted
    await waitForEvent(client.socket, 'connect', 2_000, 'the client to connect')
    client.socket.resetAndDestroy()
    await waitForEvent(inbound.socket, 'close', 2_000, 'the reset socket to close')
  })

  it('pauses intake per reason, counted, and listens again on the same port when all resumed', async () => {
    const server = await listening()
    const { port } = server.address() as net.AddressInfo
    const accepted = nextAccepted(server, 2)
    const first = connect(port)
    clients.push(first)
    await waitUntil(() => server.listenerCount('connection') > 0, 1_000, 'the subscription')
    await waitForEvent(first.socket, 'connect', 2_000, 'the first client to connect')

    const intake = serverIntake(server)
    intake.pause('a')
    intake.pause('b')
    intake.pause('b')
    expect(server.listening).toBe(false)
    const refused = connect(port)
    clients.push(refused)
    expect(await within(refused.outcome, 2_000, 'a refused connection')).toBe('refused')
    intake.resume('a')
    intake.resume('b')
    intake.resume('unknown')
    expect(intake.holding).toBe(true)
    intake.resume('b')
    await waitForEvent(server, 'listening', 2_000, 'the server to listen again')
    expect((server.address() as net.AddressInfo).port).toBe(port)
    expect(intake.holding).toBe(false)

    const second = connect(port)
    clients.push(second)
    const sockets = await accepted
    expect(sockets.every(({ socket }) => !socket.destroyed)).toBe(true)
    sockets.forEach(({ socket }) => socket.destroy())
    await intake.end()
    expect(server.listenerCount('listening')).toBe(0)
  })

  it('keeps a server paused before it listened from listening until resumed', async () => {
    const server = net.createServer()
    servers.push(server)
    const intake = serverIntake(server)
    intake.pause('early')
    server.listen(0, '127.0.0.1')
    await waitForEvent(server, 'listening', 2_000, 'the server to listen')
    expect(server.listening).toBe(false)
    intake.resume('early')
    await waitForEvent(server, 'listening', 2_000, 'the server to listen after resume')
    expect(server.listening).toBe(true)
    await intake.end()
  })

  it('completes when the server closes, not when intake pauses it', async () => {
    const server = await listening()
    const events: string[] = []
    let inbound: InboundSocket | undefined
    subscriptions.push(acceptSockets(server).subscribe({
      next: (next) => { inbound = next },
      complete: () => events.push('complete')
    }))
    const client = connect((server.address() as net.AddressInfo).port)
    clients.push(client)
    await waitUntil(() => inbound !== undefined, 2_000, 'a socket to be accepted')
    inbound!.intake.pause('test')
    inbound!.socket.destroy()
    await waitForEvent(server, 'close', 2_000, 'the paused, drained server to emit close')
    expect(events).toEqual([])
    inbound!.intake.resume('test')
    await waitForEvent(server, 'listening', 2_000, 'the server to listen again')
    await within(new Promise((resolve) => server.close(resolve)), 2_000, 'the server to close')
    expect(events).toEqual(['complete'])
  })

  it('takes one subscriber per server', async () => {
    const server = await listening()
    subscriptions.push(acceptSockets(server).subscribe())
    await expect(firstValueFrom(acceptSockets(server))).rejects.toThrow('already has a subscriber')
    subscriptions.splice(0).forEach((subscription) => { subscription.unsubscribe() })
    subscriptions.push(acceptSockets(server).subscribe())
  })

  it('fails with the server error and detaches when unsubscribed, leaving a paused server closed', async () => {
    const server = await listening()
    const failed = firstValueFrom(acceptSockets(server))
    server.emit('error', new Error('boom'))
    await expect(failed).rejects.toThrow('boom')

    let inbound: InboundSocket | undefined
    const subscription = acceptSockets(server).subscribe((next) => { inbound = next })
    const client = connect((server.address() as net.AddressInfo).port)
    clients.push(client)
    await waitUntil(() => inbound !== undefined, 2_000, 'a socket to be accepted')
    inbound!.intake.pause('test')
    subscription.unsubscribe()
    inbound!.intake.resume('test')
    expect(server.listening).toBe(false)
    for (const event of ['connection', 'listening', 'close', 'error']) {
      expect(server.listenerCount(event)).toBe(0)
    }
    inbound!.socket.destroy()
  })

  it('accepts on a unix socket: the remote address is the listening one, and intake pauses on the path', async () => {
    dir = await mkdtemp(join(tmpdir(), 'rx-tcp-operators-'))
    const path = join(dir, 'sock')
    const server = await listening({ path })
    const accepted = nextAccepted(server, 2)
    const sockets: Socket[] = []
    const first = net.connect(path)
    sockets.push(first)
    await waitForEvent(first, 'connect', 2_000, 'the unix client to connect')
    const intake = serverIntake(server)
    intake.pause('test')
    intake.resume('test')
    await waitForEvent(server, 'listening', 2_000, 'the unix server to listen again')
    const second = net.connect(path)
    sockets.push(second)
    const [inbound] = await accepted
    expect(inbound.localAddr.toString()).toBe(`/unix/${encodeURIComponent(path)}`)
    expect(inbound.remoteAddr).toBe(inbound.localAddr)
    sockets.forEach((socket) => socket.destroy())
  })

  it.skipIf(!hasIPv6Loopback)(skipping('accepts on ::1 with /ip6 addresses', hasIPv6Loopback ? undefined : 'no ::1 on this host'), async () => {
    const server = await listening({ host: '::1', port: 0 })
    const accepted = nextAccepted(server)
    const client = net.connect({ host: '::1', port: (server.address() as net.AddressInfo).port })
    client.on('error', () => {})
    const [inbound] = await accepted
    expect(inbound.remoteAddr.toString()).toMatch(/^\/ip6\/::1\/tcp\/\d+$/)
    expect(inbound.localAddr.toString()).toMatch(/^\/ip6\/::1\/tcp\/\d+$/)
    client.destroy()
    inbound.socket.destroy()
  })
})

describe('remoteMultiaddr', () => {
  const socket = (remoteAddress?: string): Socket => ({ remoteAddress, remotePort: 4001 }) as unknown as Socket

  it('writes IPv4-mapped IPv6 peers as /ip4, zones as /ip6zone, and nothing for a socket without a peer', () => {
    expect(remoteMultiaddr(socket('::ffff:192.0.2.1'))?.toString()).toBe('/ip4/192.0.2.1/tcp/4001')
    expect(remoteMultiaddr(socket('fe80::1%eth0'))?.toString()).toBe('/ip6zone/eth0/ip6/fe80::1/tcp/4001')
    expect(remoteMultiaddr(socket('2001:db8::1'))?.toString()).toBe('/ip6/2001:db8::1/tcp/4001')
    expect(remoteMultiaddr(socket(undefined))).toBeUndefined()
  })
})

describe('boundMultiaddr', () => {
  it('writes a bound address as acceptSockets gives it for localAddr: ip4, ip6, a zone as /ip6zone, a unix path', () => {
    expect(boundMultiaddr({ address: '127.0.0.1', port: 4001, family: 'IPv4' }).toString()).toBe('/ip4/127.0.0.1/tcp/4001')
    expect(boundMultiaddr({ address: '::', port: 4001, family: 'IPv6' }).toString()).toBe('/ip6/::/tcp/4001')
    expect(boundMultiaddr({ address: 'fe80::1%eth0', port: 4001, family: 'IPv6' }).toString()).toBe('/ip6zone/eth0/ip6/fe80::1/tcp/4001')
    expect(boundMultiaddr('/tmp/rx tcp.sock').toString()).toBe('/unix/%2Ftmp%2Frx%20tcp.sock')
  })
})
