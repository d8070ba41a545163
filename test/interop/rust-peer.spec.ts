/**
 * The rust-libp2p interop peer (`test/interop/rust/`, contract in
 * `test/interop/PEERS.md`) against itself: one process listens, another
 * dials and runs ping, echo, identify, hold (both the dialer's cut and the
 * listener's `--close-inbound-after-ms`) and perf. This proves the peer `npm run
 * interop` drives works before any JS node is involved, so a matrix failure
 * points at the JS side or the wire, not at the peer.
 *
 * The peer is built by `test/interop/rust/build.sh` (a no-op when its stamp
 * matches). A cold build takes minutes, longer than a spec should, so when the
 * binary is absent the spec skips and says so; `.ci/run` builds it before
 * `npm test`. Without cargo it skips too.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import { skipping } from '../fixtures/skip.ts'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'

const BUILD = fileURLToPath(new URL('./rust/build.sh', import.meta.url))
const PEER = fileURLToPath(new URL('./.build/rust-peer', import.meta.url))

/** Builds (or confirms) the peer; the reason to skip, or undefined when it is ready. */
function prepare (): string | undefined {
  if (!existsSync(PEER)) {
    return `${PEER} is not built (run test/interop/rust/build.sh; .ci/run does it before npm test, a cold build takes minutes)`
  }
  // stamp matches: instant; sources changed since the last build: an incremental rebuild
  const build = spawnSync('bash', [BUILD], { encoding: 'utf8', timeout: 600_000 })
  if (build.status === 3) return build.stdout.trim().replace(/^skip: /, '')
  if (build.status !== 0) throw new Error(`${BUILD} failed (${build.status ?? build.signal}): ${build.stderr.slice(-2000)}`)
  return undefined
}

const reason = prepare()
if (reason != null) console.warn(`rust interop peer tests skipped: ${reason}`)

/** One JSON line of the peer's stdout. */
interface Line { event: string, [key: string]: any }

interface Peer {
  child: ChildProcessWithoutNullStreams
  lines: Line[]
  stderr: string[]
  /** resolves with the exit code (or the signal's name) */
  exited: Promise<number | string>
  /** the first line with this event, waiting up to `ms` for it */
  line: (event: string, ms?: number) => Promise<Line>
}

const running = new Set<Peer>()

function start (args: string[]): Peer {
  const child = spawn(PEER, args, { stdio: ['pipe', 'pipe', 'pipe'] })
  const lines: Line[] = []
  const stderr: string[] = []
  const waiting = new Map<string, Array<(line: Line) => void>>()
  createInterface({ input: child.stdout }).on('line', (text) => {
    // a line that is not JSON fails the contract; the parse error names it
    const line: Line = JSON.parse(text)
    lines.push(line)
    for (const resolve of waiting.get(line.event) ?? []) resolve(line)
    waiting.delete(line.event)
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk))
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => { resolve(code ?? signal ?? 'unknown') })
  })
  const peer: Peer = {
    child,
    lines,
    stderr,
    exited,
    line: async (event, ms = 10_000) => {
      const seen = lines.find(l => l.event === event)
      if (seen != null) return seen
      return new Promise<Line>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`no "${event}" line within ${ms} ms from rust-peer ${args.join(' ')}; stderr: ${stderr.join('').slice(-1000)}`)) }, ms)
        waiting.set(event, [...(waiting.get(event) ?? []), (line) => { clearTimeout(timer); resolve(line) }])
      })
    }
  }
  running.add(peer)
  void exited.then(() => running.delete(peer))
  return peer
}

/** Runs a dialing peer to its end, killing it after `ms`. */
async function dial (args: string[], ms = 20_000): Promise<{ code: number | string, lines: Line[], stderr: string }> {
  const peer = start(args)
  const timer = setTimeout(() => peer.child.kill('SIGKILL'), ms)
  const code = await peer.exited
  clearTimeout(timer)
  return { code, lines: peer.lines, stderr: peer.stderr.join('') }
}

async function listen (...options: string[]): Promise<{ peer: Peer, addr: string, id: string }> {
  const peer = start(['--listen', '/ip4/127.0.0.1/tcp/0', ...options])
  const listening = await peer.line('listening')
  expect(listening.addrs).toHaveLength(1)
  expect(listening.addrs[0]).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW/)
  return { peer, addr: listening.addrs[0], id: listening.peerId }
}

describe.skipIf(reason != null)(skipping('the rust-libp2p interop peer, rust ↔ rust', reason), () => {
  afterEach(async () => {
    // a listener ends when its stdin closes; a leftover process is a failure, not a hang
    const left = [...running]
    for (const peer of left) peer.child.stdin.end()
    const codes = await Promise.all(left.map(async (peer) => {
      const timer = setTimeout(() => peer.child.kill('SIGKILL'), 3_000)
      const code = await peer.exited
      clearTimeout(timer)
      return code
    }))
    expect(codes.every(code => code === 0)).toBe(true)
  })

  it('pings: one line per round trip, then done', async () => {
    const { peer, addr, id } = await listen()
    const run = await dial(['--dial', addr, '--run', 'ping', '--count', '3'])
    expect(run.code, run.stderr).toBe(0)
    const pings = run.lines.filter(l => l.event === 'ping')
    expect(pings).toHaveLength(3)
    for (const ping of pings) expect(ping.rttMs).toBeGreaterThan(0)
    expect(run.lines[0]).toMatchObject({ event: 'connected', peerId: id, direction: 'outbound' })
    expect(run.lines.at(-1)).toEqual({ event: 'done' })
    // the listener saw the connection come and go
    expect(await peer.line('connected')).toMatchObject({ direction: 'inbound' })
    await peer.line('disconnected')
  })

  it('echoes 256 KiB back unchanged, by sha256', async () => {
    const { addr } = await listen()
    const run = await dial(['--dial', addr, '--run', 'echo', '--bytes', String(256 * 1024)])
    expect(run.code, run.stderr).toBe(0)
    const echo = run.lines.find(l => l.event === 'echo')
    expect(echo).toMatchObject({ bytes: 256 * 1024 })
    expect(echo?.sha256).toMatch(/^[0-9a-f]{64}$/)
    expect(echo?.echoSha256).toBe(echo?.sha256)
  })

  it('identifies both ways: agent version, protocols and the observed address', async () => {
    const { peer, addr, id } = await listen()
    const run = await dial(['--dial', addr, '--run', 'identify'])
    expect(run.code, run.stderr).toBe(0)
    const seen = run.lines.find(l => l.event === 'identify')
    expect(seen).toMatchObject({ peerId: id, agentVersion: expect.stringMatching(/^rx-tcp-interop\/rust\/0\.\d+\.\d+$/) })
    expect(seen?.protocols).toEqual(expect.arrayContaining(['/ipfs/id/1.0.0', '/ipfs/ping/1.0.0', '/echo/1.0.0', '/perf/1.0.0']))
    // what the listener saw of the dialer: loopback and the dialer's ephemeral port
    expect(seen?.observedAddr).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+$/)
    expect(seen?.listenAddrs).toEqual([addr.replace(/\/p2p\/.*$/, '')])
    const connected = await peer.line('connected')
    expect(seen?.observedAddr).toBe(connected.remoteAddr)
  })

  it('holds 8 slow streams, then cuts the connection and says how many were open', async () => {
    const { peer, addr } = await listen()
    const run = await dial(['--dial', addr, '--run', 'hold', '--hold-ms', '300'])
    expect(run.code, run.stderr).toBe(0)
    expect(run.lines.slice(-3)).toEqual([
      { event: 'disconnected', peerId: expect.any(String) },
      { event: 'closed', streams: 8 },
      { event: 'done' }
    ])
    await peer.line('disconnected')
  })

  it('as a listener, cuts each inbound connection after --close-inbound-after-ms, with streams open', async () => {
    const { peer, addr } = await listen('--close-inbound-after-ms', '200', '--open-streams', '2')
    const run = await dial(['--dial', addr, '--run', 'hold', '--hold-ms', '3000'])
    expect(run.code, run.stderr).toBe(0)
    // the listener's cut ended every stream before the dialer's own 3 s were up
    expect(run.lines.find(l => l.event === 'closed')).toEqual({ event: 'closed', streams: 0 })
    const disconnected = run.lines.findIndex(l => l.event === 'disconnected')
    expect(disconnected).toBeGreaterThan(-1)
    expect(disconnected).toBeLessThan(run.lines.findIndex(l => l.event === 'closed'))
    await peer.line('disconnected')
  })

  it('runs perf requests one after another and sums them up', async () => {
    const { addr } = await listen()
    const run = await dial(['--dial', addr, '--run', 'perf', '--count', '20', '--bytes', '1000', '--download', '5000'])
    expect(run.code, run.stderr).toBe(0)
    const perf = run.lines.filter(l => l.event === 'perf')
    expect(perf).toHaveLength(20)
    for (const line of perf) expect(line).toMatchObject({ upload: 1000, download: 5000, seconds: expect.any(Number) })
    const summary = run.lines.find(l => l.event === 'perf-summary')
    expect(summary).toMatchObject({ count: 20 })
    expect(summary?.medianMs).toBeGreaterThan(0)
    expect(summary?.p95Ms).toBeGreaterThanOrEqual(summary?.medianMs)
  })

  it('derives its key from --seed as the JS stack does (ed25519, a 32-byte seed filled with n)', async () => {
    const { id, addr } = await listen('--seed', '7')
    const expected = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(7))).toString()
    expect(id).toBe(expected)
    expect(addr.endsWith(`/p2p/${expected}`)).toBe(true)
  })

  it('answers a bad option with one line, the usage and exit code 2', async () => {
    const run = await dial(['--dial', '/ip4/127.0.0.1/tcp/1', '--run', 'dance'])
    expect(run.code).toBe(2)
    expect(run.lines).toEqual([])
    expect(run.stderr.split('\n')[0]).toBe('--run: unknown scenario dance')
  })
})
