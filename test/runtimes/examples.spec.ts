/**
 * `npm start` (examples/demo.ts) and every example, run as a user runs them on
 * the runtime this spec runs on: Node through tsx's loader, Bun as it is, Deno
 * with `run -A` (the commands of docs/runtimes.md). Each must exit 0 by itself
 * within its bound and print what says it worked. Run by the runtime matrix
 * (`RX_TCP_RUNTIME` set); `npm test` skips it, the matrix's Node 24 row runs it.
 */
import { spawn } from 'node:child_process'
import http from 'node:http'
import net from 'node:net'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { skipping } from '../fixtures/skip.ts'

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const versions = process.versions as NodeJS.ProcessVersions & { bun?: string, deno?: string }

/** how this runtime runs a TypeScript file */
function command (file: string): string[] {
  if (versions.bun != null) return [process.execPath, file]
  if (versions.deno != null) return [process.execPath, 'run', '-A', file]
  return [process.execPath, '--import', 'tsx', file]
}

interface Run { code: number | null, output: string, ms: number }

async function run (file: string, boundMs: number): Promise<Run> {
  const [cmd, ...args] = command(file)
  const started = performance.now()
  const child = spawn(cmd, args, { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } })
  let output = ''
  child.stdout.on('data', (b: Buffer) => { output += b.toString() })
  child.stderr.on('data', (b: Buffer) => { output += b.toString() })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, boundMs)
  const code = await new Promise<number | null>(resolve => child.on('close', (c) => { resolve(c) }))
  clearTimeout(timer)
  return { code, output, ms: performance.now() - started }
}

/**
 * Whether this runtime's `http.Server` parses what its sockets' JavaScript
 * streams give it: a 'connection' handler that reads a line and unshifts the
 * rest must leave the parser a clean request. Node and Deno do; Bun's
 * `node:http` reads the socket natively, so a PROXY header a guard has read
 * still reaches its parser (400 Bad Request), and `guardServer(proxyProtocol())`
 * cannot work in front of an HTTP server there.
 */
async function httpParsesTheStream (): Promise<boolean> {
  const server = http.createServer((_req, res) => { res.end('ok') })
  const own = server.listeners('connection') as Array<(socket: net.Socket) => void>
  for (const l of own) server.off('connection', l)
  server.on('connection', (socket: net.Socket) => {
    socket.once('data', (buf: Buffer) => {
      socket.pause()
      socket.unshift(buf.subarray(buf.indexOf('\r\n') + 2))
      for (const l of own) l.call(server, socket)
      socket.resume()
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  try {
    const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
    socket.on('error', () => {})
    let response = ''
    socket.on('data', (b: Buffer) => { response += b.toString() })
    socket.write('PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\nGET / HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n')
    await new Promise<void>(resolve => { socket.once('close', () => { resolve() }) })
    return response.startsWith('HTTP/1.1 200')
  } finally {
    server.closeAllConnections()
    await new Promise<void>(resolve => server.close(() => { resolve() }))
  }
}

const PROXIED_HTTP = process.env.RX_TCP_RUNTIME != null ? await httpParsesTheStream() : true

const examples: Array<[string, RegExp[]]> = [
  ['examples/demo.ts', [/every client saw its socket close: yes/, /the port refuses new connections: yes/]],
  ['examples/two-nodes.ts', [/alice got: hello alice/, /both nodes stopped/]],
  ['examples/interop.ts', [/rx-tcp {7}-> @libp2p\/tcp: sent by rx-tcp/, /@libp2p\/tcp {2}-> rx-tcp {5}: sent by @libp2p\/tcp/]],
  ['examples/helia.ts', [/bob got 4194304 bytes over bitswap in \d+ ms: intact/]],
  ['examples/guarded-service.ts', [/rejected_upgrade-timeout: 1/]],
  ['examples/guarded-http.ts', [/served 5 requests/]]
]

/** the examples that put a PROXY header in front of an HTTP server, with what a working run prints */
const proxiedHttp: Array<[string, RegExp[]]> = [
  ['examples/express.ts', [/198\.51\.100\.4:50004 -> HTTP\/1\.1 200 OK \{"ip":"198\.51\.100\.4"/, /50003 -> HTTP\/1\.1 429/]],
  ['examples/fastify.ts', [/50004 -> HTTP\/1\.1 200 OK \{"ip":"2001:db8::7"/, /50003 -> HTTP\/1\.1 429/]]
]

const BOUND_MS = 60_000

describe.runIf(process.env.RX_TCP_RUNTIME != null)(skipping('the examples on this runtime', process.env.RX_TCP_RUNTIME == null ? 'run by the runtime matrix only (RX_TCP_RUNTIME unset): npm run runtimes:matrix' : undefined), () => {
  for (const [file, expected] of examples) {
    it(`${file} runs, prints its result and exits by itself`, async () => {
      const r = await run(file, BOUND_MS)
      const tail = r.output.split('\n').slice(-15).join('\n')
      expect(r.code, `exit code of ${command(file).join(' ')} after ${Math.round(r.ms)} ms (killed at ${BOUND_MS} ms if null):\n${tail}`).toBe(0)
      for (const pattern of expected) expect(r.output, tail).toMatch(pattern)
    }, BOUND_MS + 10_000)
  }

  for (const [file, expected] of proxiedHttp) {
    it.skipIf(!PROXIED_HTTP)(skipping(`${file} runs, prints its result and exits by itself`, PROXIED_HTTP ? undefined : "this runtime's http.Server does not parse the socket's stream, see docs/runtimes.md"), async () => {
      const r = await run(file, BOUND_MS)
      const tail = r.output.split('\n').slice(-15).join('\n')
      expect(r.code, `exit code after ${Math.round(r.ms)} ms:\n${tail}`).toBe(0)
      for (const pattern of expected) expect(r.output, tail).toMatch(pattern)
    }, BOUND_MS + 10_000)
  }

  it('the http probe agrees with what this runtime does (Bun is the one known not to parse the stream)', () => {
    // the runtime's name only cross-checks the probe here; the skips above follow the probe
    expect(PROXIED_HTTP).toBe((process.versions as { bun?: string }).bun == null)
  })
})
