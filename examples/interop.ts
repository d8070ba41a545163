// npx tsx examples/interop.ts — an rx-tcp node and an @libp2p/tcp node dial each other and exchange data
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp as referenceTcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { tcp } from '../src/index.ts'
import { exitIfTheStackHoldsOn, runtimeNoise } from './runtime.ts'
import type { Libp2p } from 'libp2p'

const PROTOCOL = '/rx-tcp/example/echo/1.0.0'
const decoder = new TextDecoder()
const encoder = new TextEncoder()

async function node (transport: typeof tcp): Promise<Libp2p> {
  const n = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [transport()],
    connectionEncrypters: [runtimeNoise()],
    streamMuxers: [yamux()]
  })
  await n.handle(PROTOCOL, (stream) => {
    stream.addEventListener('message', (evt) => { stream.send(evt.data) })
  })
  return n
}

async function echo (from: Libp2p, to: Libp2p, text: string): Promise<string> {
  const stream = await from.dialProtocol(to.getMultiaddrs()[0], PROTOCOL, { signal: AbortSignal.timeout(5000) })
  const direction = from.getConnections(to.peerId).map(c => c.direction).join()
  console.log(`  (connection from ${from.peerId.toString().slice(-6)} is ${direction})`)
  const back = new Promise<string>((resolve) => {
    stream.addEventListener('message', (evt) => { resolve(decoder.decode(evt.data.subarray())) }, { once: true })
  })
  stream.send(encoder.encode(text))
  const reply = await back
  await stream.close()
  return reply
}

const rx = await node(tcp)
const ref = await node(referenceTcp as typeof tcp)

console.log(`rx-tcp       -> @libp2p/tcp: ${await echo(rx, ref, 'sent by rx-tcp, echoed by @libp2p/tcp')}`)
// hang up so the second echo travels over a connection @libp2p/tcp dials itself
const refSawClose = new Promise(resolve => { ref.addEventListener('connection:close', resolve, { once: true }) })
await rx.hangUp(ref.peerId)
await refSawClose
console.log(`@libp2p/tcp  -> rx-tcp     : ${await echo(ref, rx, 'sent by @libp2p/tcp, echoed by rx-tcp')}`)

await rx.stop()
await ref.stop()
exitIfTheStackHoldsOn()
