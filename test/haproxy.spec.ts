/**
 * rx-tcp behind a real HAProxy (Debian's 2.6, `mode tcp`), which passes the
 * client's address in a PROXY header, v1 (`send-proxy`) or v2
 * (`send-proxy-v2`). Every socket reaches the node from HAProxy's
 * 127.0.0.1; `proxyProtocol` gives the node, its operators, its connection
 * gater and identify the client's own address and port instead.
 */
import net from 'node:net'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { tcp as refTcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { pipe } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { denyCidr, metricsTap, perSubnetLimit } from '../operators/index.ts'
import { proxyProtocol } from '../operators/proxy-protocol/index.ts'
import { tcp } from '../src/index.ts'
import { findHaproxy, freePort, startHaproxy } from './fixtures/haproxy.ts'
import { echo, handleEcho, payload, stopNodes } from './fixtures/nodes.ts'
import { destroyAll } from './fixtures/raw-sockets.ts'
import { within } from './fixtures/wait.ts'
import { skipping } from './fixtures/skip.ts'
import type { Haproxy, Route } from './fixtures/haproxy.ts'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, Logger, MultiaddrConnection } from '@libp2p/interface'
import type { Socket } from 'node:net'

const { bin, reason } = findHaproxy()
if (reason != null) console.warn(`HAProxy tests skipped: ${reason}`)

/** the multistream-select greeting: a libp2p listener answers it in kind, before any security */
const MULTISTREAM = Buffer.from('\x13/multistream/1.0.0\n', 'latin1')

/** an rx-tcp node behind HAProxy, with what its pipeline and gater saw */
interface Backend {
  node: Libp2p<{ identify: Identify }>
  port: number
  /** `127.0.0.3 cidr-denied`, in order */
  rejections: string[]
  /** remote addresses the connection gater was asked about */
  gated: string[]
  /** `127.0.0.3 cidr-denied` from the listener's own 'rejected inbound socket' log lines */
  listenerRejections: string[]
}

async function backend (): Promise<Backend> {
  const rejections: string[] = []
  const gated: string[] = []
  // the tap's log names each rejected socket by the address proxyProtocol gave it
  const log = Object.assign((format: string, addr: unknown, why: unknown) => {
    if (format.startsWith('rejected')) rejections.push(`${multiaddr(String(addr)).getComponents()[0].value} ${String(why)}`)
  }, { enabled: true, error: () => {}, trace: () => {}, newScope: () => log }) as unknown as Logger
  const tap = metricsTap({ log })
  // the listener's own log, through the node's component logger
  const listenerRejections: string[] = []
  const quiet = Object.assign(() => {}, { enabled: false, error: () => {}, trace: () => {} })
  const listenerLog = Object.assign((format: string, addr: unknown, why: unknown) => {
    if (format.startsWith('rejected inbound socket')) listenerRejections.push(`${multiaddr(String(addr)).getComponents()[0].value} ${String(why)}`)
  }, { enabled: true, error: () => {}, trace: () => {} })
  const logger = {
    forComponent: (name: string) => Object.assign(name === 'libp2p:tcp:listener' ? listenerLog : quiet, { newScope: () => quiet }) as unknown as Logger
  }
  const node = await createLibp2p({
    logger,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp({
      inbound: pipe(
        proxyProtocol({ trusted: ['127.0.0.1/32'] }),
        tap.inbound,
        denyCidr(['127.0.0.3/32']),
        perSubnetLimit({ max: 1, ipv4Prefix: 32 })
      )
    })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
    connectionGater: {
      denyDialMultiaddr: () => false,
      denyInboundConnection: (maConn: MultiaddrConnection) => {
        gated.push(maConn.remoteAddr.toString())
        return false
      }
    },
    connectionMonitor: { enabled: false }
  })
  await handleEcho(node)
  return { node, port: Number(node.getMultiaddrs()[0].getComponents()[1].value), rejections, gated, listenerRejections }
}

/** a dial-only node on `@libp2p/tcp` whose sockets leave from `localAddress`:`localPort` */
async function dialer (localAddress: string, localPort: number): Promise<Libp2p<{ identify: Identify }>> {
  return createLibp2p({
    // @libp2p/tcp hands dialOpts to net.connect, local address and port included
    transports: [refTcp({ dialOpts: { localAddress, localPort } as object })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
    connectionGater: { denyDialMultiaddr: () => false },
    connectionMonitor: { enabled: false }
  })
}

type Outcome = 'answered' | 'refused'

/** a raw client from `localAddress` through HAProxy: 'answered' when the node speaks multistream back, 'refused' when closed first */
async function rawClient (port: number, localAddress: string, open: Socket[]): Promise<Outcome> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress })
  socket.on('error', () => {})
  open.push(socket)
  const outcome = new Promise<Outcome>((resolve) => {
    socket.once('data', () => { resolve('answered') })
    socket.once('close', () => { resolve('refused') })
  })
  socket.write(MULTISTREAM)
  return within(outcome, 5_000, `the node to answer or refuse a client from ${localAddress} through HAProxy`)
}

const versions: Array<{ version: string, send: Route['send'] }> = [
  { version: 'v1', send: 'send-proxy' },
  { version: 'v2', send: 'send-proxy-v2' }
]

describe.skipIf(bin == null)(skipping('behind HAProxy', reason), () => {
  const backends: Backend[] = []
  const nodes: Libp2p[] = []
  const open: Socket[] = []
  let haproxy: Haproxy | undefined

  beforeAll(async () => {
    for (let i = 0; i < versions.length; i++) {
      const started = await backend()
      backends.push(started)
      nodes.push(started.node)
    }
    haproxy = await startHaproxy(bin as string, versions.map(({ send }, i) => ({ server: backends[i].port, send })))
  })

  afterAll(async () => {
    await destroyAll(open)
    await stopNodes(nodes.splice(0))
    await haproxy?.stop()
  })

  versions.forEach(({ version, send }, i) => {
    describe(`PROXY ${version} (${send})`, () => {
      it('a libp2p node dials through HAProxy, they exchange data, and the node, its gater and identify see the dialer\'s own address and port', async () => {
        const { node, gated } = backends[i]
        const localPort = await freePort('127.0.0.4')
        const client = await dialer('127.0.0.4', localPort)
        nodes.push(client)
        const through = multiaddr(`/ip4/127.0.0.1/tcp/${haproxy!.ports[i]}/p2p/${node.peerId.toString()}`)

        const data = payload(256 * 1024, i)
        const received = await echo(client, through, data)
        // compared as buffers: a deep equality over 256 KiB takes seconds
        expect(Buffer.compare(received, data)).toBe(0)

        const [inbound] = node.getConnections(client.peerId)
        const expected = `/ip4/127.0.0.4/tcp/${localPort}`
        expect(inbound.remoteAddr.toString()).toBe(`${expected}/p2p/${client.peerId.toString()}`)
        expect(gated).toContain(expected)
        // identify tells the dialer the address the node saw it at
        const [outbound] = client.getConnections(node.peerId)
        const { observedAddr } = await client.services.identify.identify(outbound, { signal: AbortSignal.timeout(5_000) })
        expect(observedAddr?.toString()).toBe(`${expected}/p2p/${client.peerId.toString()}`)
        await stopNodes([client])
      })

      it('denyCidr and perSubnetLimit act on 127.0.0.2 and 127.0.0.3, although every socket comes from HAProxy\'s 127.0.0.1; the listener\'s own log names them', async () => {
        const { port } = { port: haproxy!.ports[i] }
        const { rejections, listenerRejections } = backends[i]
        expect(await rawClient(port, '127.0.0.2', open)).toBe('answered')
        expect(await rawClient(port, '127.0.0.2', open)).toBe('refused')
        expect(await rawClient(port, '127.0.0.3', open)).toBe('refused')
        expect(await rawClient(port, '127.0.0.5', open)).toBe('answered')
        expect(rejections).toEqual(['127.0.0.2 subnet-limit', '127.0.0.3 cidr-denied'])
        expect(listenerRejections).toEqual(['127.0.0.2 subnet-limit', '127.0.0.3 cidr-denied'])
      })
    })
  })
})
