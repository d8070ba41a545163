// npm run sim -- --help for the options
// npm run sim -- --chart test/sim/results/busy-machine.json   draws the chart again from a run's JSON, next to it
import { writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { randomSeed } from '../fixtures/seed.ts'
import { parseCli, replayCommand } from '../fixtures/cli.ts'
import { drawChartOnly, recordHelp, resultFile, shown, sibling } from '../fixtures/results.ts'
import { renderSimChart } from './chart.ts'
import { buildNetwork } from './network.ts'
import { runScenario, warmUp } from './scenario.ts'
import { formatTable, verdict } from './verdict.ts'
import type { SimNetwork } from './network.ts'
import type { ScenarioOptions } from './scenario.ts'
import type { ModeSummary } from './summary.ts'

const values = parseCli({
  tool: 'sim',
  summary: 'A network of libp2p nodes (gossipsub, kad-dht, ping, churn) in network namespaces with loss and a rate limit,\nrun all rx-tcp, all @libp2p/tcp and mixed; the verdict compares them. Writes .results/sim/ unless --record or --out.',
  options: {
    nodes: { type: 'integer', min: 2, default: 30, description: 'libp2p nodes' },
    namespaces: { type: 'integer', min: 1, default: 4, description: 'network namespaces (hosts) the nodes are spread over' },
    loss: { type: 'number', min: 0, max: 100, default: 3, description: 'packet loss in % on each host\'s link' },
    rate: { type: 'string', placeholder: 'RATE', default: '20mbit', description: 'rate limit of each host\'s link (tc syntax)' },
    seconds: { type: 'number', above: 0, default: 60, description: 'seconds of load per mode' },
    seed: { type: 'integer', min: 0, description: 'seed of the run (default: random, printed)' },
    mode: { type: 'list', choices: ['rx', 'ref', 'mixed'], default: ['rx', 'ref', 'mixed'], description: 'modes to run, in this order' },
    'publish-every': { type: 'number', above: 0, placeholder: 'MS', default: 5000, description: 'ms between gossip publishes of a node' },
    'churn-every': { type: 'number', above: 0, placeholder: 'MS', default: 10000, description: 'ms between churn events' },
    'dht-every': { type: 'number', above: 0, placeholder: 'MS', default: 2000, description: 'ms between DHT operations of a node' },
    'ping-every': { type: 'number', above: 0, placeholder: 'MS', default: 2000, description: 'ms between pings of a node' },
    'abort-every': { type: 'number', above: 0, placeholder: 'MS', default: 5000, description: 'ms between aborted dials of a node' },
    tolerance: { type: 'number', min: 0, max: 1, default: 0.02, description: 'how far rx-tcp may fall behind @libp2p/tcp in a ratio' },
    loopback: { type: 'boolean', description: 'run on loopback addresses, without namespaces' },
    record: { type: 'string', placeholder: 'NAME', description: recordHelp('sim', 'test/sim/results') },
    out: { type: 'string', placeholder: 'DIR', description: 'write the result and its chart into DIR' },
    chart: { type: 'string', placeholder: 'FILE', description: 'only draw the chart of a run\'s JSON, next to it' }
  },
  examples: ['npm run sim -- --nodes 8 --seconds 10 --mode rx', 'npm run sim -- --seed 20261130 --record busy-machine', 'npm run sim -- --chart test/sim/results/busy-machine.json']
})

drawChartOnly('sim', values.chart, renderSimChart)

const seed = values.seed ?? randomSeed()
const nodes = values.nodes
const hosts = Math.min(values.namespaces, nodes)
const modes = values.mode
const tolerance = values.tolerance
const impairment = { lossPercent: values.loss, rate: values.rate }
const base: Omit<ScenarioOptions, 'mode'> = {
  seed,
  nodes,
  seconds: values.seconds,
  publishEveryMs: values['publish-every'],
  dhtEveryMs: values['dht-every'],
  pingEveryMs: values['ping-every'],
  abortEveryMs: values['abort-every'],
  churnEveryMs: values['churn-every'],
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
console.log(`sim: replay with: ${replayCommand('sim', { seed, nodes, namespaces: hosts, loss: impairment.lossPercent, rate: impairment.rate, seconds: base.seconds, mode: modes, loopback: values.loopback })}`)

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
const report = { date: new Date().toISOString(), node: process.version, params: { ...base, onProgress: undefined, hosts, impairment, tolerance, modes }, summaries, verdict: result }
const name = nodes === 30 && hosts === 4 ? 'latest' : `nodes-${nodes}`
const json = resultFile({ tool: 'sim', committed: 'test/sim/results', name, record: values.record, out: values.out != null ? join(values.out, `${name}.json`) : undefined })
const svg = sibling(json, '.svg')
writeFileSync(json, JSON.stringify(report, null, 2) + '\n')
writeFileSync(svg, renderSimChart(report))
console.log('')
console.log(formatTable(summaries))
console.log('')
console.log(`sim: results in ${shown(json)}, chart ${shown(svg)}`)
for (const r of result.reasons) console.log(`sim: ${r}`)
console.log(`sim: ${result.pass ? 'PASS' : 'FAIL'} ${result.line}`)
process.exitCode = result.pass ? 0 : 1
