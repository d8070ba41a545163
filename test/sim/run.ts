// npm run sim -- [--nodes 30] [--namespaces 4] [--loss 3] [--rate 20mbit] [--seconds 60] [--seed N] [--mode rx,ref,mixed]
//   [--publish-every 5000] [--dht-every 2000] [--ping-every 2000] [--abort-every 5000] [--churn-every 10000] [--tolerance 0.02] [--loopback] [--out dir]
// npm run sim -- --chart test/sim/results/latest.json   draws the chart again from a run's JSON
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { randomSeed } from '../chaos/random.ts'
import { renderSimChart } from './chart.ts'
import { buildNetwork } from './network.ts'
import { runScenario, warmUp } from './scenario.ts'
import { formatTable, verdict } from './verdict.ts'
import type { SimNetwork } from './network.ts'
import type { ScenarioOptions, SimMode } from './scenario.ts'
import type { ModeSummary } from './summary.ts'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '30' },
    namespaces: { type: 'string', default: '4' },
    loss: { type: 'string', default: '3' },
    rate: { type: 'string', default: '20mbit' },
    seconds: { type: 'string', default: '60' },
    seed: { type: 'string' },
    mode: { type: 'string', default: 'rx,ref,mixed' },
    'publish-every': { type: 'string', default: '5000' },
    'churn-every': { type: 'string', default: '10000' },
    'dht-every': { type: 'string', default: '2000' },
    'ping-every': { type: 'string', default: '2000' },
    'abort-every': { type: 'string', default: '5000' },
    tolerance: { type: 'string', default: '0.02' },
    loopback: { type: 'boolean', default: false },
    out: { type: 'string', default: 'test/sim/results' },
    chart: { type: 'string' }
  }
})

if (values.chart != null) {
  // --chart results.json: draws the chart again from a run's JSON, next to it
  const svg = values.chart.replace(/\.json$/, '.svg')
  writeFileSync(svg, renderSimChart(JSON.parse(readFileSync(values.chart, 'utf8'))))
  console.log(`sim: chart ${svg} drawn from ${values.chart}`)
  process.exit(0)
}

const seed = values.seed != null ? Number(values.seed) : randomSeed()
const nodes = Number(values.nodes)
const hosts = Math.min(Number(values.namespaces), nodes)
const modes = values.mode.split(',') as SimMode[]
for (const m of modes) if (!['rx', 'ref', 'mixed'].includes(m)) throw new Error(`unknown mode ${m}: expected rx, ref or mixed`)
const tolerance = Number(values.tolerance)
const impairment = { lossPercent: Number(values.loss), rate: values.rate }
const base: Omit<ScenarioOptions, 'mode'> = {
  seed,
  nodes,
  seconds: Number(values.seconds),
  publishEveryMs: Number(values['publish-every']),
  dhtEveryMs: Number(values['dht-every']),
  pingEveryMs: Number(values['ping-every']),
  abortEveryMs: Number(values['abort-every']),
  churnEveryMs: Number(values['churn-every']),
  settleMs: 10_000,
  graceMs: 5_000,
  onProgress: (line) => { console.log(line) }
}

// handlers first: a signal that comes while the namespaces are being built
// is handled once the build returns, and then removes them
let net: SimNetwork | undefined // eslint-disable-line prefer-const -- assigned once the build returns, after the handlers are in place
const teardown = (): void => { net?.teardown() }
process.once('exit', teardown)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log(`sim: ${signal}: removing the namespaces and stopping`)
    teardown()
    process.exit(130)
  })
}
// room for each host's share of the nodes and for newcomers of churn landing on it
const perHost = Math.ceil(nodes / hosts)
net = buildNetwork({ hosts, addressesPerHost: Math.min(250, perHost * 2 + 8), impairment, loopback: values.loopback })

console.log(`sim: seed=${seed} nodes=${nodes} hosts=${hosts} modes=${modes.join(',')} seconds=${base.seconds} publish-every=${base.publishEveryMs}ms churn-every=${base.churnEveryMs}ms dht-every=${base.dhtEveryMs}ms ping-every=${base.pingEveryMs}ms abort-every=${base.abortEveryMs}ms node=${process.version}`)
console.log(`sim: network: ${net.kind}; shaping: ${net.shaping}`)
console.log(`sim: machine: ${cpus().length} CPUs, load average ${loadavg().map(l => l.toFixed(1)).join(' ')} before the run`)
console.log(`sim: replay with: npm run sim -- --seed ${seed} --nodes ${nodes} --namespaces ${hosts} --loss ${impairment.lossPercent} --rate ${impairment.rate} --seconds ${base.seconds} --mode ${modes.join(',')}${values.loopback ? ' --loopback' : ''}`)

const summaries: ModeSummary[] = []
try {
  const warming = performance.now()
  await warmUp(net)
  console.log(`sim: warmed up every host (one node of each transport, unmeasured) in ${((performance.now() - warming) / 1000).toFixed(1)} s`)
  for (const mode of modes) {
    console.log(`sim[${mode}] starting ${nodes} nodes (${mode === 'mixed' ? 'half rx-tcp, half @libp2p/tcp' : mode === 'rx' ? 'all rx-tcp' : 'all @libp2p/tcp'})`)
    const s = await runScenario(net as SimNetwork, { ...base, mode })
    summaries.push(s)
    console.log(`sim[${mode}] done in ${(s.durationMs / 1000).toFixed(0)} s: delivery ${(s.gossip.ratio * 100).toFixed(2)} %, dht put ${(s.dht.put.ratio * 100).toFixed(1)} % get ${(s.dht.get.ratio * 100).toFixed(1)} %, handles left ${s.handlesLeft}, uncaught ${s.uncaught + s.unhandled}`)
    for (const e of s.topErrors) console.log(`sim[${mode}]   ${e.count}× ${e.kind}: ${e.error}`)
    for (const f of [...s.faults, ...s.hostErrors].slice(0, 5)) console.log(`sim[${mode}]   ${f.split('\n').slice(0, 4).join('\n    ')}`)
  }
} finally {
  teardown()
}

const result = verdict(summaries, tolerance)
const outDir = resolve(values.out)
mkdirSync(outDir, { recursive: true })
const report = { date: new Date().toISOString(), node: process.version, params: { ...base, onProgress: undefined, hosts, impairment, tolerance, modes }, summaries, verdict: result }
const name = nodes === 30 && hosts === 4 ? 'latest' : `nodes-${nodes}`
writeFileSync(resolve(outDir, `${name}.json`), JSON.stringify(report, null, 2) + '\n')
writeFileSync(resolve(outDir, `${name}.svg`), renderSimChart(report))
console.log('')
console.log(formatTable(summaries))
console.log('')
console.log(`sim: results in ${resolve(outDir, `${name}.json`)}, chart ${resolve(outDir, `${name}.svg`)}`)
for (const r of result.reasons) console.log(`sim: ${r}`)
console.log(`sim: ${result.pass ? 'PASS' : 'FAIL'} ${result.line}`)
process.exitCode = result.pass ? 0 : 1
