// npm run load -- --help for the options
import { writeFileSync } from 'node:fs'
import { loadSubject } from '../chaos/subjects.ts'
import { parseCli } from '../fixtures/cli.ts'
import { recordHelp, resultFile, shown } from '../fixtures/results.ts'
import { runLoad } from './load.ts'

const values = parseCli({
  tool: 'load',
  summary: 'One listener holding upgraded (noise + yamux) and silent connections, then closed: close() must resolve within\n2 s with every socket destroyed, one close event and no handle left. Writes .results/load/ unless --record or --out.',
  options: {
    upgraded: { type: 'integer', min: 0, default: 2000, description: 'connections upgraded with noise and yamux' },
    silent: { type: 'integer', min: 0, default: 3000, description: 'connections that never send a byte' },
    concurrency: { type: 'integer', min: 1, default: 64, description: 'connections opened at a time' },
    variant: { type: 'string', choices: ['rx', 'libp2p-tcp'], default: 'rx', description: 'the transport under test' },
    record: { type: 'string', placeholder: 'NAME', description: recordHelp('load', 'test/load/results') },
    out: { type: 'string', placeholder: 'FILE', description: 'write the result to FILE' }
  },
  examples: ['npm run load -- --upgraded 50 --silent 50', 'npm run load -- --variant libp2p-tcp --record libp2p-tcp']
})

const subject = await loadSubject(values.variant)
console.log(`load: ${subject.description}, ${values.upgraded} upgraded (noise + yamux) + ${values.silent} silent connections on one listener, node ${process.version}`)
const result = await runLoad({
  // rx-tcp's inbound guard off (@libp2p/tcp ignores the option): the figure is the close with every silent socket held mid-upgrade
  transport: subject.tcp({ inboundGuard: false }),
  upgraded: values.upgraded,
  silent: values.silent,
  concurrency: values.concurrency,
  onProgress: (line) => { console.log(line) }
})

const failures = [
  ...result.errors,
  ...(result.closeMs > 2_000 ? [`close took ${result.closeMs.toFixed(0)} ms (bound 2000 ms)`] : []),
  ...(result.closeEvents !== 1 ? [`'close' dispatched ${result.closeEvents} times`] : []),
  ...(result.notDestroyed > 0 ? [`${result.notDestroyed} accepted sockets not destroyed when close() resolved`] : []),
  ...(result.clientsOpen > 0 ? [`${result.clientsOpen} client sockets never saw 'close'`] : []),
  ...(Object.keys(result.leftover).length > 0 ? [`left behind: ${JSON.stringify(result.leftover)}`] : [])
]
const out = resultFile({ tool: 'load', committed: 'test/load/results', name: values.variant === 'rx' ? 'latest' : values.variant, record: values.record, out: values.out })
writeFileSync(out, JSON.stringify({ variant: values.variant, node: process.version, ...result, failures }, null, 2) + '\n')
console.log(`load: held ${result.held} connections (${result.upgraded} upgraded, ${result.silent} silent), built in ${(result.buildMs / 1000).toFixed(1)} s`)
console.log(`load: close() ${result.closeMs.toFixed(1)} ms, last client 'close' ${result.clientsClosedMs.toFixed(1)} ms, 'close' events ${result.closeEvents}, handles left ${JSON.stringify(result.leftover)}`)
for (const f of failures) console.log(`load: FAIL ${f}`)
console.log(`load: written to ${shown(out)}`)
console.log(`load: ${failures.length === 0 ? 'PASS' : 'FAIL'} ${result.held} connections held, close() ${result.closeMs.toFixed(1)} ms, ${failures.length} failures`)
process.exitCode = failures.length === 0 ? 0 : 1
