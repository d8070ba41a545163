/**
 * The proposed upstream fixes, applied for the hole punch's nodes only: a
 * copy of node_modules' libp2p in `.results/holepunch/patched/` (ignored),
 * with the patches of test/holepunch/patches/ applied by `patch(1)`. The
 * nodes import libp2p from there when asked to (peer.ts); node_modules is
 * shared and never touched. The copy sits in a `node_modules` folder of its
 * own inside the repository, so its imports resolve to the same packages as
 * everyone else's (one @libp2p/interface, one of each error class).
 *
 * @example
 * const entry = patchedLibp2p(['libp2p-1-dial-queue-initiator.patch'])
 * const { createLibp2p } = await import(entry)
 */
import { execFileSync } from 'node:child_process'
import { cpSync, readdirSync, rmSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { REPO_ROOT } from '../fixtures/results.ts'

export const PATCH_DIR = join(import.meta.dirname, 'patches')

/** every patch, in the order they apply */
export const PATCHES = readdirSync(PATCH_DIR).filter((f) => f.endsWith('.patch')).sort()

/** the installed libp2p's package folder */
function installedLibp2p (): string {
  // dist/src/index.js → the package folder
  return resolve(dirname(fileURLToPath(import.meta.resolve('libp2p'))), '../..')
}

/**
 * Copies libp2p, applies `patches` (file names in test/holepunch/patches/)
 * and returns the file URL of the copy's entry, for `import()`. Throws with
 * patch's output when one does not apply.
 */
export function patchedLibp2p (patches: readonly string[], name = 'patched'): string {
  const dest = join(REPO_ROOT, '.results/holepunch', name, 'node_modules/libp2p')
  rmSync(dest, { recursive: true, force: true })
  cpSync(installedLibp2p(), dest, { recursive: true, dereference: true })
  for (const p of patches) {
    try {
      execFileSync('patch', ['-p1', '--forward', '--batch', '--quiet', '-d', dest, '-i', join(PATCH_DIR, p)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 })
    } catch (err: any) {
      throw new Error(`${p} does not apply to ${installedLibp2p()}: ${String(err?.stdout ?? '')}${String(err?.stderr ?? err?.message)}`.trim())
    }
  }
  return pathToFileURL(join(dest, 'dist/src/index.js')).href
}
