import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { droppedPackets, impair, jsonLines, netnsUnavailable, nft, sh } from '../fixtures/netns.ts'
import { skipping } from '../fixtures/skip.ts'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import type { Impairment, JsonLines } from '../fixtures/netns.ts'

/**
 * Two network namespaces joined by a veth pair, impaired on each side: a
 * listener runs in one, dialers in the other, each a child process
 * (`ip netns exec`). The impairment is `tc netem` 50 ms delay and 5 % loss
 * where the kernel has netem; a kernel built without it (as this project's
 * machines are: CONFIG_NET_SCH_NETEM is not set) gets 5 % random loss from
 * nftables and a `tc tbf` rate limit, whose queue adds delay under load.
 * Needs root, `ip` and `tc` (iproute2) and `nft` (nftables); skipped with
 * the reason otherwise.
 */
const id = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`.slice(-8)
const NS_LISTEN = `rxtcp-l-${id}`
const NS_DIAL = `rxtcp-d-${id}`
const VETH_LISTEN = `rxl${id}`.slice(0, 15)
const VETH_DIAL = `rxd${id}`.slice(0, 15)
// addresses of our own two test hosts, inside the namespaces made here
const subnet = 200 + (process.pid % 50)
const LISTEN_IP = `10.254.${subnet}.1`
const DIAL_IP = `10.254.${subnet}.2`
const IMPAIRMENT: Impairment = { delay: '50ms', lossPercent: 5, rate: '20mbit' }
/** a port on the listener's host where every packet is dropped: a dial there ends only by its signal */
const BLACKHOLE_PORT = 9
let impairment = 'none'

function teardown (): void {
  // deleting a namespace deletes its end of the veth pair, and so the pair
  for (const ns of [NS_LISTEN, NS_DIAL]) {
    try { sh('ip', ['netns', 'del', ns]) } catch {}
  }
}

function setup (): string | undefined {
  try {
    sh('ip', ['netns', 'add', NS_LISTEN])
    sh('ip', ['netns', 'add', NS_DIAL])
    sh('ip', ['link', 'add', VETH_LISTEN, 'type', 'veth', 'peer', 'name', VETH_DIAL])
    sh('ip', ['link', 'set', VETH_LISTEN, 'netns', NS_LISTEN])
    sh('ip', ['link', 'set', VETH_DIAL, 'netns', NS_DIAL])
    for (const [ns, dev, ip] of [[NS_LISTEN, VETH_LISTEN, LISTEN_IP], [NS_DIAL, VETH_DIAL, DIAL_IP]]) {
      sh('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', dev])
      sh('ip', ['-n', ns, 'link', 'set', dev, 'up'])
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
      impairment = impair(ns, dev, IMPAIRMENT)
    }
    nft(NS_LISTEN, 'add chain inet rxtcp in { type filter hook input priority 0; }')
    nft(NS_LISTEN, `add rule inet rxtcp in tcp dport ${BLACKHOLE_PORT} drop`)
    return undefined
  } catch (err: any) {
    teardown()
    return `could not build the namespaces: ${String(err?.stderr ?? err?.message).trim()}`
  }
}

const tsx = createRequire(import.meta.url).resolve('tsx/esm')
const PEER = join(import.meta.dirname, 'netns-peer.ts')
const children = new Set<ChildProcessWithoutNullStreams>()

interface Peer extends JsonLines {
  child: ChildProcessWithoutNullStreams
  send: (line: string) => void
}

function peer (ns: string, args: string[]): Peer {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', tsx, PEER, ...args], { stdio: 'pipe' })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return { child, send: (line) => { child.stdin.write(line + '\n') }, ...jsonLines(child, `peer '${args.join(' ')}' in ${ns}`) }
}

async function listener (): Promise<{ peer: Peer, addr: string }> {
  const p = peer(NS_LISTEN, ['listen', `/ip4/${LISTEN_IP}/tcp/0`])
  const msg = await p.next('listening', 20_000)
  expect(msg.event).toBe('listening')
  return { peer: p, addr: msg.addrs.find((a: string) => a.includes(LISTEN_IP)) }
}

const reason = netnsUnavailable() ?? setup()
if (reason != null) console.warn(`netns fault tests skipped: ${reason}`)
else console.log(`netns fault tests: ${NS_LISTEN} and ${NS_DIAL}, each side impaired with ${impairment}`)

describe.skipIf(reason != null)(skipping(`across network namespaces (veth, ${impairment} each way)`, reason), () => {
  beforeAll(() => {
    // a namespace left by a crash of this very run would have the same name; none of another run's
    process.once('exit', teardown)
  })

  afterAll(() => {
    for (const child of children) child.kill('SIGKILL')
    if (impairment.startsWith('nftables')) {
      const dropped = [NS_LISTEN, NS_DIAL].map(droppedPackets)
      console.log(`netns: packets dropped by the loss rule: listener side ${dropped[0]}, dialer side ${dropped[1]}`)
    }
    teardown()
    expect(sh('ip', ['netns', 'list']), 'namespaces left behind').not.toContain(id)
  })

  it('finishes parallel dials and echoes 256 KiB on each intact', async () => {
    const l = await listener()
    const d = peer(NS_DIAL, ['dial', l.addr, '6', String(256 * 1024)])
    const msg = await d.next('dial results', 60_000)
    expect(msg.results.map((r: any) => r.error ?? 'ok')).toEqual(Array(6).fill('ok'))
    expect(msg.results.every((r: any) => r.intact), 'every echo intact').toBe(true)
    expect(msg.handles, 'TCP handles left in the dialer').toEqual([])
    l.peer.send('close')
    const closed = await l.peer.next('closed', 10_000)
    expect(closed.ms).toBeLessThan(3_000)
    expect(closed.handles, 'TCP handles left in the listener').toEqual([])
  }, 90_000)

  it('fails dials by their signal, in time, leaving no socket', async () => {
    const l = await listener()
    // every packet to the blackhole port is dropped: only the signal can end these dials
    const target = l.addr.replace(/\/tcp\/\d+/, `/tcp/${BLACKHOLE_PORT}`)
    const d = peer(NS_DIAL, ['abort', target, '8', '300'])
    const msg = await d.next('abort results', 30_000)
    for (const r of msg.results) {
      expect(r.aborted, 'dial was not aborted').toBe(true)
      expect(r.ms).toBeGreaterThanOrEqual(290)
      expect(r.ms).toBeLessThan(1_500)
    }
    expect(msg.handlesBeforeStop, 'sockets of aborted dials left open').toEqual([])
    expect(msg.handles).toEqual([])
    l.peer.send('close')
    const closed = await l.peer.next('closed', 10_000)
    expect(closed.handles).toEqual([])
  }, 60_000)

  it('closes a listener with connections streaming under loss in bounded time', async () => {
    const l = await listener()
    const d = peer(NS_DIAL, ['hold', l.addr, '6'])
    const holding = await d.next('holding', 60_000)
    expect(holding.connections).toBe(6)
    const start = performance.now()
    l.peer.send('close')
    const closed = await l.peer.next('closed', 10_000)
    expect(closed.connections).toBe(6)
    console.log(`netns: listener stopped with ${closed.connections} streaming connections in ${closed.ms.toFixed(1)} ms`)
    expect(closed.ms, 'listener stop under loss').toBeLessThan(3_000)
    expect(closed.handles, 'TCP handles left in the listener').toEqual([])
    // the far end sees every connection end, bounded by retransmission under loss
    await d.next('held', 15_000)
    expect(performance.now() - start).toBeLessThan(15_000)
    const stopped = await d.next('dialer stopped', 10_000)
    expect(stopped.handles).toEqual([])
  }, 90_000)
})
