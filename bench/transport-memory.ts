// npx tsx bench/transport-memory.ts [conns] [reps] [--snapshots] [rx-tcp entry]
// The transport's own heap per inbound socket: a listener of each transport
// with a pass-through upgrader (no encryption, no muxer: the socket, its
// MultiaddrConnection and the listener's bookkeeping) holds `conns` idle
// sockets opened by a holder process; the same for a plain net.Server that
// keeps its sockets in an array. Heap after a full GC minus heap before, per
// socket; the transport's own bytes are that minus the plain server's.
// With --snapshots, heap snapshots go to bench/results/transport-<key>-{before,after}.heapsnapshot
// (compare with bench/heap-diff.ts). Each measurement runs in a fresh process.
import { fork } from 'node:child_process'
import { createServer } from 'node:net'
import { writeHeapSnapshot } from 'node:v8'
import { fileURLToPath } from 'node:url'
import { fullGc } from './gc.ts'
import { spawnHolder, stopHolders } from './holders.ts'
import { bareListener, hostPort } from './passthrough.ts'
import { median, until, within } from './stats.ts'
import { loadSubjects } from './subjects.ts'
import type { MultiaddrConnection } from '@libp2p/interface'
import type { AddressInfo, Socket } from 'node:net'

type Key = 'rx' | 'ref' | 'net'
const HERE = fileURLToPath(import.meta.url)
const ROOT = fileURLToPath(new URL('..', import.meta.url))

async function measureHere (key: Key, conns: number, snapshots: boolean, rxEntry?: string): Promise<number> {
  const held: Array<MultiaddrConnection | Socket> = []
  let host: string
  let port: number
  let close: () => Promise<void>
  if (key === 'net') {
    const server = createServer((socket) => { socket.on('error', () => {}); held.push(socket) })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    host = '127.0.0.1'
    port = (server.address() as AddressInfo).port
    close = async () => { held.forEach((s) => { (s as Socket).destroy() }); await new Promise((resolve) => server.close(resolve)) }
  } else {
    const subjects = await loadSubjects(false, rxEntry)
    const bare = await bareListener(key === 'rx' ? subjects.rx : subjects.ref, (maConn) => { held.push(maConn) })
    ;({ host, port } = hostPort(bare.addr))
    close = bare.close
  }
  const at = async (label: string): Promise<number> => {
    await new Promise((resolve) => setTimeout(resolve, 100))
    await fullGc()
    if (snapshots) {
      writeHeapSnapshot(fileURLToPath(new URL(`results/transport-${key}-${label}.heapsnapshot`, import.meta.url)))
      await fullGc()
    }
    return process.memoryUsage().heapUsed
  }
  const hold = async (count: number): Promise<ReturnType<typeof spawnHolder>> => {
    const expect = held.length + count
    let done!: () => void
    let failed!: (err: Error) => void
    const connected = new Promise<void>((resolve, reject) => { done = resolve; failed = reject })
    const holder = spawnHolder({ host, port, localAddress: '127.0.0.1', count, concurrency: 32 }, (msg) => {
      if (msg.type === 'done') done()
      if (msg.type === 'lost') failed(new Error(msg.reason))
    })
    await within(30_000, `${count} sockets to connect`, connected)
    await until(10_000, () => `${expect} sockets held (${held.length})`, () => held.length >= expect)
    return holder
  }
  const warm = await hold(32)
  const before = await at('before')
  const holder = await hold(conns)
  const after = await at('after')
  await stopHolders([warm, holder])
  await close()
  return (after - before) / conns
}

const argv = process.argv.slice(2)
if (argv[0] === '--child') {
  const [, key, conns, snapshots, rxEntry] = argv
  try {
    process.send?.({ bytes: await measureHere(key as Key, Number(conns), snapshots === '1', rxEntry === '' ? undefined : rxEntry) })
  } catch (err) {
    process.send?.({ error: (err as Error).stack })
  }
  process.disconnect()
} else {
  const snapshots = argv.includes('--snapshots')
  const [connsText = '2000', repsText = '3', rxEntry = ''] = argv.filter((a) => a !== '--snapshots')
  const conns = Number(connsText)
  const results: Record<Key, number[]> = { net: [], rx: [], ref: [] }
  for (let rep = 0; rep < Number(repsText); rep++) {
    for (const key of (rep % 2 === 0 ? ['net', 'rx', 'ref'] : ['ref', 'rx', 'net']) as Key[]) {
      const child = fork(HERE, ['--child', key, String(conns), snapshots ? '1' : '', rxEntry], { cwd: ROOT, execArgv: ['--expose-gc', '--import', 'tsx'] })
      const msg = await within(120_000, `the ${key} child`, new Promise<{ bytes?: number, error?: string }>((resolve) => { child.once('message', resolve) }))
      if (msg.bytes == null) throw new Error(msg.error)
      results[key].push(msg.bytes)
      console.error(`rep ${rep + 1} ${key.padEnd(3)} ${msg.bytes.toFixed(0)} B per socket`)
    }
  }
  const net = median(results.net)
  const line = (key: 'rx' | 'ref'): string => `${key}: ${median(results[key]).toFixed(0)} B per socket, own ${(median(results[key]) - net).toFixed(0)} B (runs ${results[key].map((b) => (b - net).toFixed(0)).join(', ')})`
  console.log(`${conns} idle sockets, ${repsText} reps, medians; plain net.Server ${net.toFixed(0)} B per socket\n${line('rx')}\n${line('ref')}`)
}
