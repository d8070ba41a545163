// npx tsx test/interop/profile-buckets.ts FILE.cpuprofile
// Self time of a V8 CPU profile summed by layer of a libp2p transfer (noise,
// yamux, the transport, libp2p, buffers, node:net, native, process start),
// over every sampled function: bench/profile-summary.ts lists the top
// packages, this puts all of them in the layers the perf breakdown names.
import { readFileSync } from 'node:fs'

interface ProfileNode { id: number, callFrame: { url: string, functionName: string } }
interface Profile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

const LAYERS: Array<[RegExp, string]> = [
  [/\/(tsx|esbuild)\/|^node:internal\/(modules|url|source_map|process\/pre_execution)|^node:(path|fs|module)$/, 'process start (loading modules)'],
  [/libp2p-noise|chacha|as-sha256|@noble|^node:internal\/crypto/, 'noise (its JS and node:crypto)'],
  [/libp2p-yamux/, 'yamux'],
  [/\/work\/[^/]+\/[^/]+\/src\/|@libp2p\/tcp\//, 'the TCP transport'],
  [/^node:(net|stream)$|^node:internal\/(net|stream|streams|stream_base_commons)/, 'node:net and streams'],
  [/^node:buffer$|^node:internal\/buffer|uint8arraylist|uint8arrays/, 'buffer copies'],
  [/\/(libp2p|@libp2p\/[^/]+|it-[^/]+|@multiformats\/[^/]+|race-signal|main-event|p-[^/]+|progress-events|rxjs)\/|^node:internal\/event_target/, 'libp2p, its utilities, events'],
  [/\/test\/interop\//, 'the perf harness']
]

/** share (percent) of the sampled time per layer, GC and other native time under 'native' */
export function profileBuckets (file: string): { totalSeconds: number, layers: Record<string, number> } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const url = new Map(profile.nodes.map((n) => [n.id, n.callFrame.url]))
  const layers: Record<string, number> = {}
  let total = 0
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0
    const u = url.get(id) ?? ''
    const name = u === '' ? 'native (syscalls, GC, idle)' : LAYERS.find(([re]) => re.test(u))?.[1] ?? 'other'
    layers[name] = (layers[name] ?? 0) + us
    total += us
  })
  for (const k of Object.keys(layers)) layers[k] = Math.round(1000 * layers[k] / total) / 10
  return { totalSeconds: total / 1e6, layers }
}

if (process.argv[1] === import.meta.filename) {
  const { totalSeconds, layers } = profileBuckets(process.argv[2])
  console.log(`total ${totalSeconds.toFixed(2)} s sampled`)
  for (const [k, v] of Object.entries(layers).sort((a, b) => b[1] - a[1])) console.log(`${v.toFixed(1).padStart(5)} %  ${k}`)
}
