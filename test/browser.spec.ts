/**
 * The browser entry (`src/index.browser.ts`, the `browser` condition of the
 * package's `.` export): bundled for a browser, it pulls in no Node module
 * and none of the transport, and its `tcp()` throws an error that names the
 * transport. The condition itself is resolved from the packed tarball in
 * package.spec.ts.
 */
import { UnsupportedOperationError } from '@libp2p/interface'
import { describe, expect, it } from 'vitest'
import { tcp, tcpObservedAddresses } from '../src/index.browser.ts'
import { browserBundle } from './fixtures/browser-bundle.ts'

describe('the browser entry', () => {
  it('tcp() throws UnsupportedOperationError naming rx-tcp', () => {
    expect(() => tcp()).toThrow(UnsupportedOperationError)
    expect(() => tcp({ maxConnections: 10 })).toThrow(/^rx-tcp: TCP connections are not possible in browsers/)
    expect(() => tcpObservedAddresses()).toThrow(UnsupportedOperationError)
  })

  it('bundles for a browser without node:net or any file of the transport, and the bundle throws the same', async () => {
    const { inputs, exports } = await browserBundle({ entryPoints: [new URL('../src/index.browser.ts', import.meta.url).pathname] })
    expect(inputs.filter((input) => input.startsWith('node:') || /^src\/(?!index\.browser\.ts$)/.test(input) || input.startsWith('operators/'))).toEqual([])
    expect(inputs).toContain('src/index.browser.ts')
    expect(() => exports.tcp()).toThrow(/^rx-tcp: TCP connections are not possible in browsers/)
  })
})
