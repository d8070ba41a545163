// node_modules/.bin/node --cpu-prof --import tsx bench/profile.ts [plaintext|bare|noise|rpc] [rx|ref] [reps] [rx-tcp entry]
// Runs one figure for one transport, repeatedly, so that a CPU profile of the
// process shows that transport's byte path. Summarise with bench/profile-summary.ts.
// 'close' profiles only the close() of a listener with stalled handshakes,
// through the inspector, into bench/results/close-<rx|ref>.cpuprofile.
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import { fileURLToPath } from 'node:url'
import { bareGroup } from './figures/bare.ts'
import { listenerOf, stallClients, timeClose } from './figures/close.ts'
import { acceptGroup } from './figures/connections.ts'
import { stopHolders } from './holders.ts'
import { createNode } from './nodes.ts'
import { hostPort } from './passthrough.ts'
import { rpcGroup, throughputGroup } from './figures/throughput.ts'
import { MiB } from './stats.ts'
import { loadSubjects } from './subjects.ts'
import type { Group, Options } from './figures/types.ts'

const [figure = 'plaintext', key = 'rx', repsText = '5', rxEntry] = process.argv.slice(2)
if (figure === 'close') {
  await profileClose()
  process.exit(0)
}
const byId: Record<string, Group> = { plaintext: throughputGroup('plaintext'), noise: throughputGroup('noise'), bare: bareGroup, rpc: rpcGroup, accept: acceptGroup }
const group = byId[figure]
if (group == null) throw new Error(`unknown figure ${figure}: one of ${Object.keys(byId).join(', ')}`)
const subjects = await loadSubjects(false, rxEntry)
const subject = key === 'ref' ? subjects.ref : subjects.rx
const opts: Options = {
  size: 64 * MiB,
  bareSize: 256 * MiB,
  chunk: 64 * 1024,
  window: 4 * MiB,
  messages: 5000,
  messageSize: 1024,
  acceptConns: 500,
  acceptConcurrency: 32,
  stalled: 1000,
  idleConns: 500,
  maxConns: 20_000,
  reps: 1,
  log: (line) => { console.error(line) }
}
for (let i = 0; i < Number(repsText); i++) {
  console.error(`${subject.name} ${figure} ${JSON.stringify(await group.run(subject, opts), (_k, v: unknown) => typeof v === 'number' ? Math.round(v) : v)}`)
}

async function profileClose (): Promise<void> {
  const subjects = await loadSubjects(false, rxEntry)
  const subject = key === 'ref' ? subjects.ref : subjects.rx
  const session = new Session()
  session.connect()
  const post = async (method: string, params?: object): Promise<unknown> => new Promise((resolve, reject) => {
    session.post(method, params ?? {}, (err, result) => { if (err != null) reject(err); else resolve(result) })
  })
  await post('Profiler.enable')
  await post('Profiler.setSamplingInterval', { interval: 100 })
  for (let i = 0; i < Number(repsText); i++) {
    const server = await createNode(subject, { encryption: 'noise', listen: true })
    const { host, port } = hostPort(server.getMultiaddrs()[0])
    const stalled = await stallClients(host, port, 1000)
    const listener = listenerOf(server)
    await post('Profiler.start')
    const sample = await timeClose(stalled, async () => listener.close())
    const { profile } = await post('Profiler.stop') as { profile: object }
    console.error(`${subject.name} close ${JSON.stringify(sample)}`)
    writeFileSync(fileURLToPath(new URL(`results/close-${key}-${i}.cpuprofile`, import.meta.url)), JSON.stringify(profile))
    await stopHolders([stalled.holder])
    await server.stop()
  }
}
