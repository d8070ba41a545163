/**
 * A libp2p node in a `worker_threads` Worker, stopped with everything in
 * flight, and how long after its stop() resolved the thread exits by itself.
 *
 * The host (this thread) gives the worker's node: an inbound connection (a
 * peer here dials it and pings), an outbound one (it dials a peer here),
 * two dials in flight (to a server here that accepts and never answers, so
 * they wait in their handshake) and two inbound handshakes halfway (raw
 * sockets: one silent, one that sent half a multistream header). Then it
 * tells the worker to stop. The worker's code returns without
 * `process.exit`; the host times the thread's 'exit' from the moment the
 * worker said stop() resolved, bounded by `boundMs`. A thread still alive
 * then is terminated, and the resources it last reported are the answer.
 */
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { Worker } from 'node:worker_threads'
import { createChurnNode, stopChurnNode } from '../churn/node.ts'
import type { ChurnTransport } from '../churn/node.ts'
import type { WorkerCommand, WorkerData, WorkerReport } from './protocol.ts'
import type { Socket } from 'node:net'

export interface WorkerExitOptions {
  transport: ChurnTransport
  /** how long the thread may take to exit after stop() resolved (default 5000 ms) */
  boundMs?: number
  /** the worker opens a socket at stop() and never closes it (the check must catch it) */
  leak?: boolean
  /** the worker closes BroadcastChannels that cannot be unref'd once stopped (Deno: mortice's) */
  closeChannels?: boolean
}

export interface WorkerExitResult {
  transport: ChurnTransport
  /** ms from stop() resolved (in the worker) to the thread's 'exit' (here); absent: it had not exited within the bound */
  exitAfterMs?: number
  boundMs: number
  stopMs: number
  connectionsAtStop: number
  dialsInFlight: number
  halfHandshakes: number
  /** `process.getActiveResourcesInfo()` in the worker right after stop() (empty where the runtime lists none) */
  resourcesAtStop: string[]
  /** what the worker last reported active while it had not exited */
  resourcesLeft: string[]
  channelsClosed: number
  exitCode?: number
}

const HALF_MULTISTREAM = Uint8Array.from([0x13, ...new TextEncoder().encode('/multis')])

const isNode = (process.versions as Record<string, string | undefined>).bun == null && (process.versions as Record<string, string | undefined>).deno == null

async function listenSilent (): Promise<{ server: net.Server, port: number, accepted: Socket[] }> {
  const accepted: Socket[] = []
  const server = net.createServer((socket) => {
    accepted.push(socket)
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, port: (server.address() as net.AddressInfo).port, accepted }
}

/**
 * How many connections wait in the accept queue of the listening socket on
 * `port` (Linux: a LISTEN socket's rx_queue in /proc/net/tcp{,6}), or
 * undefined where the kernel does not say.
 */
function acceptQueue (port: number): number | undefined {
  let waiting: number | undefined
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let table: string
    try { table = readFileSync(file, 'utf8') } catch { continue }
    for (const line of table.split('\n').slice(1)) {
      const [, local, , state, queues] = line.trim().split(/\s+/)
      if (state !== '0A' || local == null || Number.parseInt(local.split(':')[1], 16) !== port) continue
      waiting = (waiting ?? 0) + Number.parseInt(queues.split(':')[1], 16)
    }
  }
  return waiting
}

async function until (ms: number, what: string, ready: () => boolean): Promise<void> {
  const deadline = performance.now() + ms
  while (!ready()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

export async function runWorkerExit (opts: WorkerExitOptions): Promise<WorkerExitResult> {
  const boundMs = opts.boundMs ?? 5000
  const silent = await listenSilent()
  const peerIn = await createChurnNode(opts.transport)
  const peerOut = await createChurnNode(opts.transport)
  const raw: Socket[] = []
  const reports: WorkerReport[] = []
  const data: WorkerData = { transport: opts.transport, leak: opts.leak, closeChannels: opts.closeChannels }
  const worker = new Worker(new URL('./node-worker.ts', import.meta.url), {
    workerData: data,
    // Node runs the worker's TypeScript through tsx, as it runs this file; Bun and Deno natively
    ...(isNode ? { execArgv: ['--import', 'tsx'] } : {})
  })
  let exitedAt: number | undefined
  let exitCode: number | undefined
  const exited = new Promise<void>((resolve) => {
    worker.once('exit', (code) => {
      exitedAt = performance.timeOrigin + performance.now()
      exitCode = code
      resolve()
    })
  })
  let workerError: Error | undefined
  worker.on('error', (err) => { workerError = err })
  worker.on('message', (msg: WorkerReport) => { reports.push(msg) })
  const report = <T extends WorkerReport['type']>(type: T): Extract<WorkerReport, { type: T }> | undefined =>
    reports.find(r => r.type === type) as Extract<WorkerReport, { type: T }> | undefined
  const send = (cmd: WorkerCommand): void => { worker.postMessage(cmd) }

  try {
    await until(20_000, 'the worker to listen', () => report('listening') != null || workerError != null || exitedAt != null)
    if (workerError != null) throw workerError
    const addr = report('listening')?.addr as string
    const { multiaddr } = await import('@multiformats/multiaddr')
    // inbound: a peer here dials the worker's node and pings it
    await peerIn.services.ping.ping(multiaddr(addr), { signal: AbortSignal.timeout(10_000) })
    // outbound, and two dials that stay in their handshake
    const outAddr = peerOut.getMultiaddrs()[0].toString()
    const silentAddr = `/ip4/127.0.0.1/tcp/${silent.port}`
    send({ type: 'dial', addrs: [outAddr, silentAddr, silentAddr] })
    await until(10_000, 'the worker to dial the peer', () => reports.some(r => r.type === 'dialed' && r.addr === outAddr))
    await until(10_000, 'the worker\'s two dials to reach the silent server', () => silent.accepted.length >= 2)
    // two inbound handshakes halfway: one silent, one with half a multistream header
    const port = Number(/\/tcp\/(\d+)/.exec(addr)?.[1])
    for (const half of [undefined, HALF_MULTISTREAM]) {
      const socket = net.connect({ host: '127.0.0.1', port })
      socket.on('error', () => {})
      raw.push(socket)
      await new Promise<void>((resolve) => socket.once('connect', () => { resolve() }))
      if (half != null) socket.write(half)
    }
    // the worker's listener has taken both once none waits in its accept queue
    // (where the kernel does not say, they are taken while the stop is sent)
    await until(10_000, 'the worker\'s listener to accept the two raw sockets', () => (acceptQueue(port) ?? 0) === 0)

    send({ type: 'stop', leakTo: { host: '127.0.0.1', port: silent.port } })
    await until(20_000, 'the worker\'s stop() to resolve', () => report('stopped') != null || exitedAt != null)
    const stopped = report('stopped')
    if (stopped == null) throw new Error(`the worker exited (code ${String(exitCode)}) before its stop() resolved${(workerError as Error | undefined) != null ? `: ${(workerError as unknown as Error).message}` : ''}`)

    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([exited, new Promise<void>((resolve) => { timer = setTimeout(resolve, boundMs + 50) })])
    clearTimeout(timer)
    const alive = reports.filter((r): r is Extract<WorkerReport, { type: 'alive' }> => r.type === 'alive').at(-1)
    const exitAfter = exitedAt != null ? exitedAt - stopped.at : undefined
    const result: WorkerExitResult = {
      transport: opts.transport,
      exitAfterMs: exitAfter != null && exitAfter <= boundMs ? Math.round(exitAfter) : undefined,
      boundMs,
      stopMs: Math.round(stopped.stopMs),
      connectionsAtStop: stopped.connections,
      dialsInFlight: 2,
      halfHandshakes: raw.length,
      resourcesAtStop: stopped.resources,
      resourcesLeft: exitedAt == null ? (alive?.resources ?? []) : [],
      channelsClosed: stopped.channelsClosed,
      exitCode
    }
    return result
  } finally {
    if (exitedAt == null) {
      await worker.terminate()
    }
    raw.forEach(s => s.destroy())
    silent.accepted.forEach(s => s.destroy())
    await new Promise<void>((resolve) => silent.server.close(() => { resolve() }))
    await Promise.all([stopChurnNode(peerIn), stopChurnNode(peerOut)])
  }
}
