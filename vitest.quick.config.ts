/**
 * `npm run test:quick`: the unit, marble and real-socket specs, the inner loop
 * (under a minute on 2 cores). `npm test` runs these and everything else with
 * vitest.config.ts.
 *
 * The quick tier is every spec at the top of test/ and in test/operators/ and
 * test/differential/, except those listed below; a spec in any other folder of
 * test/ (chaos, soak, sim, fuzz, faults, interop, runtimes, load, …) is in the
 * full tier only. A new spec that spawns tools, installs, or runs for seconds
 * goes in SLOW, with its reason.
 */
import { configDefaults, defineConfig } from 'vitest/config'
import full from './vitest.config.ts'

const SLOW = [
  'test/cli.spec.ts', // spawns every `npm run` tool with --help and bad options (15 s)
  'test/compliance.spec.ts', // libp2p's transport compliance suite (14 s)
  'test/mocha-compat.spec.ts', // runs a vitest of its own, for the compliance suite's shim
  'test/package.spec.ts', // npm pack, then an install in a temp dir
  'test/haproxy*.spec.ts', // a real HAProxy
  'test/interop.spec.ts', // libp2p nodes, rx-tcp with @libp2p/tcp (the matrix's interop check)
  'test/examples-servers.spec.ts', // spawns the examples
  'test/worker-exit.spec.ts', // libp2p nodes in worker threads
  'test/operators/flood.spec.ts' // 2,000 connection attempts per case (11 s)
]

export default defineConfig({
  ...full,
  test: {
    ...full.test,
    include: ['test/*.spec.ts', 'test/operators/**/*.spec.ts', 'test/differential/**/*.spec.ts'],
    exclude: [...configDefaults.exclude, ...SLOW],
    reporters: ['default'],
    outputFile: undefined
  }
})
