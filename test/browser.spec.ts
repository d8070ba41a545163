/**
 * The browser entry (`src/index.browser.ts`, the `browser` condition of the
 * package's `.` export): bundled for a browser, it pulls in no Node module
 * and none of the transport, and its `tcp()` throws an error that names the
 * transport. The condition itself is resolved from the packed tarball in
 * package.spec.ts.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { UnsupportedOperationError } from '@libp2p/interface'
import { build } from 'esbuild'
import { describe, expect, it } from 'vitest'
import { tcp } from '../src/index.browser.ts'

describe('the browser entry', () => {
  it('tcp() throws UnsupportedOperationError naming rx-tcp', () => {
    expect(() => tcp()).toThrow(UnsupportedOperationError)
    expect(() => tcp({ maxConnections: 10 })).toThrow(/^rx-tcp: TCP connections are not possible in browsers/)
  })

  it('bundles for a browser without node:net or any file of the transport, and the bundle throws the same', async () => {
    const result = await build({
      entryPoints: [new URL('../src/index.browser.ts', import.meta.url).pathname],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent'
    })
    const inputs = Object.keys(result.metafile.inputs)
    expect(inputs.filter((input) => input.startsWith('node:') || /^src\/(?!index\.browser\.ts$)/.test(input) || input.startsWith('operators/'))).toEqual([])
    expect(inputs).toContain('src/index.browser.ts')
    const dir = await mkdtemp(join(tmpdir(), 'rx-tcp-browser-'))
    try {
      const file = join(dir, 'bundle.mjs')
      await writeFile(file, result.outputFiles[0].contents)
      const bundled = await import(pathToFileURL(file).href) as { tcp: () => unknown }
      expect(() => bundled.tcp()).toThrow(/^rx-tcp: TCP connections are not possible in browsers/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
