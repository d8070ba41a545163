// The worker thread's code (see host.ts): a libp2p node that listens, takes
// the connections the host makes to it, dials the host's peers, then is
// stopped with all of that in flight. Its code then simply returns: no
// process.exit, no close of the port by hand; the thread must end by itself.
// While it has not, an unref'd interval (which does not keep it alive) tells
// the host what is still active in it.
import { parentPort, workerData } from 'node:worker_threads'
import { multiaddr } from '@multiformats/multiaddr'
import { closeHeldChannels } from '../churn/channels.ts'
import { createChurnNode, stopChurnNode } from '../churn/node.ts'
import type { WorkerCommand, WorkerData, WorkerReport } from './protocol.ts'

const data = workerData as WorkerData
const port = parentPort
if (port == null) throw new Error('node-worker.ts runs in a worker thread')
const say = (msg: WorkerReport): void => { port.postMessage(msg) }
const now = (): number => performance.timeOrigin + performance.now()
const resources = (): string[] => typeof process.getActiveResourcesInfo === 'function' ? process.getActiveResourcesInfo() : []

const node = await createChurnNode(data.transport)
say({ type: 'listening', addr: node.getMultiaddrs()[0].toString() })

port.on('message', (cmd: WorkerCommand) => {
  void (async () => {
    if (cmd.type === 'dial') {
      // each dial left to run: those to a silent server stay in their handshake until stop() aborts them
      for (const addr of cmd.addrs) {
        node.dial(multiaddr(addr), { signal: AbortSignal.timeout(30_000) }).then(
          () => { say({ type: 'dialed', addr }) },
          (err: Error) => { say({ type: 'dial-failed', addr, error: `${err.name}: ${err.message}` }) }
        )
      }
      return
    }
    if (cmd.type === 'stop') {
      if (data.leak === true) {
        // a socket the test leaks on purpose, to show the check catches one
        const { connect } = await import('node:net')
        const [host, p] = [cmd.leakTo.host, cmd.leakTo.port]
        connect({ host, port: p }).on('error', () => {})
      }
      const connections = node.getConnections().length
      const ms = await stopChurnNode(node)
      const channels = data.closeChannels === true ? closeHeldChannels() : 0
      say({ type: 'stopped', at: now(), stopMs: ms, connections, resources: resources(), channelsClosed: channels })
      // the host hears what keeps the thread alive, if anything does; unref'd so it is not itself the reason
      const watch = setInterval(() => { say({ type: 'alive', at: now(), resources: resources() }) }, 250)
      watch.unref()
      // the message port is the host's: unref'd, it does not hold the thread either
      port.unref()
    }
  })()
})
