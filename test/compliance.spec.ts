/**
 * The libp2p transport compliance suite (`@libp2p/interface-compliance-tests/transport`,
 * written for mocha) run under vitest through `fixtures/mocha-compat.ts`, in the two
 * setups js-libp2p uses for `@libp2p/tcp`: noise (its pure-JS crypto where the runtime
 * lacks chacha20-poly1305, as Bun) + yamux, a listener on two
 * addresses, IPv4 on 127.0.0.1 and IPv6 on `::`.
 */
import { yamux } from '@chainsafe/libp2p-yamux'
import tests from '@libp2p/interface-compliance-tests/transport'
import { tcp } from '../src/index.ts'
import { TCP } from '@multiformats/multiaddr-matcher'
import { describe } from 'vitest'
import { mochaCompat } from './fixtures/mocha-compat.ts'
import { runtimeNoise } from './fixtures/noise.ts'
import type { TransportTestFixtures } from '@libp2p/interface-compliance-tests/transport'

// The suite's own timeouts (up to 540 s for the 10 MiB write) are bounded so a
// hang fails within a minute instead of stalling `npm test`.
const mocha = mochaCompat({ timeout: 30_000, maxTimeout: 60_000 })

function setup (listen: [string, string], connectionMonitor: boolean): TransportTestFixtures {
  const dialer = {
    transports: [tcp()],
    connectionEncrypters: [runtimeNoise()],
    streamMuxers: [yamux()],
    ...(connectionMonitor ? {} : { connectionMonitor: { enabled: false } })
  }
  return {
    dialer,
    listener: { addresses: { listen }, ...dialer },
    dialMultiaddrMatcher: TCP,
    listenMultiaddrMatcher: TCP
  }
}

describe('tcp transport interface compliance IPv4', () => {
  mocha.run(() => {
    tests({
      setup: async () => setup(['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0'], false),
      teardown: async () => {}
    })
  })
})

describe('tcp transport interface compliance IPv6', () => {
  mocha.run(() => {
    tests({
      setup: async () => setup(['/ip6/::/tcp/0', '/ip6/::/tcp/0'], true),
      teardown: async () => {}
    })
  })
})
