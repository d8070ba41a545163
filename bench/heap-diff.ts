// npx tsx bench/heap-diff.ts BEFORE.heapsnapshot AFTER.heapsnapshot CONNECTIONS [top]
// What the connections opened between two snapshots hold, per connection:
// bytes and objects by constructor, and closures by function and source location.
import { readFileSync } from 'node:fs'

interface Snapshot {
  snapshot: { meta: { node_fields: string[], node_types: [string[]], edge_fields: string[], edge_types: [string[]], location_fields: string[] } }
  nodes: number[]
  edges: number[]
  strings: string[]
  locations: number[]
}

interface Summary {
  /** constructor (or node type) → count and self size */
  objects: Map<string, { count: number, bytes: number }>
  /** closure name @ script:line:column → count */
  closures: Map<string, number>
}

function summarise (file: string): Summary {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot
  const meta = snap.snapshot.meta
  const nf = meta.node_fields
  const ntypes = meta.node_types[0]
  const ef = meta.edge_fields
  const NW = nf.length
  const EW = ef.length
  const { nodes, edges, strings } = snap
  const nType = nf.indexOf('type')
  const nName = nf.indexOf('name')
  const nSize = nf.indexOf('self_size')
  const nEdges = nf.indexOf('edge_count')
  const eName = ef.indexOf('name_or_index')
  const eTo = ef.indexOf('to_node')
  const firstEdge = new Int32Array(nodes.length / NW + 1)
  for (let i = 0, e = 0; i < nodes.length / NW; i++) { firstEdge[i] = e; e += nodes[i * NW + nEdges] * EW }
  // edges of type element/hidden index numbers, not strings: a name match on those is harmless noise
  const edgeTo = (node: number, name: string): number => {
    const start = firstEdge[node / NW]
    const end = start + nodes[node + nEdges] * EW
    for (let e = start; e < end; e += EW) {
      if (strings[edges[e + eName]] === name) return edges[e + eTo]
    }
    return -1
  }
  const lw = meta.location_fields.length
  const where = new Map<number, string>()
  for (let i = 0; i < snap.locations.length; i += lw) {
    where.set(snap.locations[i], `${snap.locations[i + 2] + 1}:${snap.locations[i + 3]}`)
  }
  const objects = new Map<string, { count: number, bytes: number }>()
  const closures = new Map<string, number>()
  for (let i = 0; i < nodes.length; i += NW) {
    const type = ntypes[nodes[i + nType]]
    const key = type === 'object' || type === 'closure' ? `${type} ${strings[nodes[i + nName]]}` : `(${type})`
    const o = objects.get(key) ?? { count: 0, bytes: 0 }
    o.count++
    o.bytes += nodes[i + nSize]
    objects.set(key, o)
    if (type !== 'closure') continue
    let url = '?'
    const shared = edgeTo(i, 'shared')
    const script = shared < 0 ? -1 : Math.max(edgeTo(shared, 'script'), edgeTo(shared, 'script_or_debug_info'))
    const name = script < 0 ? -1 : edgeTo(script, 'name')
    if (name >= 0) url = strings[nodes[name + nName]].replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|operators|bench)\//, '$1/')
    const fn = strings[nodes[i + nName]] === '' ? '(anonymous)' : strings[nodes[i + nName]]
    const k = `${fn} @ ${url}:${where.get(i) ?? '?'}`
    closures.set(k, (closures.get(k) ?? 0) + 1)
  }
  return { objects, closures }
}

const [beforeFile, afterFile, connsText, topText = '40'] = process.argv.slice(2)
if (beforeFile == null || afterFile == null || connsText == null) {
  console.error('usage: npx tsx bench/heap-diff.ts BEFORE.heapsnapshot AFTER.heapsnapshot CONNECTIONS [top]')
  process.exit(2)
}
const conns = Number(connsText)
const top = Number(topText)
const before = summarise(beforeFile)
const after = summarise(afterFile)

const objectRows = [...after.objects].map(([k, a]) => {
  const b = before.objects.get(k) ?? { count: 0, bytes: 0 }
  return { k, count: (a.count - b.count) / conns, bytes: (a.bytes - b.bytes) / conns }
}).sort((x, y) => y.bytes - x.bytes)
const total = objectRows.reduce((sum, r) => sum + r.bytes, 0)
console.log(`per connection: ${(total / 1024).toFixed(2)} KiB of heap (self sizes)\n\nby constructor:`)
for (const r of objectRows.slice(0, top)) console.log(`${r.bytes.toFixed(0).padStart(7)} B ${r.count.toFixed(2).padStart(7)} objs  ${r.k}`)

const closureRows = [...after.closures].map(([k, n]) => ({ k, n: (n - (before.closures.get(k) ?? 0)) / conns }))
  .filter((r) => r.n >= 0.5).sort((x, y) => y.n - x.n)
console.log(`\nclosures: ${closureRows.reduce((s, r) => s + r.n, 0).toFixed(1)} per connection\n`)
for (const r of closureRows.slice(0, top)) console.log(`${r.n.toFixed(2).padStart(6)}  ${r.k}`)
