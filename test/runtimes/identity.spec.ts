/**
 * Run by the runtime matrix with every check: the tests of that run execute on
 * the runtime the matrix asked for (`RX_TCP_RUNTIME`, `RX_TCP_RUNTIME_VERSION`),
 * not on a `node` vitest found on PATH. Outside the matrix there is nothing to
 * compare with, and it is skipped.
 */
import { describe, expect, it } from 'vitest'
import { skipping } from '../fixtures/skip.ts'

const wanted = process.env.RX_TCP_RUNTIME
const version = process.env.RX_TCP_RUNTIME_VERSION

describe.skipIf(wanted == null || version == null)(skipping('the runtime of this run', wanted == null || version == null ? 'run by the runtime matrix only (RX_TCP_RUNTIME and RX_TCP_RUNTIME_VERSION unset)' : undefined), () => {
  it(`is ${wanted ?? '(none asked)'} ${version ?? ''}`, () => {
    const versions = process.versions as NodeJS.ProcessVersions & { bun?: string, deno?: string }
    const running = versions.bun != null
      ? { runtime: 'bun', version: versions.bun }
      : versions.deno != null
        ? { runtime: 'deno', version: versions.deno }
        : { runtime: `node${versions.node.split('.')[0]}`, version: versions.node }
    expect(running).toEqual({ runtime: wanted, version })
  })
})
