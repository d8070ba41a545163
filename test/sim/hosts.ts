/**
 * The parent's side of a host: one Node process per namespace (started with
 * `ip netns exec`) or, on loopback, per range of addresses, running
 * test/sim/worker.ts, spoken to with JSON lines. Every request is bounded and
 * says what it waited for when it times out.
 */
import { spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { jsonLines } from '../fixtures/netns.ts'
import type { SimHost } from './network.ts'
import type { Command, Reply } from './protocol.ts'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'

const tsx = createRequire(import.meta.url).resolve('tsx/esm')
const WORKER = join(import.meta.dirname, 'worker.ts')

/** a command without its seq, which the host process adds */
export type Request = Command extends infer C ? C extends { seq: number } ? Omit<C, 'seq'> : never : never

export interface HostProcess {
  readonly index: number
  readonly spec: SimHost
  /** addresses of this host no running node listens on */
  readonly freeIps: string[]
  request: (cmd: Request, timeoutMs: number) => Promise<Reply>
  /** kills the process if it is still there and waits (bounded) for it to go */
  kill: () => Promise<void>
}

export async function startHost (index: number, spec: SimHost): Promise<HostProcess> {
  // SIM_NODE_OPTIONS: extra Node flags for the hosts, e.g. '--cpu-prof --cpu-prof-dir=/tmp/prof'
  const nodeArgs = [...(process.env.SIM_NODE_OPTIONS?.split(' ').filter(a => a !== '') ?? []), '--import', tsx, WORKER]
  const child: ChildProcessWithoutNullStreams = spec.ns != null
    ? spawn('ip', ['netns', 'exec', spec.ns, process.execPath, ...nodeArgs], { stdio: 'pipe' })
    : spawn(process.execPath, nodeArgs, { stdio: 'pipe' })
  const label = `host ${index}${spec.ns != null ? ` (${spec.ns})` : ''}`
  // SIM_LOG_DIR: each host's stderr (libp2p's DEBUG logs) goes to a file there too
  if (process.env.SIM_LOG_DIR != null) child.stderr.pipe(createWriteStream(join(process.env.SIM_LOG_DIR, `host-${index}.log`), { flags: 'a' }))
  const lines = jsonLines(child, label)
  let exited: string | undefined
  const pending = new Map<number, { resolve: (r: Reply) => void, reject: (e: Error) => void }>()
  child.once('exit', (code, signal) => {
    exited = `${label} exited (${code ?? signal}); stderr: ${lines.stderr().slice(-1500)}`
    for (const p of pending.values()) p.reject(new Error(exited))
    pending.clear()
  })
  const hello = await lines.next('the worker to be ready', 30_000)
  if (hello.ready !== true) throw new Error(`${label} said ${JSON.stringify(hello)} instead of ready`)
  lines.onEach((msg) => {
    const p = pending.get(msg.seq)
    pending.delete(msg.seq)
    p?.resolve(msg)
  })
  let seq = 0
  return {
    index,
    spec,
    freeIps: [...spec.ips],
    request: async (cmd, timeoutMs) => {
      if (exited != null) throw new Error(exited)
      const id = ++seq
      return new Promise<Reply>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${label} to answer ${cmd.op}`))
        }, timeoutMs)
        pending.set(id, {
          resolve: (r) => { clearTimeout(timer); resolve(r) },
          reject: (e) => { clearTimeout(timer); reject(e) }
        })
        child.stdin.write(JSON.stringify({ ...cmd, seq: id }) + '\n')
      })
    },
    kill: async () => {
      if (child.exitCode != null || child.signalCode != null) return
      const gone = new Promise<void>(resolve => child.once('exit', () => { resolve() }))
      child.kill('SIGKILL')
      await Promise.race([gone, new Promise<void>(resolve => setTimeout(resolve, 5_000).unref())])
    }
  }
}
