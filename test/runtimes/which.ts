/**
 * The runtimes the matrix runs on and where their binaries are, for the tools that
 * spawn them. The paths come from `install.sh` (the one place that knows them), which
 * installs a missing runtime first and answers at once when it is installed.
 */
import { execFileSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Every runtime of the matrix, in the order tables print them. */
export const RUNTIMES = ['node22', 'node24', 'node26', 'bun', 'deno'] as const

/** One runtime's name as `install.sh` knows it. */
export type Runtime = typeof RUNTIMES[number]

/** What `install.sh` answers for one runtime. */
export interface RuntimeBinary {
  runtime: Runtime
  /** the version the binary reports, without a leading `v` */
  version: string
  /** absolute path of the executable */
  path: string
}

const here = dirname(fileURLToPath(import.meta.url))

/**
 * Whether `name` is one of {@link RUNTIMES}.
 */
export function isRuntime (name: string): name is Runtime {
  return (RUNTIMES as readonly string[]).includes(name)
}

/**
 * The binaries of `runtimes` (default: all), installing those that are missing.
 * Throws when `install.sh` fails, with its output in the message.
 */
export function whichRuntimes (runtimes: readonly Runtime[] = RUNTIMES): RuntimeBinary[] {
  const out = execFileSync('bash', [join(here, 'install.sh'), ...runtimes], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  return out.trim().split('\n').map(line => {
    const [runtime, version, path] = line.split(' ')
    return { runtime: runtime as Runtime, version, path }
  })
}

/**
 * The absolute path of one runtime's binary, installing it when it is missing.
 */
export function whichRuntime (runtime: Runtime): string {
  return whichRuntimes([runtime])[0].path
}
