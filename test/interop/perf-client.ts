// node --cpu-prof --import tsx test/interop/perf-client.ts <multiaddr> <rx|ref> <upload> <download>
// One JS perf client run in a process of its own, so that `--cpu-prof` profiles
// the JS side of a transfer and nothing else; prints {"upload":s,"download":s}.
import { multiaddr } from '@multiformats/multiaddr'
import { interopNode } from './js-node.ts'
import { perf } from './perf-protocol.ts'
import type { JsTransport } from './js-node.ts'

const [target, transport, upload, download] = process.argv.slice(2)
const node = await interopNode({ transport: transport as JsTransport })
const ma = multiaddr(target)
await node.dial(ma, { signal: AbortSignal.timeout(15_000) })
const signal = AbortSignal.timeout(600_000)
const up = await perf(node, ma, { upload: Number(upload), download: 0, signal })
const down = await perf(node, ma, { upload: 0, download: Number(download), signal })
await node.stop()
process.stdout.write(JSON.stringify({ upload: up.seconds, download: down.seconds }) + '\n')
