/**
 * One cell of the interop matrix: a peer (go or rust), a JS transport, a
 * direction, a scenario. The runner gives each scenario what it needs (JS
 * nodes, peer processes on the right addresses, bounded waits), then tears
 * everything down and checks what every cell promises whatever its
 * scenario: no uncaught exception or unhandled rejection in this process
 * while it ran, and no TCP handle left once its nodes have stopped.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { settledTcpHandles } from '../fixtures/netns.ts'
import { interopNode } from './js-node.ts'
import { listenAddr, spawnPeer } from './peers.ts'
import type { InteropNode, InteropNodeOptions, JsTransport, UpgradeHooks } from './js-node.ts'
import type { Peer, PeerBinary, PeerKind } from './peers.ts'
import type { Libp2pEvents } from '@libp2p/interface'

export type Direction = 'js-dials' | 'js-listens'
export type Network = 'loopback' | 'netns'

export interface CellSpec {
  peer: PeerKind
  transport: JsTransport
  direction: Direction
  scenario: string
  network: Network
}

export interface CellResult extends CellSpec {
  status: 'pass' | 'fail' | 'n/a'
  /** what was seen (figures for a pass, the reason for a failure) */
  detail: string
  ms: number
  uncaught: string[]
  /** figures the scenario measured, e.g. { rttMs: 0.2 } */
  values?: Record<string, number>
}

/** Where the two sides live: loopback, or two namespaces (the peer in its own). */
export interface Placement {
  jsIp: string
  peerIp: string
  peerNetns?: string
  /** timeouts are multiplied by this (lossy links retransmit) */
  slow: number
}

export class NotApplicable extends Error {}

export interface CellContext {
  spec: CellSpec
  place: Placement
  /** a started JS node on the cell's transport, listening on `jsIp` when `listen` */
  node: (opts?: { listen?: boolean, hooks?: UpgradeHooks, encrypter?: InteropNodeOptions['encrypter'] }) => Promise<InteropNode>
  /** the JS node's dialable address (with /p2p) */
  addrOf: (node: InteropNode) => string
  /** a peer listening on `peerIp`, once it said so */
  listeningPeer: (extra?: string[]) => Promise<{ peer: Peer, addr: string }>
  /** a peer dialing `target` to run `scenario` */
  dialingPeer: (target: string, scenario: string, extra?: string[]) => Peer
  /** ms, scaled for the placement */
  ms: (base: number) => number
  /** the next node event of `type` matching `match`, bounded */
  nodeEvent: <K extends keyof Libp2pEvents>(node: InteropNode, type: K, match: (e: EventDetail<K>) => boolean, ms: number, what: string) => Promise<EventDetail<K>>
  values: Record<string, number>
  /** runs at teardown, before the nodes stop */
  defer: (fn: () => Promise<void> | void) => void
}

/** what a node event of `K` carries */
export type EventDetail<K extends keyof Libp2pEvents> = Libp2pEvents[K] extends CustomEvent<infer D> ? D : never

export type Scenario = (ctx: CellContext) => Promise<string>

/** rejects naming `what` after `ms` */
export async function bounded<T> (work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([work, new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error(`timed out after ${Math.round(ms)} ms waiting for ${what}`)) }, ms)
    })])
  } finally {
    clearTimeout(timer)
  }
}

export function check (ok: boolean, what: string): void {
  if (!ok) throw new Error(what)
}

/** `ip:port` of a multiaddr string, to compare addresses whatever their /p2p suffix */
export function hostPort (ma: string | undefined): string {
  if (ma == null) return '(none)'
  try {
    const parts = multiaddr(ma).getComponents()
    const host = parts.find((c) => c.name === 'ip4' || c.name === 'ip6' || c.name === 'dns4' || c.name === 'dns6')?.value
    const port = parts.find((c) => c.name === 'tcp')?.value
    return `${host}:${port}`
  } catch {
    return `(not a multiaddr: ${ma})`
  }
}

let current: string[] | undefined
let installed = false

/** counts uncaught exceptions and unhandled rejections into the running cell */
function installCounters (): void {
  if (installed) return
  installed = true
  const record = (kind: string) => (err: any): void => {
    // where it came from: the first frames outside node's internals
    const at = String(err?.stack ?? '').split('\n').slice(1).filter((l) => !l.includes('node:internal')).slice(0, 3).map((l) => l.trim().replace(/^at /, '')).join(' < ')
    const line = `${kind}: ${err?.name ?? 'Error'}: ${err?.message ?? String(err)}${at !== '' ? ` (at ${at})` : ''}`
    if (current != null) current.push(line)
    else process.stderr.write(`interop: ${line} (outside any cell)\n`)
  }
  process.on('uncaughtException', record('uncaught exception'))
  process.on('unhandledRejection', record('unhandled rejection'))
}

/** Runs one cell and tears down everything it started, bounded. */
export async function runCell (spec: CellSpec, scenario: Scenario, binary: PeerBinary, place: Placement): Promise<CellResult> {
  installCounters()
  const uncaught: string[] = []
  current = uncaught
  const nodes: InteropNode[] = []
  const peers: Peer[] = []
  const deferred: Array<() => Promise<void> | void> = []
  const values: Record<string, number> = {}
  const start = performance.now()
  const scale = (base: number): number => base * place.slow
  const ctx: CellContext = {
    spec,
    place,
    values,
    ms: scale,
    defer: (fn) => { deferred.push(fn) },
    node: async (opts = {}) => {
      const node = await interopNode({
        transport: spec.transport,
        listen: opts.listen === true ? [`/ip4/${place.jsIp}/tcp/0`] : [],
        hooks: opts.hooks,
        encrypter: opts.encrypter
      })
      nodes.push(node)
      return node
    },
    addrOf: (node) => {
      const addr = node.getMultiaddrs().find((a) => a.toString().includes(`/${place.jsIp}/`))
      if (addr == null) throw new Error(`the JS node listens on no address of ${place.jsIp}`)
      return addr.toString()
    },
    listeningPeer: async (extra = []) => {
      const peer = spawnPeer(binary, ['--listen', `/ip4/${place.peerIp}/tcp/0`, ...extra], { netns: place.peerNetns })
      peers.push(peer)
      const e = await peer.waitFor((e) => e.event === 'listening', 'its listening line', scale(15_000))
      return { peer, addr: listenAddr(e, place.peerIp) }
    },
    dialingPeer: (target, run, extra = []) => {
      const peer = spawnPeer(binary, ['--dial', target, '--run', run, ...extra], { netns: place.peerNetns })
      peers.push(peer)
      return peer
    },
    nodeEvent: async (node, type, match, ms, what) => {
      let listener: ((evt: any) => void) | undefined
      try {
        return await bounded(new Promise<any>((resolve) => {
          listener = (evt: CustomEvent) => { if (match(evt.detail)) resolve(evt.detail) }
          node.addEventListener(type, listener)
        }), ms, what)
      } finally {
        if (listener != null) node.removeEventListener(type, listener)
      }
    }
  }

  let status: CellResult['status'] = 'pass'
  let detail = ''
  try {
    detail = await bounded(scenario(ctx), scale(60_000), `scenario ${spec.scenario}`)
  } catch (err: any) {
    if (err instanceof NotApplicable) {
      status = 'n/a'
      detail = err.message
    } else {
      status = 'fail'
      detail = String(err?.message ?? err)
    }
  }
  const problems: string[] = []
  for (const fn of deferred.reverse()) {
    try { await fn() } catch (err: any) { problems.push(`teardown: ${err?.message}`) }
  }
  for (const node of nodes) {
    try {
      await bounded(Promise.resolve(node.stop()), 10_000, 'the JS node to stop at teardown')
    } catch (err: any) {
      problems.push(String(err?.message))
    }
  }
  for (const peer of peers) {
    try { peer.child.kill('SIGCONT') } catch {}
    await bounded(peer.signal('SIGKILL'), 5_000, `the ${peer.kind} peer to exit`).catch((err) => problems.push(String(err?.message)))
  }
  const handles = await settledTcpHandles(500)
  if (handles.length > 0) problems.push(`TCP handles left after the nodes stopped: ${handles.join(', ')}`)
  // late errors of the cell's own sockets (every handle is gone: they come on
  // the next ticks of their destroy) still belong to it
  await new Promise(resolve => setImmediate(resolve))
  current = undefined
  if (uncaught.length > 0) problems.push(`${uncaught.length} uncaught: ${uncaught.slice(0, 3).join('; ')}`)
  if (problems.length > 0 && status !== 'fail') {
    status = 'fail'
    detail = `${detail === '' ? '' : `${detail}; but `}${problems.join('; ')}`
  } else if (problems.length > 0) {
    detail = `${detail}; ${problems.join('; ')}`
  }
  return { ...spec, status, detail, ms: Math.round(performance.now() - start), uncaught, values: Object.keys(values).length > 0 ? values : undefined }
}
