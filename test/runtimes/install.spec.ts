/**
 * The runtime installer's contract, on what needs no download: the pinned
 * Node 24 (the project's own devDependency) is answered with its version and
 * path, a runtime already installed is answered without a reinstall, and an
 * unknown name gets one line and exit code 2.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { skipping } from '../fixtures/skip.ts'
import { RUNTIMES, isRuntime, whichRuntime } from './which.ts'

const here = dirname(fileURLToPath(import.meta.url))
const install = join(here, 'install.sh')

function run (...args: string[]): { code: number | null, stdout: string, stderr: string, ms: number } {
  const started = performance.now()
  const r = spawnSync('bash', [install, ...args], { encoding: 'utf8', timeout: 120_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - started }
}

describe('test/runtimes/install.sh', () => {
  it('answers node24 with the pinned devDependency, its version and path', () => {
    const r = run('node24')
    expect(r.code, r.stderr).toBe(0)
    const [name, version, path] = r.stdout.trim().split(' ')
    expect(name).toBe('node24')
    const pinned = JSON.parse(readFileSync(resolve(here, '../../node_modules/node/package.json'), 'utf8')).version
    expect(version).toBe(pinned)
    expect(existsSync(path)).toBe(true)
    expect(whichRuntime('node24')).toBe(path)
  })

  const dir = process.env.RX_TCP_RUNTIMES_DIR ?? resolve(here, '../../.runtimes')
  const installed = RUNTIMES.filter(rt => existsSync(join(dir, rt, '.lock-sha')))
  it.skipIf(installed.length === 0)(skipping(`answers the runtimes installed in ${dir} (${installed.join(', ')}) without installing them again`, installed.length === 0 ? `no runtime installed in ${dir} yet (npm run runtimes:install)` : undefined), () => {
    const r = run(...installed)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).not.toMatch(/installing/)
    expect(r.stdout.trim().split('\n').map(line => line.split(' ')[0])).toEqual(installed)
  })

  it('refuses an unknown runtime with one line and exit code 2', () => {
    const r = run('node23')
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr.trimEnd().split('\n')).toEqual([`install.sh: unknown runtime 'node23' (known: ${RUNTIMES.join(' ')})`])
  })

  it('pins every other runtime with a package.json and a committed lockfile', () => {
    for (const rt of RUNTIMES.filter(r => r !== 'node24')) {
      const pins = join(here, 'pins', rt)
      expect(existsSync(join(pins, 'package.json')), rt).toBe(true)
      const lock = JSON.parse(readFileSync(join(pins, 'package-lock.json'), 'utf8'))
      const [dep, version] = Object.entries(JSON.parse(readFileSync(join(pins, 'package.json'), 'utf8')).dependencies as Record<string, string>)[0]
      expect(lock.packages[`node_modules/${dep}`]?.version, `${rt} locked at its pinned version`).toBe(version)
    }
    expect(RUNTIMES.every(isRuntime)).toBe(true)
  })
})
