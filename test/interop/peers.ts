/**
 * The go and rust peers as child processes: built by their own scripts
 * (cached by a stamp, test/interop/PEERS.md), started with the contract's
 * flags, optionally inside a network namespace (`ip netns exec`), and read
 * as JSON lines.
 *
 * @example
 * const bin = buildPeer('go')
 * const peer = spawnPeer('go', bin.path, ['--listen', '/ip4/127.0.0.1/tcp/0'])
 * const { addrs } = await peer.waitFor(e => e.event === 'listening', 'listening', 10_000)
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'

export type PeerKind = 'go' | 'rust' | 'js'

export const INTEROP_DIR = import.meta.dirname

/**
 * Where the peers' build scripts put their binaries and stamps:
 * test/interop/.build (ignored). CI makes it a link into `$HOME/.cache`, so
 * that a build survives a fresh clone (.ci/run).
 */
export function buildDir (): string {
  return resolve(INTEROP_DIR, '.build')
}

export interface PeerBinary {
  kind: PeerKind
  /** the program and the arguments that come before the contract's flags */
  command: string[]
  /** why the peer cannot run here (no toolchain, failed build), or undefined */
  skip?: string
  failed?: string
  buildSeconds: number
}

const tsx = createRequire(import.meta.url).resolve('tsx/esm')

/**
 * Builds (or finds up to date) the peer of `kind` with its build script;
 * `js` is the JavaScript stand-in (test/interop/js-peer.ts), which needs no
 * build. Exit code 3 of a script means "no toolchain": a skip, not a failure.
 */
export function buildPeer (kind: PeerKind, log: (line: string) => void = () => {}): PeerBinary {
  if (kind === 'js') return { kind, command: [process.execPath, '--import', tsx, join(INTEROP_DIR, 'js-peer.ts')], buildSeconds: 0 }
  const script = join(INTEROP_DIR, kind, 'build.sh')
  const binary = join(buildDir(), `${kind}-peer`)
  if (!existsSync(script)) return { kind, command: [binary], skip: `${script} does not exist yet`, buildSeconds: 0 }
  const start = performance.now()
  const run = spawnSync('nice', ['-n', '10', 'bash', script], {
    encoding: 'utf8',
    // a cold cargo build of rust-libp2p on two loaded cores takes minutes
    timeout: 30 * 60_000,
    maxBuffer: 64 * 1024 * 1024
  })
  const buildSeconds = (performance.now() - start) / 1000
  const output = `${run.stdout ?? ''}${run.stderr ?? ''}`.trim()
  for (const line of output.split('\n').slice(-3)) if (line !== '') log(`  ${kind} build: ${line}`)
  if (run.status === 3) return { kind, command: [binary], skip: /skip: (.*)/.exec(output)?.[1] ?? output.split('\n').pop() ?? 'no toolchain', buildSeconds }
  if (run.status !== 0) return { kind, command: [binary], failed: `${script} exited ${run.status ?? run.signal}: ${output.split('\n').slice(-5).join(' | ')}`, buildSeconds }
  if (!existsSync(binary)) return { kind, command: [binary], failed: `${script} succeeded but ${binary} does not exist`, buildSeconds }
  return { kind, command: [binary], buildSeconds }
}

/**
 * The peer of `kind` as last built, without building it: for `npm test`,
 * which must not start a cold cargo build (minutes). Skips, saying why, when
 * there is no binary yet; `npm run interop` (or the build script) makes one.
 */
export function builtPeer (kind: 'go' | 'rust'): PeerBinary {
  const binary = join(buildDir(), `${kind}-peer`)
  if (!existsSync(binary)) return { kind, command: [binary], skip: `${binary} is not built: run \`npm run interop\` or test/interop/${kind}/build.sh first`, buildSeconds: 0 }
  return { kind, command: [binary], buildSeconds: 0 }
}

/** One line a peer printed, as PEERS.md lists them. */
export interface PeerEvent {
  event: string
  [key: string]: any
}

export interface Peer {
  kind: PeerKind
  child: ChildProcessWithoutNullStreams
  pid: number
  /** every event printed so far */
  events: PeerEvent[]
  /** resolves with the first event (already printed or to come) that matches, or rejects naming `what` */
  waitFor: (match: (e: PeerEvent) => boolean, what: string, ms: number) => Promise<PeerEvent>
  /** resolves with the exit code or signal */
  exited: Promise<number | string>
  exitCode: () => number | string | undefined
  /** sends a signal and, for SIGKILL/SIGTERM, resolves once the process has exited */
  signal: (sig: NodeJS.Signals) => Promise<void>
  stderr: () => string
}

export interface SpawnOptions {
  /** run inside this network namespace */
  netns?: string
}

const alive = new Set<Peer>()

/** Kills every peer still running (the harness's last word, also on a crash). */
export function killAllPeers (): void {
  for (const p of alive) {
    try { p.child.kill('SIGCONT') } catch {}
    try { p.child.kill('SIGKILL') } catch {}
  }
}

/** Starts a peer with the contract's `args`. */
export function spawnPeer (binary: PeerBinary, args: string[], options: SpawnOptions = {}): Peer {
  const [cmd, ...pre] = options.netns != null ? ['ip', 'netns', 'exec', options.netns, ...binary.command] : binary.command
  // `ip netns exec` execs the program: the pid is the peer's own, so signals reach it
  const child = spawn(cmd, [...pre, ...args], { stdio: 'pipe', env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' } })
  const events: PeerEvent[] = []
  const waiters: Array<{ match: (e: PeerEvent) => boolean, resolve: (e: PeerEvent) => void }> = []
  let stderr = ''
  let code: number | string | undefined
  child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-8000) })
  child.stdin.on('error', () => {})
  createInterface({ input: child.stdout }).on('line', (line) => {
    let e: PeerEvent
    try { e = JSON.parse(line) } catch { e = { event: 'not-json', line } }
    if (typeof e?.event !== 'string') e = { event: 'not-json', line }
    events.push(e)
    for (const w of waiters.splice(0)) {
      if (w.match(e)) w.resolve(e)
      else waiters.push(w)
    }
  })
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (c, s) => { code = c ?? s ?? 'unknown'; alive.delete(peer); resolve(code) })
    child.once('error', (err) => { code = `spawn error: ${err.message}`; alive.delete(peer); resolve(code) })
  })
  const closed = new Promise<void>((resolve) => {
    child.once('close', () => { resolve() })
    child.once('error', () => { resolve() })
  })
  const label = `${binary.kind} peer (${args.join(' ')})`
  const peer: Peer = {
    kind: binary.kind,
    child,
    pid: child.pid ?? -1,
    events,
    exited,
    exitCode: () => code,
    stderr: () => stderr,
    waitFor: async (match, what, ms) => {
      const seen = events.find(match)
      if (seen != null) return seen
      return new Promise<PeerEvent>((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiters.indexOf(w)
          if (i >= 0) waiters.splice(i, 1)
          reject(new Error(`timed out after ${ms} ms waiting for ${what} from the ${label}; stderr: ${tail(stderr)}`))
        }, ms)
        const w = { match, resolve: (e: PeerEvent) => { clearTimeout(timer); resolve(e) } }
        waiters.push(w)
        // 'close' comes after stdout has ended, so every line printed before the exit has been read
        void closed.then(() => {
          setImmediate(() => {
            const c = code
            if (!waiters.includes(w)) return
            waiters.splice(waiters.indexOf(w), 1)
            clearTimeout(timer)
            reject(new Error(`the ${label} exited (${c}) before ${what}; stderr: ${tail(stderr)}`))
          })
        })
      })
    },
    signal: async (sig) => {
      if (code != null) return
      child.kill(sig)
      if (sig === 'SIGKILL' || sig === 'SIGTERM') await exited
    }
  }
  alive.add(peer)
  return peer
}

function tail (text: string): string {
  const t = text.trim().split('\n').slice(-6).join(' | ')
  return t === '' ? '(empty)' : t.slice(-1500)
}

/** The first address of a `listening` event on `ip`, with its /p2p suffix. */
export function listenAddr (e: PeerEvent, ip: string): string {
  const addrs: string[] = e.addrs ?? []
  const addr = addrs.find((a) => a.includes(`/${ip}/`)) ?? addrs[0]
  if (addr == null) throw new Error(`the peer listens on no address: ${JSON.stringify(e)}`)
  return addr.includes('/p2p/') ? addr : `${addr}/p2p/${String(e.peerId)}`
}
