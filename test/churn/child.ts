// One churn, on the runtime that runs this file, for one transport; spawned by
// test/churn/run.ts (`npm run runtimes`), one child per runtime × transport:
//   <runtime> test/churn/child.ts --transport rx|ref --nodes 5 --seconds 300 --seed N [--label node24]
// Progress lines go to stderr; the result is one JSON line on stdout, prefixed
// `churn-result `. It never calls process.exit: the parent times how long the
// process takes to exit by itself once the result is out (a handle left
// behind shows as a process that does not).
import { parseArgs } from 'node:util'
// first: it must see the channels libp2p opens
import { closeHeldChannels } from './channels.ts'
import { runChurn } from './churn.ts'
import type { ChurnTransport } from './node.ts'

const { values } = parseArgs({
  options: {
    transport: { type: 'string' },
    nodes: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '300' },
    seed: { type: 'string' },
    label: { type: 'string', default: 'churn' }
  }
})

const transport = values.transport as ChurnTransport
if (transport !== 'rx' && transport !== 'ref') throw new Error(`--transport must be rx or ref, not ${String(values.transport)}`)
const result = await runChurn({
  transport,
  nodes: Number(values.nodes),
  durationMs: Number(values.seconds) * 1000,
  seed: Number(values.seed ?? 1),
  onProgress: (line) => { process.stderr.write(`runtimes[${values.label}/${transport}] ${line}\n`) }
})
// on Deno, mortice's BroadcastChannel (libp2p's peer store) would keep the
// process alive for good, on both transports: closed here, and counted, so
// that the exit still shows whatever else is left
result.channelsClosed = closeHeldChannels()
process.stdout.write(`churn-result ${JSON.stringify(result)}\n`)
