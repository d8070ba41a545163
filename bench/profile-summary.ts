// npx tsx bench/profile-summary.ts FILE.cpuprofile [top]
// Self time of a V8 CPU profile by function and by package/file.
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  hitCount: number
}
interface Profile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

const [file, topText = '30'] = process.argv.slice(2)
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const selfUs = new Map<number, number>()
profile.samples.forEach((id, i) => { selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)) })
const total = [...selfUs.values()].reduce((a, b) => a + b, 0)

function where (url: string): string {
  if (url === '') return '(native/vm)'
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }
  if (url.startsWith('node:')) return url
  const m = /\/work\/[^/]+\/(.*)$/.exec(url)
  return m != null ? m[1] : url
}

const fns = new Map<string, number>()
const places = new Map<string, number>()
for (const [id, us] of selfUs) {
  const n = byId.get(id)
  if (n == null) continue
  const place = where(n.callFrame.url)
  const name = `${n.callFrame.functionName === '' ? '(anonymous)' : n.callFrame.functionName}  ${place}${n.callFrame.url === '' ? '' : `:${n.callFrame.lineNumber + 1}`}`
  fns.set(name, (fns.get(name) ?? 0) + us)
  places.set(place, (places.get(place) ?? 0) + us)
}
const pct = (us: number): string => `${(100 * us / total).toFixed(1).padStart(5)} %`
console.log(`total ${(total / 1e6).toFixed(2)} s sampled\n\nby package / file:`)
for (const [k, v] of [...places].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`${pct(v)}  ${k}`)
console.log('\nby function (self):')
for (const [k, v] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, Number(topText))) console.log(`${pct(v)}  ${k}`)
