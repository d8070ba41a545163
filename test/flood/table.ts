// npx tsx test/flood/table.ts FILE.json: the flood's figures as the markdown tables of docs/under-attack.md.
import { readFileSync } from 'node:fs'
import type { FloodResult, StepResult } from './report.ts'

const file = process.argv[2]
if (file == null) {
  console.error('usage: npx tsx test/flood/table.ts FILE.json')
  process.exit(2)
}
const r = JSON.parse(readFileSync(file, 'utf8')) as FloodResult
const victims = r.victims.map((v) => v.name)

const cell = (s: StepResult | undefined): string => s == null
  ? '—'
  : `${s.good.dialPct} %${s.survived ? '' : ' ✗'}`

for (const attack of Object.keys(r.highest)) {
  const steps = r.steps.filter((s) => s.attack === attack)
  const rates = [...new Set(steps.map((s) => s.rate))].sort((a, b) => a - b)
  console.log(`\n#### ${attack}: good dials connected (✗: the step lost, by dials or ping p99 > 2× quiet)\n`)
  console.log(`| attack rate | ${victims.join(' | ')} |`)
  console.log(`| --- | ${victims.map(() => '---').join(' | ')} |`)
  for (const rate of rates) {
    console.log(`| ${rate === 0 ? 'quiet' : `${rate}/s`} | ${victims.map((v) => cell(steps.find((s) => s.victim === v && s.rate === rate))).join(' | ')} |`)
  }
  console.log(`| **highest rate kept** | ${victims.map((v) => `**${r.highest[attack][v]}/s**`).join(' | ')} |`)
  console.log(`| highest by dials alone | ${victims.map((v) => `${r.highestByDials?.[attack]?.[v] ?? '—'}/s`).join(' | ')} |`)
  console.log(`\n#### ${attack}: per step\n`)
  console.log('| victim | rate | dials ok | dial p50 / far p50 ms | near ping p50 / p99 ms | far ping p50 / p99 ms | echo KiB/s | victim CPU % | CPU µs per attack socket | max RSS MiB | max heap MiB | max fds | loop p99 ms | attack sockets: connected / closed by victim / open at end | lived p50 / p90 ms | uncaught |')
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
  for (const v of victims) {
    for (const s of steps.filter((x) => x.victim === v).sort((a, b) => a.rate - b.rate)) {
      const a = s.attacker
      console.log(`| ${v} | ${s.rate === 0 ? 'quiet' : s.rate} | ${s.good.dialsOk}/${s.good.dials} | ${s.good.dialMs.p50} / ${s.good.dialMsFar.p50} | ${s.good.pingNear.p50} / ${s.good.pingNear.p99} | ${s.good.pingFar.p50} / ${s.good.pingFar.p99} | ${s.good.echoKiBps} | ${s.victimCpuPct} | ${s.cpuUsPerAttack ?? '—'} | ${s.maxRssMiB} | ${s.maxHeapMiB} | ${s.maxFds} | ${s.loopDelayP99} | ${a == null ? '—' : `${a.connected} / ${a.closedByVictim} / ${a.openAtEnd}`} | ${a == null ? '—' : `${Math.round(a.lifetimeMs.p50)} / ${Math.round(a.lifetimeMs.p90)}`} | ${s.uncaught} |`)
    }
  }
}
// silent sockets only: what a held socket costs, not what a handshake in flight does
const perSocket = r.steps.filter((s) => s.attack.startsWith('silent') && s.perSocket != null && s.perSocket.sockets >= 100)
if (perSocket.length > 0) {
  console.log('\n#### Memory per silent attack socket held (Δ over the step\'s start, per extra descriptor, at the window\'s end; heap after a full GC)\n')
  console.log('| victim | attack | rate | sockets held | RSS bytes each | heap bytes each |')
  console.log('| --- | --- | --- | --- | --- | --- |')
  for (const s of perSocket) console.log(`| ${s.victim} | ${s.attack} | ${s.rate} | ${s.perSocket?.sockets ?? 0} | ${s.perSocket?.rssBytes ?? 0} | ${s.perSocket?.heapBytes ?? 0} |`)
}
console.log(`\nload average (1 min) at the start and after each rate: ${r.loadavg.map((l) => l[0]).join(', ')}; seed ${r.seed}; ${r.date}`)
