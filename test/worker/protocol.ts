/** The messages between the host (host.ts) and the node in its worker thread (node-worker.ts). */
import type { ChurnTransport } from '../churn/node.ts'

export interface WorkerData {
  transport: ChurnTransport
  /** open a socket at stop() and never close it: the check must catch it */
  leak?: boolean
  /** close the BroadcastChannels that cannot be unref'd (Deno's: mortice's) once stopped */
  closeChannels?: boolean
}

export type WorkerCommand =
  | { type: 'dial', addrs: string[] }
  | { type: 'stop', leakTo: { host: string, port: number } }

export type WorkerReport =
  | { type: 'listening', addr: string }
  | { type: 'dialed', addr: string }
  | { type: 'dial-failed', addr: string, error: string }
  | { type: 'stopped', at: number, stopMs: number, connections: number, resources: string[], channelsClosed: number }
  | { type: 'alive', at: number, resources: string[] }
