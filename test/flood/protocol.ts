/** The messages between `npm run flood` (run.ts) and its children, over IPC. */

/** What the victim reports of itself: cumulative CPU, and memory and descriptors now and at most since the last sample */
export interface VictimSample {
  /** ms since the victim started */
  t: number
  /** µs of CPU, cumulative */
  cpuUser: number
  cpuSystem: number
  rss: number
  heapUsed: number
  fds: number
  maxRss: number
  maxHeapUsed: number
  maxFds: number
  connections: number
  /** event-loop delay p99 over the window, ms */
  loopDelayP99: number
  uncaught: number
}

export type VictimCommand =
  | { type: 'sample', gc?: boolean }
  | { type: 'profile-start' }
  | { type: 'profile-stop', file: string }
  | { type: 'stop' }

export type VictimReport =
  | { type: 'ready', addr: string, pid: number }
  | { type: 'sample', sample: VictimSample }
  | { type: 'profiled', file: string }
  | { type: 'error', kind: 'uncaughtException' | 'unhandledRejection', text: string }

export interface GoodWindow {
  dials: number
  dialsOk: number
  /** why dials failed, by the error's name */
  dialErrors: Record<string, number>
  /** long-lived connections that closed within the window */
  longLivedLost: number
  /** ms to connected of the dials that succeeded, by peer class */
  dialMs: number[]
  dialMsFar: number[]
  /** ping round trips on the long-lived connections, ms, by peer class */
  pingNear: number[]
  pingFar: number[]
  pingsFailed: number
  /** bytes echoed back per second over the window, all peers */
  echoBytesPerSec: number
  uncaught: number
}

export type GoodCommand =
  | { type: 'connect', addr: string }
  | { type: 'window-start' }
  | { type: 'window-end', settleMs: number }
  | { type: 'disconnect' }
  | { type: 'stop' }

export type GoodReport =
  | { type: 'ready' }
  | { type: 'connected', ok: number, failed: number, errors: string[] }
  | { type: 'window', window: GoodWindow }
  | { type: 'disconnected' }
  | { type: 'error', kind: 'uncaughtException' | 'unhandledRejection', text: string }
