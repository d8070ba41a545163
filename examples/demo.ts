// npm start — a listening rx-tcp node, real peers exchanging data, then a stop while hundreds of handshakes are in flight
import net from 'node:net'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp as referenceTcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { tap } from 'rxjs'
import { tcp } from '../src/index.ts'
import { exitIfTheStackHoldsOn, hasChaCha20Poly1305, listsTcpHandles, runtimeNoise } from './runtime.ts'
import type { Libp2p } from 'libp2p'

const ECHO = '/rx-tcp/demo/echo/1.0.0'
const STALLED = Number(process.env.STALLED ?? 300)

async function startNode (transport: typeof tcp | typeof referenceTcp, init: Parameters<typeof tcp>[0] = {}): Promise<Libp2p> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [transport(init)],
    connectionEncrypters: [runtimeNoise()],
    streamMuxers: [yamux()]
  })
}

async function echoOnce (from: Libp2p, to: Libp2p, bytes: number): Promise<number> {
  const stream = await from.dialProtocol(to.getMultiaddrs()[0], ECHO, { signal: AbortSignal.timeout(5000) })
  let received = 0
  const echoed = new Promise<void>((resolve) => {
    stream.addEventListener('message', (evt) => {
      received += evt.data.byteLength
      if (received >= bytes) resolve()
    })
  })
  for (let sent = 0; sent < bytes; sent += 16_384) {
    stream.send(new Uint8Array(Math.min(16_384, bytes - sent)).fill(sent % 256))
  }
  await echoed
  await stream.close()
  return received
}

const line = (text: string): void => { console.log(text) }

line('rx-tcp demo: a libp2p node (noise + yamux) on the rx-tcp transport\n')

// the inbound pipeline is RxJS: here a tap counts every socket the listener accepts
let accepted = 0
const server = await startNode(tcp, { inbound: tap(() => { accepted++ }) })
await server.handle(ECHO, (stream) => {
  stream.addEventListener('message', (evt) => { stream.send(evt.data) })
  stream.addEventListener('remoteCloseWrite', () => { void stream.close() })
})
line(`1. listening on ${server.getMultiaddrs().map(String).join(', ')}`)
if (!hasChaCha20Poly1305()) line("   (this runtime's node:crypto has no chacha20-poly1305: noise runs with its pure-JS crypto)")
// asked while the node listens: a runtime that lists its handles shows this server among them
const listed = listsTcpHandles()

const peers = [
  { name: 'peer A (rx-tcp)', node: await startNode(tcp) },
  { name: 'peer B (rx-tcp)', node: await startNode(tcp) },
  { name: 'peer C (@libp2p/tcp)', node: await startNode(referenceTcp) }
]
line('2. three peers dial it and echo 1 MiB each over an encrypted, multiplexed stream:')
for (const { name, node } of peers) {
  const started = Date.now()
  const bytes = await echoOnce(node, server, 1024 * 1024)
  line(`   ${name.padEnd(22)} ${bytes} bytes echoed in ${Date.now() - started} ms`)
}
for (const { node } of peers) await node.stop()

// hundreds of peers that open a socket, send half a multistream-select header and stall
const port = Number(server.getMultiaddrs()[0].getComponents().find(c => c.name === 'tcp')?.value)
const before = accepted
const clients: net.Socket[] = []
const clientClosed: Array<Promise<void>> = []
for (let i = 0; i < STALLED; i++) {
  const socket = net.connect({ host: '127.0.0.1', port }, () => { socket.write(Buffer.from('\x13/multistream/')) })
  socket.on('error', () => {})
  clients.push(socket)
  clientClosed.push(new Promise(resolve => socket.once('close', () => { resolve() })))
}
const until = Date.now() + 10_000
// eslint-disable-next-line no-unmodified-loop-condition -- `accepted` counts in the server's 'connection' handler
while (accepted - before < STALLED && Date.now() < until) {
  await new Promise(resolve => setTimeout(resolve, 10))
}
line(`3. ${accepted - before} sockets are mid-handshake (they sent half a header and stalled)`)

const stopStarted = Date.now()
await server.stop()
const stopTook = Date.now() - stopStarted
const allClosed = await Promise.race([
  Promise.all(clientClosed).then(() => true),
  new Promise<boolean>(resolve => setTimeout(() => { resolve(false) }, 2000))
])
const everyClientClosed = Date.now() - stopStarted
const tcpHandles = process.getActiveResourcesInfo().filter(kind => kind.startsWith('TCP')).length
// where handles are not listed, the port itself says whether the listener is gone
const refused = await new Promise<boolean>((resolve) => {
  const probe = net.connect({ host: '127.0.0.1', port })
  probe.once('connect', () => { probe.destroy(); resolve(false) })
  probe.once('error', () => { resolve(true) })
})

line(`4. node.stop() resolved in ${stopTook} ms with ${STALLED} handshakes in flight`)
line(`   every client saw its socket close: ${allClosed ? `yes, after ${everyClientClosed} ms` : 'NO'}`)
line(`   TCP handles left open in this process: ${listed ? tcpHandles : 'not listed by this runtime'}`)
line(`   the port refuses new connections: ${refused ? 'yes' : 'NO'}`)

if (!allClosed || tcpHandles > 0 || !refused) {
  process.exitCode = 1
}
exitIfTheStackHoldsOn()
