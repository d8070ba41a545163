import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { createTransport, listening } from './fixtures/transport.ts'
import { passThroughUpgrader } from './fixtures/upgraders.ts'
import { waitForEvent, waitUntil, within } from './fixtures/wait.ts'
import { skipping } from './fixtures/skip.ts'

/** This process's descriptor limit, lowered and restored with util-linux's prlimit */
function setNoFile (soft: number, hard: number): void {
  execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${soft}:${hard}`])
}

function noFile (): { soft: number, hard: number } {
  const out = execFileSync('prlimit', ['--pid', String(process.pid), '--nofile', '--raw', '--noheadings']).toString().trim().split(/\s+/)
  return { soft: Number(out[out.length - 3]), hard: Number(out[out.length - 2]) }
}

const hasPrlimit = (() => {
  try { noFile(); return true } catch { return false }
})()

describe('accept errors', () => {
  it.skipIf(!hasPrlimit)(skipping('survives running out of descriptors and takes sockets again afterwards', hasPrlimit ? undefined : 'no prlimit (util-linux) to lower the descriptor limit'), async () => {
    const transport = createTransport()
    const upgrader = passThroughUpgrader()
    const { listener, addr } = await listening(transport, upgrader, multiaddr('/ip4/127.0.0.1/tcp/0'))
    const port = Number(addr.getComponents()[1].value)
    const errors: any[] = []
    listener.addEventListener('error', (e: any) => errors.push(e.detail))

    // 40 peers in another process, which says when the first of them is dropped;
    // this process may open only 4 more descriptors
    const peers = spawn(process.execPath, ['-e', `
      const net = require('node:net')
      let dropped = false
      for (let i = 0; i < 40; i++) {
        const s = net.connect(${port}, '127.0.0.1')
        s.on('error', () => {})
        s.on('close', () => { if (!dropped) { dropped = true; console.log('dropped') } })
      }
      setTimeout(() => process.exit(0), 20000)
    `], { stdio: ['ignore', 'pipe', 'inherit'] })
    const dropped = new Promise<void>(resolve => { peers.stdout.on('data', (b: Buffer) => { if (b.toString().includes('dropped')) resolve() }) })

    const limits = noFile()
    const inUse = fs.readdirSync('/proc/self/fd').length
    // with no descriptor to spare this process cannot even spawn prlimit again:
    // a restorer started beforehand puts the limit back when its stdin ends
    const restorer = spawn('sh', ['-c', `head -c 1 >/dev/null; prlimit --pid ${process.pid} --nofile=${limits.soft}:${limits.hard}`], { stdio: ['pipe', 'ignore', 'ignore'] })
    const restored = waitForEvent(restorer, 'exit', 10_000, 'the descriptor limit to be restored')
    setNoFile(inUse + 4, limits.hard)
    try {
      // libuv drops what it cannot accept (its reserved-descriptor trick), so
      // the peers' sockets close while the limit holds
      await within(dropped, 10_000, 'a peer to be dropped past the descriptor limit')
    } finally {
      restorer.stdin?.end('\n')
      await restored
    }
    expect(noFile().soft).toBe(limits.soft)

    peers.kill()
    await waitForEvent(peers, 'exit', 5000, 'the peer process to exit')

    // intake rested and resumed: a new peer is taken and upgraded
    const upgradedBefore = upgrader.inbound.length
    const conn: any = await transport.dial(addr, { upgrader, signal: AbortSignal.timeout(3000) })
    await waitUntil(() => upgrader.inbound.length > upgradedBefore, 3000, 'the listener to take a new socket after EMFILE')
    await conn.maConn.close()
    await within(listener.close(), 2000, 'close after descriptor exhaustion')
    expect(errors.filter(e => e.syscall !== 'accept')).toEqual([])
  })

  it('reports an accept error, rests intake, and resumes on the same port', async () => {
    const transport = createTransport()
    const upgrader = passThroughUpgrader()
    const { listener, addr } = await listening(transport, upgrader, multiaddr('/ip4/127.0.0.1/tcp/0'))
    const server = (listener as any).server as import('node:net').Server
    const errors: any[] = []
    listener.addEventListener('error', (e: any) => errors.push(e.detail))
    let closeEvents = 0
    listener.addEventListener('close', () => { closeEvents++ })

    // what Node's net.Server does when accept(2) fails and libuv passes it on
    const err = Object.assign(new Error('accept ENFILE'), { code: 'ENFILE', errno: -23, syscall: 'accept' })
    server.emit('error', err)

    expect(errors).toEqual([err])
    expect(server.listening).toBe(false)
    await waitUntil(() => server.listening, 2000, 'intake to resume after its rest')
    expect(listener.getAddrs()[0].toString()).toBe(addr.toString())
    expect(closeEvents).toBe(0)

    const conn: any = await transport.dial(addr, { upgrader, signal: AbortSignal.timeout(3000) })
    await waitUntil(() => upgrader.inbound.length === 1, 3000, 'the resumed listener to take a socket')
    await conn.maConn.close()
    await within(listener.close(), 2000, 'close')
    expect(closeEvents).toBe(1)
  })
})
