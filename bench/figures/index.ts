import { bareGroup } from './bare.ts'
import { closeGroup } from './close.ts'
import { acceptGroup, memoryGroup } from './connections.ts'
import { listenerMemoryGroup } from './listener-memory.ts'
import { maxConnsGroup } from './max-conns.ts'
import { rpcGroup, throughputGroup } from './throughput.ts'
import type { Group } from './types.ts'

/** What one figure measures and what issue 5 asks of it. */
export interface FigureSpec {
  id: string
  group: string
  label: string
  unit: string
  better: 'higher' | 'lower'
  /** 'ratio': rx / ref against `value`; 'ceiling': rx / plain sockets; 'absolute': rx itself */
  target?: { kind: 'ratio' | 'ceiling' | 'absolute', op: '>=' | '<=', value: number }
}

export const FIGURES: FigureSpec[] = [
  { id: 'noise', group: 'noise', label: 'echo, noise + yamux', unit: 'MB/s', better: 'higher', target: { kind: 'ratio', op: '>=', value: 1.0 } },
  { id: 'plaintext', group: 'plaintext', label: 'echo, plaintext + yamux', unit: 'MB/s', better: 'higher', target: { kind: 'ratio', op: '>=', value: 1.1 } },
  { id: 'rpc', group: 'rpc', label: 'round trips on one stream, noise + yamux', unit: 'msg/s', better: 'higher', target: { kind: 'ratio', op: '>=', value: 1.0 } },
  { id: 'bare', group: 'bare', label: 'bare MultiaddrConnection echo', unit: 'MB/s', better: 'higher', target: { kind: 'ceiling', op: '>=', value: 0.9 } },
  { id: 'noiseCpu', group: 'noise', label: 'CPU per MiB echoed, noise + yamux', unit: 'µs/MiB', better: 'lower' },
  { id: 'plaintextCpu', group: 'plaintext', label: 'CPU per MiB echoed, plaintext + yamux', unit: 'µs/MiB', better: 'lower' },
  { id: 'rpcCpu', group: 'rpc', label: 'CPU per round trip, noise + yamux', unit: 'µs', better: 'lower' },
  { id: 'bareCpu', group: 'bare', label: 'CPU per MiB echoed, bare connection', unit: 'µs/MiB', better: 'lower' },
  { id: 'accept', group: 'accept', label: 'accept + upgrade, noise + yamux', unit: 'conn/s', better: 'higher', target: { kind: 'ratio', op: '>=', value: 1.0 } },
  { id: 'closeResolve', group: 'close', label: 'close(), stalled handshakes: resolved', unit: 'ms', better: 'lower', target: { kind: 'ratio', op: '<=', value: 1.0 } },
  { id: 'closeCpu', group: 'close', label: 'close(), stalled handshakes: CPU until resolved', unit: 'ms', better: 'lower' },
  { id: 'closeAll', group: 'close', label: 'close(), stalled handshakes: every client closed', unit: 'ms', better: 'lower', target: { kind: 'absolute', op: '<=', value: 40 } },
  { id: 'heap', group: 'memory', label: 'heap per idle connection', unit: 'KiB', better: 'lower', target: { kind: 'ratio', op: '<=', value: 1.0 } },
  { id: 'rss', group: 'memory', label: 'RSS per idle connection', unit: 'KiB', better: 'lower' },
  { id: 'listenerHeap', group: 'memory-listener', label: 'heap per idle inbound connection, listener side', unit: 'KiB', better: 'lower', target: { kind: 'ratio', op: '<=', value: 1 } },
  { id: 'listenerRss', group: 'memory-listener', label: 'RSS per idle inbound connection, listener side', unit: 'KiB', better: 'lower' },
  { id: 'maxconns', group: 'maxconns', label: 'concurrent connections one listener holds', unit: 'conns', better: 'higher' }
]

/** In running order: the figure that disturbs the machine most (max conns) goes last. */
export function groups (aa: boolean, rxEntry?: string, refEntry?: string): Group[] {
  return [throughputGroup('noise'), throughputGroup('plaintext'), rpcGroup, bareGroup, acceptGroup, closeGroup, memoryGroup(aa, rxEntry, refEntry), listenerMemoryGroup(aa, rxEntry, refEntry), maxConnsGroup()]
}
