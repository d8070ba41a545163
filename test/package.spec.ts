/**
 * The package as a user gets it. `npm pack` (whose `prepack` cleans and
 * builds dist) makes the tarball; an empty project in a temp dir installs it
 * with libp2p, noise, yamux, rxjs and @types/node at the versions this
 * project's lockfile holds (`--prefer-offline`: a warm npm cache serves
 * them). There the project's pinned Node, with no tsx and no loader, runs
 * `test/fixtures/package-consumer/echo.mjs`, and the project's pinned tsc
 * checks `consumer.ts` with `moduleResolution` node16 and bundler; those
 * three run side by side, with a browser bundle of `rx-tcp` (esbuild,
 * platform browser) that must resolve the `browser` condition.
 *
 * With a warm npm cache it took 21–36 s on the 2-core CI machine shared with
 * other work (pack 7–9 s, install 6–17 s, then the .mjs and both tsc runs
 * side by side, 6–8 s; ~27 s of CPU), and up to 90 s under a load of 15.
 * Each step is killed after its own bound (each test waits up to 90 s, as
 * steps run side by side on a loaded machine), and a failure names the step,
 * its command and its stderr. publint and attw check the tarball itself.
 */
import { execFile } from 'node:child_process'
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { browserBundle } from './fixtures/browser-bundle.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const fixtures = join(root, 'test', 'fixtures', 'package-consumer')
/** the `node` devDependency: the Node this project pins, not the machine's */
const node = join(root, 'node_modules', '.bin', 'node')

/** what the consumer installs beside the tarball, at this project's versions */
const companions = ['libp2p', '@chainsafe/libp2p-noise', '@chainsafe/libp2p-yamux', 'rxjs', '@types/node']
/** the project's pinned TypeScript: the same compiler a consumer installing it would get, without unpacking 23 MB again */
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')

/** the only paths the tarball may hold */
const shipped = [/^LICENSE$/, /^README\.md$/, /^CHANGELOG\.md$/, /^package\.json$/, /^dist\/(src|operators)\//, /^(src|operators)\/[\w/-]+(\.browser)?\.ts$/]

/** npm settings a user would have (registry, cache, proxy) pass; what `npm test` sets for this project does not */
const keptNpmEnv = /^npm_config_(registry|cache|userconfig|globalconfig|proxy|https_proxy|noproxy|strict_ssl|cafile)$/i

function consumerEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) && !keptNpmEnv.test(key)) continue
    if (key === 'NODE_OPTIONS') continue
    env[key] = value
  }
  // npm's own scripts run on the pinned Node too
  env.PATH = [join(root, 'node_modules', '.bin'), process.env.PATH].join(delimiter)
  return env
}

/** Runs one step; a failure says which step, how it ended, and what it printed. */
async function step (name: string, command: string, args: string[], cwd: string, timeout: number): Promise<string> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, timeout, env: consumerEnv(), maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err == null) {
        console.log(`package: ${name} took ${((performance.now() - started) / 1000).toFixed(1)} s`)
        resolve(stdout)
        return
      }
      const errorLines = stdout.split('\n').filter(line => /error TS\d+/.test(line))
      const how = err.killed === true ? `killed after ${timeout}ms (${err.signal ?? 'SIGTERM'})` : `exit ${String(err.code)}`
      reject(new Error([
        `step "${name}" failed: ${how}`,
        `  $ (cd ${cwd} && ${command} ${args.join(' ')})`,
        '--- stderr ---', stderr.trim() === '' ? '(empty)' : stderr.trim(),
        // tsc reports its errors on stdout, among the files it lists
        ...errorLines.length > 0 ? ['--- tsc errors on stdout ---', ...errorLines] : [],
        '--- stdout (end) ---', stdout.trim() === '' ? '(empty)' : stdout.trim().slice(-2000)
      ].join('\n')))
    })
  })
}

/** a tool from this project's node_modules/.bin, run on the pinned Node through `consumerEnv`'s PATH */
function bin (name: string): string {
  return join(root, 'node_modules', '.bin', name)
}

async function versionOf (name: string): Promise<string> {
  const manifest = JSON.parse(await readFile(join(root, 'node_modules', name, 'package.json'), 'utf8'))
  return manifest.version
}

describe('the packed tarball, installed in an empty project', () => {
  let dir: string
  let installed: string
  let tarball: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rx-tcp-package-'))
    await step('npm pack', 'npm', ['pack', '--pack-destination', dir], root, 90_000)
    const packed = (await readdir(dir)).find(file => file.endsWith('.tgz'))
    if (packed == null) throw new Error(`npm pack left no .tgz in ${dir}`)
    tarball = packed

    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'rx-tcp-consumer', private: true, type: 'module' }, null, 2))
    const specs = await Promise.all(companions.map(async name => `${name}@${await versionOf(name)}`))
    await step('npm install', 'npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', `./${tarball}`, ...specs], dir, 150_000)
    await cp(fixtures, dir, { recursive: true })
    installed = join(dir, 'node_modules', 'rx-tcp')
  }, 260_000)

  afterAll(async () => {
    if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  it('holds the licence, the readme, the built entry points and nothing else', async () => {
    const files = (await readdir(installed, { recursive: true, withFileTypes: true }))
      .filter(entry => entry.isFile())
      .map(entry => relative(installed, join(entry.parentPath, entry.name)))
    expect(files).toEqual(expect.arrayContaining([
      'LICENSE', 'README.md', 'CHANGELOG.md', 'package.json',
      'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/index.browser.js', 'dist/operators/index.js', 'dist/operators/index.d.ts',
      'dist/operators/proxy-protocol/index.js', 'dist/operators/proxy-protocol/index.d.ts', 'dist/operators/servers/index.js', 'dist/operators/servers/index.d.ts'
    ]))
    expect(files.filter(file => !shipped.some(pattern => pattern.test(file)))).toEqual([])
    expect(await readFile(join(installed, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) 2026 rx-tcp contributors\n/)

    const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8'))
    const targets = Object.values(manifest.exports as Record<string, Record<string, string>>).flatMap(conditions => Object.values(conditions))
    expect(targets.length).toBeGreaterThan(0)
    for (const target of targets) {
      await expect(stat(join(installed, target)), `exports target ${target}`).resolves.toBeDefined()
    }
  })

  it('emits JavaScript whose relative imports Node can load (no .ts extensions left)', async () => {
    const emitted = (await readdir(join(installed, 'dist'), { recursive: true })).filter(file => file.endsWith('.js'))
    expect(emitted.length).toBeGreaterThan(10)
    const tsImports: string[] = []
    for (const file of emitted) {
      const source = await readFile(join(installed, 'dist', file), 'utf8')
      for (const match of source.matchAll(/(?:from\s*|import\s*\(\s*)['"](\.{1,2}\/[^'"]*\.[cm]?ts)['"]/g)) {
        tsImports.push(`dist/${file}: ${match[1]}`)
      }
    }
    expect(tsImports).toEqual([])
  })

  it.concurrent('runs a plain .mjs on the pinned Node: two nodes echo bytes and an operator refuses a dial', async ({ expect }) => {
    const stdout = await step('node echo.mjs', node, ['echo.mjs'], dir, 40_000)
    expect(stdout).toContain('echoed 262144 bytes through rx-tcp, noise and yamux')
    expect(stdout).toContain('a denyCidr listener refused the dial')
    expect(stdout).toContain('all nodes stopped')
  }, 90_000)

  it.concurrent('passes publint with warnings counted as errors', async ({ expect }) => {
    const stdout = await step('publint', bin('publint'), ['run', '--strict', join(dir, tarball)], dir, 60_000)
    expect(stdout).toContain('All good!')
  }, 90_000)

  it.concurrent('has types that resolve for node16 (ESM) and bundler, with attw', async ({ expect }) => {
    // esm-only: the package has no CommonJS build, which the README says; attw still checks every other resolution
    const stdout = await step('attw', bin('attw'), ['--profile', 'esm-only', '--format', 'json', join(dir, tarball)], dir, 60_000)
    const { analysis } = JSON.parse(stdout) as { analysis: { packageName: string, problems: Array<{ kind: string, resolutionKind?: string, entrypoint?: string }>, entrypoints: Record<string, { resolutions: Record<string, unknown> }> } }
    expect(analysis.packageName).toBe('rx-tcp')
    expect(Object.keys(analysis.entrypoints)).toEqual(['.', './operators', './proxy-protocol', './servers'])
    const counted = analysis.problems.filter(problem => problem.resolutionKind == null || ['node16-esm', 'bundler'].includes(problem.resolutionKind))
    expect(counted).toEqual([])
  }, 90_000)

  it.concurrent('resolves the browser condition for a browser bundle: no node:net, and tcp() throws naming rx-tcp', async ({ expect }) => {
    const { inputs, exports } = await browserBundle({ stdin: { contents: "export { tcp } from 'rx-tcp'", resolveDir: dir, loader: 'js' }, absWorkingDir: dir })
    expect(inputs).toContain('node_modules/rx-tcp/dist/src/index.browser.js')
    expect(inputs.filter((input) => input.startsWith('node:') || (input.startsWith('node_modules/rx-tcp/') && !input.endsWith('/index.browser.js')))).toEqual([])
    expect(() => exports.tcp()).toThrow(/^rx-tcp: TCP connections are not possible in browsers/)
  }, 90_000)

  for (const resolution of ['node16', 'bundler']) {
    it.concurrent(`type-checks a consumer importing rx-tcp and rx-tcp/operators with moduleResolution ${resolution}`, async ({ expect }) => {
      const stdout = await step(`tsc (${resolution})`, node, [tsc, '--noEmit', '--listFiles', '-p', `tsconfig.${resolution}.json`], dir, 60_000)
      // the declarations import each other as './x.ts': each must have resolved to its .d.ts
      const loaded = stdout.split('\n').map(line => relative(installed, line.trim())).filter(file => !file.startsWith('..'))
      expect(loaded).toEqual(expect.arrayContaining(['dist/src/index.d.ts', 'dist/operators/index.d.ts', 'dist/src/core/types.d.ts', 'dist/operators/proxy-protocol/index.d.ts', 'dist/operators/servers/index.d.ts']))
    }, 90_000)
  }
})
