/**
 * One run of a user pipeline on a real listener: a libp2p node (noise +
 * yamux) on `tcp({ inbound | lifetime })`, 4 raw clients that connect and
 * never handshake, then a real libp2p peer that dials (again, a few times,
 * if its socket was refused). It checks the contract of docs/pipelines.md:
 * - every raw client is closed by the listener within its bound (the
 *   pipeline deadline, plus libp2p's upgrade timeout for those that reached
 *   their upgrade);
 * - the listener serves the peer, or is visibly closed (`'close'`, no
 *   address left);
 * - the node stops within a bound, leaving no TCP handle;
 * - nothing is thrown uncaught.
 * Every wait is bounded and names what it waited for; no time is asserted.
 */
import net from 'node:net'
import { yamux } from '@chainsafe/libp2p-yamux'
import { createLibp2p } from 'libp2p'
import { tap } from 'rxjs'
import { tcp } from '../../src/index.ts'
import { tcpResources } from '../fixtures/handles.ts'
import { echo, handleEcho, payload, stopNodes } from '../fixtures/nodes.ts'
import { runtimeNoise } from '../fixtures/noise.ts'
import { destroyAll } from '../fixtures/raw-sockets.ts'
import { waitForEvent, waitUntil, within } from '../fixtures/wait.ts'
import type { InboundOperator, LifetimeOperator, TCPOptions } from '../../src/index.ts'
import type { Libp2p } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** the pipeline deadline the scenarios configure (`pipelineTimeout`) */
export const PIPELINE_TIMEOUT = 400
/** libp2p's inbound upgrade timeout on the listening node: raw clients that reach their upgrade are closed by it */
export const UPGRADE_TIMEOUT = 1_000
/** what a loaded 2-core machine may add to a bound; a wait bound, never an assertion on time */
export const SLACK = 4_000
/** raw clients that never handshake */
export const RAW_CLIENTS = 4
/** dials the peer makes before the scenario says the listener does not serve it */
export const PEER_ATTEMPTS = 8

export interface Scenario {
  /** what the user wrote, for the report */
  name: string
  inbound?: InboundOperator
  lifetime?: LifetimeOperator
}

export interface ScenarioResult {
  name: string
  /** raw clients the listener closed within their bound */
  closed: number
  /** whether the peer echoed through the listener */
  served: boolean
  /** whether the listener closed itself visibly (`'close'`, no address) */
  visiblyClosed: boolean
  /** dials the peer made */
  attempts: number
  /** TCP handles left once the nodes stopped */
  handlesLeft: number
  uncaught: string[]
  /** the broken invariants, one line each; empty when the contract held */
  failures: string[]
}

/**
 * An index per socket, in the order the listener accepted them, for
 * pipelines that decide by socket (`filter((s) => index(s) % 2 === 0)`).
 * `indexing` is the stage that gives it; it is put in front of the user's.
 */
export function socketIndexes (): { index: (inbound: { socket: net.Socket }) => number, indexing: InboundOperator } {
  const indexes = new WeakMap<net.Socket, number>()
  let next = 0
  return {
    index: ({ socket }) => indexes.get(socket) ?? -1,
    indexing: tap((inbound) => {
      if (!indexes.has(inbound.socket)) indexes.set(inbound.socket, next++)
    })
  }
}

async function serverNode (scenario: Scenario): Promise<Libp2p> {
  const init: TCPOptions & { pipelineTimeout: number } = { inbound: scenario.inbound, lifetime: scenario.lifetime, pipelineTimeout: PIPELINE_TIMEOUT }
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp(init)],
    connectionEncrypters: [runtimeNoise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    connectionMonitor: { enabled: false },
    // every client is on 127.0.0.1: libp2p's per-host rate limit (5 a second) and its cap on
    // pending upgrades (10) would refuse the peer for the raw clients' sake, not the pipeline's
    connectionManager: { inboundUpgradeTimeout: UPGRADE_TIMEOUT, inboundConnectionThreshold: 1_000, maxIncomingPendingConnections: 100 }
  })
}

async function peerNode (): Promise<Libp2p> {
  return createLibp2p({
    transports: [tcp()],
    connectionEncrypters: [runtimeNoise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    connectionMonitor: { enabled: false }
  })
}

function portOf (addr: Multiaddr): number {
  return Number(addr.getComponents().find((c) => c.name === 'tcp')?.value)
}

async function rawClient (addr: Multiaddr): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port: portOf(addr) })
  socket.on('error', () => {})
  // a listener that closed refuses it: closed too, as it should be
  await within(new Promise((resolve) => { socket.once('connect', resolve).once('close', resolve) }), 3_000, `raw client to connect to ${addr.toString()}`)
  return socket
}

/** Runs one scenario; never throws for a broken contract, it lists it in `failures` */
export async function runScenario (scenario: Scenario): Promise<ScenarioResult> {
  const uncaught: string[] = []
  const onUncaught = (err: unknown): void => { uncaught.push(String((err as Error)?.stack ?? err)) }
  process.on('uncaughtException', onUncaught)
  process.on('unhandledRejection', onUncaught)
  const failures: string[] = []
  const handlesBefore = tcpResources().length
  const clients: net.Socket[] = []
  let server: Libp2p | undefined
  let peer: Libp2p | undefined
  const result: ScenarioResult = { name: scenario.name, closed: 0, served: false, visiblyClosed: false, attempts: 0, handlesLeft: 0, uncaught, failures }
  try {
    server = await serverNode(scenario)
    let listenerClosed = false
    server.addEventListener('transport:close', () => { listenerClosed = true })
    await handleEcho(server)
    const addr = server.getMultiaddrs()[0]
    const port = portOf(addr)

    for (let i = 0; i < RAW_CLIENTS; i++) clients.push(await rawClient(addr))
    const bound = PIPELINE_TIMEOUT + UPGRADE_TIMEOUT + SLACK
    const clientsClosed = Promise.all(clients.map(async (client, i) => {
      if (!client.closed) await waitForEvent(client, 'close', bound, `raw client ${i} to be closed by the listener`)
      result.closed++
    }))

    peer = await peerNode()
    const target = addr
    const visiblyClosed = (): boolean => listenerClosed && (server as Libp2p).getMultiaddrs().every((ma) => portOf(ma) !== port)
    const errors: string[] = []
    while (result.attempts < PEER_ATTEMPTS && !result.served && !visiblyClosed()) {
      result.attempts++
      try {
        const data = payload(1024, result.attempts)
        const back = await echo(peer, target, data, { signal: AbortSignal.timeout(PIPELINE_TIMEOUT + UPGRADE_TIMEOUT + SLACK) })
        result.served = Buffer.compare(Buffer.from(back), Buffer.from(data)) === 0
      } catch (err: any) {
        errors.push(err.message)
      }
    }
    if (!result.served && !visiblyClosed()) {
      // a stage that has ended refuses sockets until the listener has closed (a take(3) whose
      // completion a delay holds back): the peer's dials may all fail before it does
      await waitUntil(visiblyClosed, PIPELINE_TIMEOUT + SLACK, 'the listener to close visibly').catch(() => {})
    }
    result.visiblyClosed = visiblyClosed()
    if (!result.served && !result.visiblyClosed) {
      failures.push(`the listener neither served the peer (${result.attempts} dials: ${errors.join('; ')}) nor closed visibly (close event: ${listenerClosed}, addresses: ${server.getMultiaddrs().map(String).join(' ')})`)
    }

    try {
      await clientsClosed
    } catch (err: any) {
      failures.push(`${RAW_CLIENTS - result.closed} of ${RAW_CLIENTS} raw clients still open: ${err.message}`)
    }
  } catch (err: any) {
    failures.push(`scenario broke: ${err.stack ?? err}`)
  } finally {
    try {
      await stopNodes([server, peer], 5_000)
    } catch (err: any) {
      failures.push(`stop: ${err.message}`)
    }
    try {
      await destroyAll(clients)
    } catch (err: any) {
      failures.push(`test clients: ${err.message}`)
    }
    try {
      await waitUntil(() => tcpResources().length <= handlesBefore, 3_000, 'the TCP handles to go')
    } catch {
      result.handlesLeft = tcpResources().length - handlesBefore
      failures.push(`${result.handlesLeft} TCP handles left after stop: ${tcpResources().join(', ')}`)
    }
    // an uncaught error of the run may surface a turn later
    await within(new Promise((resolve) => setImmediate(resolve)), 1_000, 'a turn')
    process.off('uncaughtException', onUncaught)
    process.off('unhandledRejection', onUncaught)
    if (uncaught.length > 0) failures.push(`${uncaught.length} uncaught: ${uncaught[0]}`)
  }
  return result
}
