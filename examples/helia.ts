// npx tsx examples/helia.ts — two Helia nodes on rx-tcp move a file over bitswap on 127.0.0.1
import { createHash, randomBytes } from 'node:crypto'
import { yamux } from '@chainsafe/libp2p-yamux'
import { unixfs } from '@helia/unixfs'
import { identify } from '@libp2p/identify'
import { createHelia } from 'helia'
import { tcp } from '../src/index.ts'
import { exitIfTheStackHoldsOn, listsTcpHandles, runtimeNoise } from './runtime.ts'

const SIZE = 4 * 1024 * 1024

// Only rx-tcp, noise and yamux on loopback, identify for bitswap to learn the
// peer's protocols: no bootstrap list, mDNS, DHT, delegated routing, HTTP
// gateways, autoNAT or UPnP, nothing that would leave this machine.
const node = () => createHelia({
  libp2p: {
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [runtimeNoise()],
    streamMuxers: [yamux()],
    peerDiscovery: [],
    services: { identify: identify() }
  },
  http: { delegatedRouters: [], recursiveGateways: [] }
})

const alice = node()
const bob = node()
await Promise.all([alice.start(), bob.start()])
const listed = listsTcpHandles()
await bob.libp2p.dial(alice.libp2p.getMultiaddrs()[0], { signal: AbortSignal.timeout(5_000) })
console.log(`alice ${alice.libp2p.peerId} and bob ${bob.libp2p.peerId} connected on ${alice.libp2p.getMultiaddrs()[0]}`)

const file = randomBytes(SIZE)
const cid = await unixfs(alice).addBytes(file)
console.log(`alice added ${SIZE} bytes (${(SIZE / 2 ** 20).toFixed(0)} MiB) as ${cid}`)

const started = performance.now()
const chunks: Uint8Array[] = []
for await (const chunk of unixfs(bob).cat(cid, { signal: AbortSignal.timeout(30_000) })) chunks.push(chunk)
const received = Buffer.concat(chunks)
const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')
const intact = received.byteLength === SIZE && sha(received) === sha(file)
console.log(`bob got ${received.byteLength} bytes over bitswap in ${(performance.now() - started).toFixed(0)} ms: ${intact ? 'intact' : 'CORRUPT'} (sha256 ${sha(received).slice(0, 16)}…)`)

for (const [name, helia] of [['alice', alice], ['bob', bob]] as const) {
  const t0 = performance.now()
  await helia.stop()
  console.log(`${name} stopped in ${(performance.now() - t0).toFixed(1)} ms`)
}
// what is left is libp2p's own: its address manager's 1 s debounce and its
// job queues' 1 ms timers, which fire and let the process exit by itself
const left = process.getActiveResourcesInfo()
const tcpLeft = left.filter((r) => r.startsWith('TCP')).length
if (listed) {
  console.log(`after both stop()s: ${tcpLeft} TCP handles, ${left.filter((r) => r === 'Timeout').length} timers pending (libp2p's, 1 s at most)`)
} else {
  console.log('after both stop()s: this runtime does not list its handles (process.getActiveResourcesInfo() is empty), so they are not counted here')
}
process.exitCode = intact && tcpLeft === 0 ? 0 : 1
exitIfTheStackHoldsOn()
