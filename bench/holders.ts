import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { HoldRequest, HolderReport } from './holder.ts'
import type { ChildProcess } from 'node:child_process'

const HOLDER = fileURLToPath(new URL('holder.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** Starts a holder process (bench/holder.ts) on `req`; its reports go to `onReport`. */
export function spawnHolder (req: HoldRequest, onReport: (msg: HolderReport) => void): ChildProcess {
  const holder = fork(HOLDER, [], { cwd: ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  holder.on('message', onReport)
  holder.send(req)
  return holder
}

/** Tells holders to close their sockets and exit; kills any still there after 5 s. */
export async function stopHolders (holders: ChildProcess[]): Promise<void> {
  for (const h of holders) {
    if (h.connected) h.send('exit')
  }
  await Promise.all(holders.map(async (h) => new Promise((resolve) => {
    if (h.exitCode != null || h.signalCode != null) { resolve(null); return }
    const t = setTimeout(() => { h.kill(); resolve(null) }, 5_000)
    h.once('exit', () => { clearTimeout(t); resolve(null) })
  })))
}
