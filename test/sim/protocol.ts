/** What the simulation's parent (run.ts) and its hosts (worker.ts) say to each other. */
import type { SimTransport } from './node.ts'

export type Command = { seq: number } & (
  | { op: 'start', name: string, transport: SimTransport, ip: string, bootstrap: string[] }
  | { op: 'stop', name: string }
  | { op: 'publish', name: string, id: string }
  | { op: 'put', name: string, key: string, value: string, timeoutMs: number }
  | { op: 'get', name: string, key: string, value: string, timeoutMs: number }
  | { op: 'ping', name: string, addr: string, timeoutMs: number }
  | { op: 'abort-dial', name: string, addr: string, abortAfterMs: number }
  | { op: 'stats' }
  | { op: 'finish' }
)

/** one reply per command, `ok: false` with the error when it threw */
export type Reply = Record<string, any>

/** what a host reports when it has stopped every node it still ran */
export interface FinishReply {
  stops: Array<{ name: string, stopMs: number, received: Array<[string, number]> }>
  /** TCP handles (`process.getActiveResourcesInfo()`) left after every node stopped */
  handles: string[]
  uncaught: number
  unhandled: number
  faults: string[]
  /** the host's event-loop delay over its whole life */
  loopDelayMs: { p50: number, p99: number, max: number }
  /** CPU time the host process used, user + system */
  cpuSeconds: number
}
