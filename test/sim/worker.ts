// One host of the simulation: run by test/sim/run.ts in a network namespace
// (`ip netns exec`) or, without namespaces, on the host. It runs that host's
// libp2p nodes and does what the parent says, JSON lines both ways:
// commands on stdin, each with a `seq`; one reply per command on stdout.
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { multiaddr } from '@multiformats/multiaddr'
import { ErrorTrap } from '../chaos/probe.ts'
import { settledTcpHandles } from '../fixtures/netns.ts'
import { SIM_TOPIC, createSimNode } from './node.ts'
import type { SimNode, SimTransport } from './node.ts'
import type { Command, Reply } from './protocol.ts'

const nodes = new Map<string, { node: SimNode, received: Array<[string, number]> }>()
const trap = new ErrorTrap().install()
// how late this host's event loop ran: a loaded machine shows here first
const loopDelay = monitorEventLoopDelay({ resolution: 10 })
loopDelay.enable()

const now = (): number => performance.timeOrigin + performance.now()
const say = (msg: Reply): void => { process.stdout.write(JSON.stringify(msg) + '\n') }
const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'hex'))
const keyOf = (hexKey: string): Uint8Array => new TextEncoder().encode(`/rxsim/${hexKey}`)
const errorText = (err: any): string => `${err?.name ?? 'Error'}: ${String(err?.message ?? err).split('\n')[0].slice(0, 200)}`

function nodeOf (name: string): SimNode {
  const entry = nodes.get(name)
  if (entry == null) throw new Error(`no node ${name} on this host`)
  return entry.node
}

async function start (name: string, transport: SimTransport, ip: string, bootstrap: string[]): Promise<Reply> {
  const begin = now()
  const node = await createSimNode({ transport, ip, bootstrap })
  const received: Array<[string, number]> = []
  node.services.pubsub.addEventListener('message', (evt) => {
    if (evt.detail.topic !== SIM_TOPIC) return
    const [id, sentAt] = new TextDecoder().decode(evt.detail.data).split('|')
    received.push([id, now() - Number(sentAt)])
  })
  node.services.pubsub.subscribe(SIM_TOPIC)
  nodes.set(name, { node, received })
  const addr = node.getMultiaddrs().find(a => a.toString().includes(`/ip4/${ip}/`)) ?? node.getMultiaddrs()[0]
  // @libp2p/bootstrap dials its list once: a node whose dials all failed
  // stays alone. The parent starts the next nodes only once this one is in.
  const joined = bootstrap.length === 0 || await connected(node, 20_000)
  return { addr: addr.toString(), startMs: now() - begin, readyAt: now(), joined }
}

/** resolves true at the node's first connection, false if it has none after `ms` */
async function connected (node: SimNode, ms: number): Promise<boolean> {
  if (node.getConnections().length > 0) return true
  return new Promise(resolve => {
    const done = (ok: boolean): void => {
      clearTimeout(timer)
      node.removeEventListener('connection:open', onOpen)
      resolve(ok)
    }
    const onOpen = (): void => { done(true) }
    const timer = setTimeout(() => { done(false) }, ms)
    node.addEventListener('connection:open', onOpen)
  })
}

async function stop (name: string): Promise<Reply> {
  const entry = nodes.get(name)
  if (entry == null) throw new Error(`no node ${name} on this host`)
  nodes.delete(name)
  const begin = performance.now()
  await entry.node.stop()
  return { stopMs: performance.now() - begin, received: entry.received }
}

async function handle (cmd: Command): Promise<Reply> {
  switch (cmd.op) {
    case 'start':
      return start(cmd.name, cmd.transport, cmd.ip, cmd.bootstrap)
    case 'stop':
      return stop(cmd.name)
    case 'publish': {
      const t = now()
      const result = await nodeOf(cmd.name).services.pubsub.publish(SIM_TOPIC, new TextEncoder().encode(`${cmd.id}|${t}`))
      return { t, recipients: result.recipients.length }
    }
    case 'put': {
      let stored = 0
      for await (const event of nodeOf(cmd.name).services.dht.put(keyOf(cmd.key), hex(cmd.value), { signal: AbortSignal.timeout(cmd.timeoutMs) })) {
        if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE') stored++
      }
      return { stored }
    }
    case 'get': {
      // the getter may hold the record itself (a put stores it on the K
      // closest nodes, and in a small network that is most of them): only a
      // remote peer answering with the record counts as found
      for await (const event of nodeOf(cmd.name).services.dht.get(keyOf(cmd.key), { signal: AbortSignal.timeout(cmd.timeoutMs) })) {
        if (event.name === 'PEER_RESPONSE' && event.messageName === 'GET_VALUE' && event.record != null) {
          return { found: Buffer.from(event.record.value).toString('hex') === cmd.value }
        }
      }
      return { found: false }
    }
    case 'ping':
      return { rtt: await nodeOf(cmd.name).services.ping.ping(multiaddr(cmd.addr), { signal: AbortSignal.timeout(cmd.timeoutMs) }) }
    case 'abort-dial': {
      // a dial of its own (force) whose signal fires while it is connecting
      // or upgrading; one that beats the signal is closed again
      const begin = performance.now()
      try {
        const conn = await nodeOf(cmd.name).dial(multiaddr(cmd.addr), { signal: AbortSignal.timeout(cmd.abortAfterMs), force: true })
        await conn.close()
        return { aborted: false, ms: performance.now() - begin }
      } catch {
        return { aborted: true, ms: performance.now() - begin }
      }
    }
    case 'stats': {
      // per node: open connections, gossipsub mesh peers and known subscribers of the topic, DHT routing table size
      const delay = loopDelay.percentile(99) / 1e6
      return {
        loopDelayP99Ms: delay,
        nodes: [...nodes.values()].map(({ node }) => [
          node.getConnections().length,
          // the mesh and the routing table are not in the services' public types
          (node.services.pubsub as unknown as { getMeshPeers: (t: string) => string[] }).getMeshPeers(SIM_TOPIC).length,
          node.services.pubsub.getSubscribers(SIM_TOPIC).length,
          (node.services.dht as unknown as { routingTable: { size: number } }).routingTable.size
        ])
      }
    }
    case 'finish': {
      // every node still running stops, one after the other, each timed
      const stops: Array<{ name: string, stopMs: number, received: Array<[string, number]> }> = []
      for (const name of [...nodes.keys()]) stops.push({ name, ...(await stop(name)) as { stopMs: number, received: Array<[string, number]> } })
      const handles = await settledTcpHandles(2_000)
      const count = (kind: string): number => trap.errors.filter(e => e.kind === kind).length
      const faults = trap.errors.slice(0, 20).map(e => `${e.kind}: ${(e.error as Error)?.stack ?? String(e.error)}`)
      const cpu = process.cpuUsage()
      return {
        stops,
        handles,
        uncaught: count('uncaughtException'),
        unhandled: count('unhandledRejection'),
        faults,
        loopDelayMs: { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 },
        cpuSeconds: (cpu.user + cpu.system) / 1e6
      }
    }
  }
}

const lines = createInterface({ input: process.stdin })
lines.on('line', (line) => {
  const cmd = JSON.parse(line) as Command
  handle(cmd).then(
    (reply) => { say({ seq: cmd.seq, ok: true, ...reply }) },
    (err) => { say({ seq: cmd.seq, ok: false, error: errorText(err) }) }
  ).finally(() => {
    if (cmd.op === 'finish') {
      lines.close()
      // the reply is written; whatever libp2p still holds (timers) must not keep the host up
      process.stdout.end(() => process.exit(0))
    }
  })
})
// the parent is gone (killed, or its stdin closed): nothing is left to report to
lines.once('close', () => { setTimeout(() => process.exit(1), 5_000).unref() })
say({ seq: 0, ok: true, ready: true })
