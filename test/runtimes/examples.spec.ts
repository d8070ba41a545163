/**
 * `npm start` (examples/demo.ts) and every example, run as a user runs them on
 * the runtime this spec runs on: Node through tsx's loader, Bun as it is, Deno
 * with `run -A` (the commands of docs/runtimes.md). Each must exit 0 by itself
 * within its bound and print what says it worked. Run by the runtime matrix
 * (`RX_TCP_RUNTIME` set); `npm test` skips it, the matrix's Node 24 row runs it.
 */
import { spawn } from 'node:child_process'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

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

const examples: Array<[string, RegExp[]]> = [
  ['examples/demo.ts', [/every client saw its socket close: yes/, /the port refuses new connections: yes/]],
  ['examples/two-nodes.ts', [/alice got: hello alice/, /both nodes stopped/]],
  ['examples/interop.ts', [/rx-tcp {7}-> @libp2p\/tcp: sent by rx-tcp/, /@libp2p\/tcp {2}-> rx-tcp {5}: sent by @libp2p\/tcp/]],
  ['examples/helia.ts', [/bob got 4194304 bytes over bitswap in \d+ ms: intact/]],
  ['examples/guarded-service.ts', [/rejected_upgrade-timeout: 1/]],
  ['examples/guarded-http.ts', [/served 5 requests/]]
]

const BOUND_MS = 60_000

describe.runIf(process.env.RX_TCP_RUNTIME != null)('the examples on this runtime', () => {
  for (const [file, expected] of examples) {
    it(`${file} runs, prints its result and exits by itself`, async () => {
      const r = await run(file, BOUND_MS)
      const tail = r.output.split('\n').slice(-15).join('\n')
      expect(r.code, `exit code of ${command(file).join(' ')} after ${Math.round(r.ms)} ms (killed at ${BOUND_MS} ms if null):\n${tail}`).toBe(0)
      for (const pattern of expected) expect(r.output, tail).toMatch(pattern)
    }, BOUND_MS + 10_000)
  }
})
