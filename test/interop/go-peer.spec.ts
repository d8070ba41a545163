/**
 * The go-libp2p interop peer (`test/interop/go/`) against itself: one copy
 * listens, another dials, and both keep the command-line contract of
 * `test/interop/PEERS.md` (flags, JSON lines, exit codes). `npm run interop`
 * puts the same peer against the JS nodes; this spec makes sure the peer
 * itself works before anything is blamed on rx-tcp.
 *
 * The peer is built by `test/interop/go/build.sh` (a no-op when its stamp
 * matches), which `.ci/run` runs before `npm test`. Where it was never built
 * the spec skips and says so rather than build go-libp2p cold inside
 * `npm test` (minutes); without a Go toolchain it skips too, as the HAProxy
 * tests do.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { skipping } from '../fixtures/skip.ts'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'

const root = fileURLToPath(new URL('../..', import.meta.url))
const bin = join(root, 'test/interop/.build/go-peer')

/** One JSON line of the peer's stdout. */
type Line = Record<string, any> & { event: string }

/** Rebuilds the peer where its sources changed since it was built; never builds it cold. */
function build (): { reason?: string } {
  if (!existsSync(bin)) return { reason: `${bin} was never built (bash test/interop/go/build.sh; .ci/run builds it before npm test)` }
  const run = spawnSync('bash', [join(root, 'test/interop/go/build.sh')], { encoding: 'utf8', timeout: 600_000 })
  if (run.status === 3) return { reason: run.stdout.trim().replace(/^skip: /, '') }
  if (run.status !== 0) throw new Error(`test/interop/go/build.sh failed (${run.status ?? run.signal}):\n${run.stdout}${run.stderr}`)
  return {}
}

const { reason } = build()
if (reason != null) console.warn(`go-libp2p interop tests skipped: ${reason}`)

/** A running peer: its JSON lines so far, its stderr, and a way to wait for a line. */
interface Peer {
  child: ChildProcessWithoutNullStreams
  lines: Line[]
  stderr: () => string
  /** resolves with the first line (seen or to come) that matches, or rejects after `ms` */
  line: (match: (line: Line) => boolean, ms: number, what: string) => Promise<Line>
  /** resolves with the exit code, or rejects after `ms` (the process is then SIGKILLed) */
  exit: (ms: number) => Promise<number | null>
}

const peers: Peer[] = []

function start (args: string[]): Peer {
  const child = spawn(bin, args, { stdio: 'pipe' })
  const lines: Line[] = []
  const watchers = new Set<() => void>()
  let err = ''
  let rest = ''
  let exited: number | null | undefined
  // the harness closes stdin to stop a listener; a dialer that already exited must not make that an error
  child.stdin.on('error', () => {})
  child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString() })
  child.stdout.on('data', (chunk: Buffer) => {
    const parts = (rest + chunk.toString()).split('\n')
    rest = parts.pop() ?? ''
    for (const part of parts) {
      // a line that is not JSON breaks the contract: JSON.parse throws and the test fails on it
      lines.push(JSON.parse(part))
    }
    for (const w of watchers) w()
  })
  child.on('exit', (code) => {
    exited = code
    for (const w of watchers) w()
  })
  const wait = async <T>(ready: () => T | undefined, ms: number, what: string): Promise<T> => new Promise<T>((resolve, reject) => {
    const check = (): void => {
      const value = ready()
      if (value === undefined) return
      clearTimeout(timer)
      watchers.delete(check)
      resolve(value)
    }
    const timer = setTimeout(() => {
      watchers.delete(check)
      reject(new Error(`timed out after ${ms}ms waiting for ${what}; go-peer ${args.join(' ')} printed:\n${lines.map(l => JSON.stringify(l)).join('\n')}\nstderr:\n${err}`))
    }, ms)
    watchers.add(check)
    check()
  })
  const peer: Peer = {
    child,
    lines,
    stderr: () => err,
    line: async (match, ms, what) => wait(() => lines.find(match), ms, what),
    exit: async (ms) => {
      try {
        return await wait(() => exited, ms, `go-peer ${args[0]} to exit`)
      } catch (e) {
        child.kill('SIGKILL')
        throw e
      }
    }
  }
  peers.push(peer)
  return peer
}

/** The peer id the contract's `--seed n` gives: ed25519 from a 32-byte seed filled with n. */
async function seededPeerId (n: number): Promise<string> {
  const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(n))
  return peerIdFromPrivateKey(key).toString()
}

describe.skipIf(reason != null)(skipping('go-libp2p peer against itself (PEERS.md contract)', reason), () => {
  let listener: Peer
  let addr: string
  let listenerId: string

  beforeAll(async () => {
    listener = start(['--listen', '/ip4/127.0.0.1/tcp/0', '--seed', '7'])
    const listening = await listener.line(l => l.event === 'listening', 10_000, 'the listening line')
    listenerId = listening.peerId
    addr = listening.addrs[0]
  })

  afterAll(async () => {
    // closing stdin is how the harness stops a listener
    for (const peer of peers) peer.child.stdin.end()
    // every dialer has exited already (each test asserts its code); none may be left running
    await Promise.all(peers.map(async p => p.exit(5_000)))
    expect(await listener.exit(0)).toBe(0)
  })

  it('derives its key from --seed as the JS stack does, and names it in its address', async () => {
    expect(listenerId).toBe(await seededPeerId(7))
    expect(addr).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${listenerId}$`))
  })

  it('pings --count times over one connection, then reports done and exits 0', async () => {
    const dialer = start(['--dial', addr, '--run', 'ping', '--count', '5'])
    expect(await dialer.exit(20_000)).toBe(0)
    const pings = dialer.lines.filter(l => l.event === 'ping')
    expect(pings).toHaveLength(5)
    for (const p of pings) {
      expect(p.rttMs).toBeGreaterThan(0)
    }
    expect(dialer.lines.at(-1)).toEqual({ event: 'done' })
    const connected = dialer.lines.filter(l => l.event === 'connected')
    expect(connected).toEqual([expect.objectContaining({ peerId: listenerId, direction: 'outbound', remoteAddr: addr.replace(/\/p2p\/.*$/, '') })])
  })

  it('echoes 1 MiB back unchanged, by sha256', async () => {
    const dialer = start(['--dial', addr, '--run', 'echo', '--bytes', String(1 << 20)])
    expect(await dialer.exit(20_000)).toBe(0)
    const echo = dialer.lines.find(l => l.event === 'echo')
    expect(echo).toMatchObject({ bytes: 1 << 20 })
    expect(echo?.sha256).toMatch(/^[0-9a-f]{64}$/)
    expect(echo?.echoSha256).toBe(echo?.sha256)
  })

  it('sees identify both ways: agent version, protocols, observed and listen addresses', async () => {
    const dialer = start(['--dial', addr, '--run', 'identify', '--seed', '9'])
    expect(await dialer.exit(20_000)).toBe(0)
    const dialerId = await seededPeerId(9)
    const seen = dialer.lines.find(l => l.event === 'identify')
    expect(seen).toBeDefined()
    expect(seen?.agentVersion).toMatch(/^rx-tcp-interop\/go\/v\d+\.\d+\.\d+/)
    expect(seen?.protocols).toEqual(expect.arrayContaining(['/ipfs/id/1.0.0', '/ipfs/ping/1.0.0', '/echo/1.0.0', '/perf/1.0.0']))
    expect(seen?.listenAddrs).toEqual([addr.replace(/\/p2p\/.*$/, '')])

    // the listener identified the dialer too, and each says what it saw of the other
    const inbound = await listener.line(l => l.event === 'connected' && l.peerId === dialerId, 5_000, 'the inbound connection of the identify dialer')
    expect(inbound.direction).toBe('inbound')
    const back = await listener.line(l => l.event === 'identify' && l.peerId === dialerId, 5_000, "the listener's identify of the dialer")
    expect(back.agentVersion).toBe(seen?.agentVersion)
    expect(back.listenAddrs).toEqual([])
    expect(back.observedAddr).toBe(addr.replace(/\/p2p\/.*$/, ''))
    expect(seen?.observedAddr).toBe(inbound.remoteAddr)
  })

  it('abandons a handshake halfway (raw TCP, RST) and leaves the listener serving', async () => {
    const quitter = start(['--dial', addr, '--run', 'abandon'])
    expect(await quitter.exit(10_000)).toBe(0)
    expect(quitter.lines).toEqual([{ event: 'abandoned' }, { event: 'done' }])
    const after = start(['--dial', addr, '--run', 'ping', '--count', '1'])
    expect(await after.exit(20_000)).toBe(0)
    expect(after.lines.filter(l => l.event === 'ping')).toHaveLength(1)
  })

  it('--close-inbound-after-ms closes the connection under the dialer with its streams open', async () => {
    const closer = start(['--listen', '/ip4/127.0.0.1/tcp/0', '--close-inbound-after-ms', '300', '--open-streams', '2'])
    const target = (await closer.line(l => l.event === 'listening', 10_000, 'the closing listener')).addrs[0]
    const holder = start(['--dial', target, '--run', 'hold', '--count', '4', '--hold-ms', '3000'])
    expect(await holder.exit(20_000)).toBe(0)
    const events = holder.lines.map(l => l.event)
    // the listener's close came first: the dialer saw it before its own hold ran out, with no stream left
    expect(events.indexOf('disconnected')).toBeGreaterThan(-1)
    expect(events.indexOf('disconnected')).toBeLessThan(events.indexOf('closed'))
    expect(holder.lines.find(l => l.event === 'closed')).toEqual({ event: 'closed', streams: 0 })
    await closer.line(l => l.event === 'disconnected', 5_000, 'the closing listener to report the close')
  })

  it('answers a bad command line with one error line and exit 1', async () => {
    const bad = start(['--dial', addr, '--run', 'nonsense'])
    expect(await bad.exit(10_000)).toBe(1)
    expect(bad.lines).toEqual([{ event: 'error', message: expect.stringContaining('nonsense') }])
  })
})
