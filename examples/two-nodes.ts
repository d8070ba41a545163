// npx tsx examples/two-nodes.ts — two libp2p nodes on rx-tcp exchange data both ways
import { yamux } from '@chainsafe/libp2p-yamux'
import { createLibp2p } from 'libp2p'
import { tcp } from '../src/index.ts'
import { exitIfTheStackHoldsOn, runtimeNoise } from './runtime.ts'

const PROTOCOL = '/rx-tcp/example/chat/1.0.0'
const decoder = new TextDecoder()
const encoder = new TextEncoder()

const node = async () => createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [runtimeNoise()],
  streamMuxers: [yamux()]
})

const alice = await node()
const bob = await node()

// bob answers every message with a reply of his own
await bob.handle(PROTOCOL, (stream) => {
  stream.addEventListener('message', (evt) => {
    const text = decoder.decode(evt.data.subarray())
    console.log(`bob   got: ${text}`)
    stream.send(encoder.encode(`hello alice, you said "${text}"`))
  })
})

const stream = await alice.dialProtocol(bob.getMultiaddrs()[0], PROTOCOL, { signal: AbortSignal.timeout(5000) })
const reply = new Promise<string>((resolve) => {
  stream.addEventListener('message', (evt) => { resolve(decoder.decode(evt.data.subarray())) }, { once: true })
})
stream.send(encoder.encode('hello bob'))
console.log(`alice got: ${await reply}`)

await alice.stop()
await bob.stop()
console.log('both nodes stopped')
exitIfTheStackHoldsOn()
