// A child of `npm run flood` (run.ts): one victim, a libp2p node (noise +
// yamux, identify, ping, echo) on the transport its spec names, in a process
// of its own so that its CPU, memory and descriptors are its alone; run.ts
// pins it to a core of its own. args: victim name. Driven over IPC (protocol.ts).
import { readdirSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp as refTcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { fullGc } from '../../bench/gc.ts'
import { handleEcho } from '../../bench/nodes.ts'
import { tcp as rxTcp } from '../../src/index.ts'
import { trapErrors } from '../soak/protocol.ts'
import { rxOptions, victimSpec } from './victims.ts'
import type { VictimCommand, VictimReport, VictimSample } from './protocol.ts'

const send = (msg: VictimReport): void => { process.send?.(msg) }
// a parent that died (Ctrl-C, a crash) takes its children with it
process.on('disconnect', () => { process.exit(0) })
const errors = trapErrors()
const spec = victimSpec(process.argv[2])

const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [spec.transport === 'rx' ? rxTcp(rxOptions(spec)) : refTcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { identify: identify(), ping: ping() },
  connectionManager: spec.manager
})
await handleEcho(node)

const fds = (): number => readdirSync('/proc/self/fd').length
const loopDelay = monitorEventLoopDelay({ resolution: 10 })
loopDelay.enable()
const started = performance.now()
let max = { rss: 0, heapUsed: 0, fds: 0 }
const watch = (): void => {
  const mem = process.memoryUsage()
  max = { rss: Math.max(max.rss, mem.rss), heapUsed: Math.max(max.heapUsed, mem.heapUsed), fds: Math.max(max.fds, fds()) }
}
const watcher = setInterval(watch, 250)

async function sample (gc: boolean): Promise<VictimSample> {
  watch()
  const loopDelayP99 = Math.round(loopDelay.percentile(99) / 1e4) / 100
  loopDelay.reset()
  if (gc) await fullGc()
  const mem = process.memoryUsage()
  const cpu = process.cpuUsage()
  const s: VictimSample = {
    t: Math.round(performance.now() - started),
    cpuUser: cpu.user,
    cpuSystem: cpu.system,
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    fds: fds(),
    maxRss: max.rss,
    maxHeapUsed: max.heapUsed,
    maxFds: max.fds,
    connections: node.getConnections().length,
    loopDelayP99,
    uncaught: errors.count
  }
  max = { rss: 0, heapUsed: 0, fds: 0 }
  return s
}

let session: Session | undefined
const post = async (method: string, params: object = {}): Promise<any> => new Promise((resolve, reject) => {
  session?.post(method, params, (err, result) => { if (err != null) reject(err); else resolve(result) })
})

process.on('message', (cmd: VictimCommand) => {
  const run = async (): Promise<void> => {
    switch (cmd.type) {
      case 'sample':
        send({ type: 'sample', sample: await sample(cmd.gc === true) })
        break
      case 'profile-start':
        session = new Session()
        session.connect()
        await post('Profiler.enable')
        await post('Profiler.setSamplingInterval', { interval: 500 })
        await post('Profiler.start')
        break
      case 'profile-stop': {
        const { profile } = await post('Profiler.stop')
        writeFileSync(cmd.file, JSON.stringify(profile))
        session?.disconnect()
        session = undefined
        send({ type: 'profiled', file: cmd.file })
        break
      }
      case 'stop':
        clearInterval(watcher)
        await node.stop()
        process.exit(0)
    }
  }
  run().catch(errors.report('unhandledRejection'))
})

const addr = node.getMultiaddrs().find((ma) => ma.toString().startsWith('/ip4/127.0.0.1/'))
send({ type: 'ready', addr: addr?.toString() ?? '', pid: process.pid })
