// tsx test/load/run.ts [--upgraded 2000] [--silent 3000] [--concurrency 64] [--variant rx|libp2p-tcp] [--out test/load/results/latest.json]
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { loadSubject } from '../chaos/subjects.ts'
import { runLoad } from './load.ts'
import type { VariantName } from '../chaos/subjects.ts'

const { values } = parseArgs({
  options: {
    upgraded: { type: 'string', default: '2000' },
    silent: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '64' },
    variant: { type: 'string', default: 'rx' },
    out: { type: 'string' }
  }
})

const subject = await loadSubject(values.variant as VariantName)
console.log(`load: ${subject.description}, ${values.upgraded} upgraded (noise + yamux) + ${values.silent} silent connections on one listener, node ${process.version}`)
const result = await runLoad({
  transport: subject.tcp(),
  upgraded: Number(values.upgraded),
  silent: Number(values.silent),
  concurrency: Number(values.concurrency),
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
const out = resolve(values.out ?? `test/load/results/${values.variant === 'rx' ? 'latest' : values.variant}.json`)
mkdirSync(dirname(out), { recursive: true })
writeFileSync(out, JSON.stringify({ variant: values.variant, node: process.version, ...result, failures }, null, 2) + '\n')
console.log(`load: held ${result.held} connections (${result.upgraded} upgraded, ${result.silent} silent), built in ${(result.buildMs / 1000).toFixed(1)} s`)
console.log(`load: close() ${result.closeMs.toFixed(1)} ms, last client 'close' ${result.clientsClosedMs.toFixed(1)} ms, 'close' events ${result.closeEvents}, handles left ${JSON.stringify(result.leftover)}`)
for (const f of failures) console.log(`load: FAIL ${f}`)
console.log(`load: ${failures.length === 0 ? 1 : 0} passed, ${failures.length === 0 ? 0 : 1} failed`)
console.log(`load: written to ${out}`)
process.exitCode = failures.length === 0 ? 0 : 1
