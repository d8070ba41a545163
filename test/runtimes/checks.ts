/**
 * The checks of the runtime matrix and how vitest is started on each runtime.
 * Every check is a set of the project's own spec files, run by vitest itself
 * on the runtime under test (vitest's `forks` pool forks the same binary, so
 * the tests run there too: `identity.spec.ts`, run with every check, proves it).
 */
import type { Runtime } from './which.ts'

/** One column of the matrix. */
export interface Check {
  name: string
  /** what it shows, for `--help` and the docs */
  description: string
  /** spec files, relative to the repository root */
  files: string[]
  /** extra environment for the run (the chaos check's bounded size) */
  env?: (options: CheckOptions) => Record<string, string>
}

/** What the matrix's options change in a check. */
export interface CheckOptions {
  chaosRounds: number
  seed: number
}

/** The spec run with every check, asserting the tests run on the runtime asked for */
export const IDENTITY_SPEC = 'test/runtimes/identity.spec.ts'

/** The columns of the matrix, in the order the table prints them. */
export const CHECKS: Check[] = [
  {
    name: 'compliance',
    description: "libp2p's transport compliance suite (IPv4 and IPv6 setups, noise + yamux)",
    files: ['test/compliance.spec.ts']
  },
  {
    name: 'interop',
    description: 'rx-tcp with @libp2p/tcp, each side listening, on 127.0.0.1, ::1 and a unix socket',
    files: ['test/interop.spec.ts']
  },
  {
    name: 'close',
    description: 'close() and node.stop() with upgrades in flight: bounded, nothing of the listener left',
    files: ['test/runtimes/close-contract.spec.ts']
  },
  {
    name: 'internals',
    description: 'each runtime internal rx-tcp uses, detected, and its public fallback forced (docs/runtimes.md); dials from the listen port or their fallback',
    files: ['test/operators/close-handle.spec.ts', 'test/connection.spec.ts', 'test/reuse.spec.ts', 'test/observed-addresses.spec.ts']
  },
  {
    name: 'examples',
    description: 'npm start (examples/demo.ts) and every example, each run as docs/runtimes.md says, exiting 0 by itself',
    files: ['test/runtimes/examples.spec.ts']
  },
  {
    name: 'chaos',
    description: 'a bounded, seeded chaos run (dials, silent, half-handshake, reset and garbage sockets, slow gaters)',
    files: ['test/chaos/chaos.spec.ts'],
    env: (o) => ({ CHAOS_ROUNDS: String(o.chaosRounds), CHAOS_SEED: String(o.seed) })
  }
]

/**
 * The command that runs vitest's CLI on `runtime` (binary at `bin`), `args`
 * starting with vitest's command (`run`): Node runs `vitest.mjs` as it is; Bun
 * needs `--bun` so that vitest's workers are Bun too (without it the `node` on
 * PATH would run them); Deno runs it with every permission, through its Node
 * compatibility, with `vitest.deno.config.ts` (why: see there).
 */
export function vitestCommand (runtime: Runtime, bin: string, args: string[]): string[] {
  const vitest = 'node_modules/vitest/vitest.mjs'
  if (runtime === 'bun') return [bin, '--bun', vitest, ...args]
  if (runtime === 'deno') return [bin, 'run', '-A', vitest, args[0], '--config', 'test/runtimes/vitest.deno.config.ts', ...args.slice(1)]
  return [bin, vitest, ...args]
}
