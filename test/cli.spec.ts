/**
 * The tools answer like tools: `parseCli` (test/fixtures/cli.ts) types and
 * bounds every option, and each `npm run <tool>` prints its options with
 * `--help` and answers a mistake with one line and exit code 2.
 */
import { execFileSync, spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { CliUsageError, helpText, parseCliArgs, replayCommand, usageLine } from './fixtures/cli.ts'
import { REPO_ROOT, recordFile, resultFile } from './fixtures/results.ts'
import { TimedRun } from './fixtures/timed-run.ts'

const spec = {
  tool: 'demo',
  summary: 'a tool for the tests',
  options: {
    rounds: { type: 'integer', min: 1, default: 10, description: 'rounds' },
    seed: { type: 'integer', description: 'seed' },
    rate: { type: 'number', above: 0, max: 5, default: 1.5, description: 'rate' },
    size: { type: 'size', min: 1, default: '64KiB', description: 'size' },
    variant: { type: 'string', choices: ['rx', 'ref'], default: 'rx', description: 'variant' },
    kinds: { type: 'list', choices: ['a', 'b', 'c'], description: 'kinds' },
    out: { type: 'string', placeholder: 'FILE', description: 'out' },
    quiet: { type: 'boolean', description: 'quiet' }
  }
} as const

function mistake (argv: string[]): string {
  try {
    parseCliArgs(spec, argv)
  } catch (err) {
    expect(err).toBeInstanceOf(CliUsageError)
    return (err as Error).message
  }
  throw new Error(`${argv.join(' ')} was taken`)
}

describe('parseCli', () => {
  it('gives the defaults, typed, when nothing is given', () => {
    expect(parseCliArgs(spec, [])).toEqual({ rounds: 10, seed: undefined, rate: 1.5, size: 65536, variant: 'rx', kinds: undefined, out: undefined, quiet: false })
  })

  it('converts what is given: integers, numbers, sizes, choices, lists, flags, negative values', () => {
    expect(parseCliArgs(spec, ['--rounds', '3', '--seed=-7', '--rate', '0.25', '--size', '1MiB', '--variant', 'ref', '--kinds', 'a,c', '--out', 'x.json', '--quiet']))
      .toEqual({ rounds: 3, seed: -7, rate: 0.25, size: 2 ** 20, variant: 'ref', kinds: ['a', 'c'], out: 'x.json', quiet: true })
    expect(parseCliArgs(spec, ['--seed', '-7']).seed).toBe(-7)
  })

  it.each([
    [['--bogus'], "demo: Unknown option '--bogus'"],
    [['--rounds', 'x'], 'demo: --rounds must be an integer from 1 up, got "x"'],
    [['--rounds', '0'], 'demo: --rounds must be an integer from 1 up, got "0"'],
    [['--rounds', '-1'], 'demo: --rounds must be an integer from 1 up, got "-1"'],
    [['--rounds', '2.5'], 'demo: --rounds must be an integer from 1 up, got "2.5"'],
    [['--rounds'], "demo: Option '--rounds <value>' argument missing"],
    [['--rate', '0'], 'demo: --rate must be a number above 0 up to 5, got "0"'],
    [['--rate', 'NaN'], 'demo: --rate must be a number above 0 up to 5, got "NaN"'],
    [['--size', '12 parsecs'], 'demo: --size must be a size such as 65536, 64KiB or 256MiB (at least 1 bytes), got "12 parsecs"'],
    [['--variant', 'broken'], 'demo: --variant must be one of rx, ref, got "broken"'],
    [['--kinds', 'a,z'], 'demo: --kinds must be a comma-separated list of a, b, c, got "a,z"'],
    [['--quiet=yes'], "demo: Option '--quiet' does not take an argument"],
    [['stray'], "demo: Unexpected argument 'stray'"]
  ])('%j: one line naming it, with the usage', (argv, start) => {
    const message = mistake(argv)
    expect(message.split('\n')).toHaveLength(1)
    expect(message.startsWith(`${start}; usage: npm run demo -- `), message).toBe(true)
    expect(message.endsWith('(--help for details)')).toBe(true)
  })

  it('writes the usage and the help from the options', () => {
    expect(usageLine(spec)).toBe('npm run demo -- [--rounds N] [--seed N] [--rate N] [--size SIZE] [--variant rx|ref] [--kinds LIST] [--out FILE] [--quiet]')
    const help = helpText(spec)
    for (const name of Object.keys(spec.options)) expect(help).toContain(`--${name}`)
    expect(help).toContain('rounds (default 10)')
    expect(help).toContain('-h, --help')
  })

  it('writes the command that replays a run, which parses back to the same values', () => {
    const command = replayCommand('demo', { rounds: 3, seed: 7, kinds: ['a', 'c'], out: undefined, quiet: true, variant: 'ref' })
    expect(command).toBe('npm run demo -- --rounds 3 --seed 7 --kinds a,c --quiet --variant ref')
    expect(parseCliArgs(spec, command.split(' ').slice(4))).toMatchObject({ rounds: 3, seed: 7, kinds: ['a', 'c'], out: undefined, quiet: true, variant: 'ref' })
    expect(replayCommand('demo', { quiet: false, seed: 0 })).toBe('npm run demo -- --seed 0')
  })
})

describe('where the tools write', () => {
  afterAll(() => { rmSync(join(REPO_ROOT, '.results', 'cli-spec'), { recursive: true, force: true }) })

  it('a user\'s run: .results/<tool>/, which git ignores', () => {
    const file = resultFile({ tool: 'cli-spec', committed: 'test/cli-spec/results', name: 'latest' })
    expect(file).toBe(join(REPO_ROOT, '.results', 'cli-spec', 'latest.json'))
    // git check-ignore exits 0 for an ignored path (and 1 for one that is not)
    expect(() => execFileSync('git', ['check-ignore', '-q', file], { cwd: REPO_ROOT })).not.toThrow()
  })

  it('--record NAME: the committed folder; a path as given; --out wins', () => {
    expect(recordFile('test/chaos/results', 'broken')).toBe(join(REPO_ROOT, 'test/chaos/results/broken.json'))
    expect(recordFile('test/chaos/results', '/tmp/run-1.json')).toBe('/tmp/run-1.json')
    expect(resultFile({ tool: 'cli-spec', committed: 'x', name: 'latest', record: 'r', out: join(REPO_ROOT, '.results', 'cli-spec', 'o.json') })).toBe(join(REPO_ROOT, '.results', 'cli-spec', 'o.json'))
  })
})

describe('a run bounded in time', () => {
  afterEach(() => { vi.useRealTimers() })

  it('keeps the timeline, and has a progress line due every 10 s and once the time is up', () => {
    vi.useFakeTimers({ now: 0, toFake: ['Date'] })
    const run = new TimedRun(25)
    const at = (ms: number, runs: number): boolean => {
      vi.setSystemTime(ms)
      return run.mark(runs)
    }
    expect([at(4_000, 1), at(10_000, 2), at(19_999, 3), at(20_000, 4), at(24_999, 5), run.timeUp, at(25_000, 6), run.timeUp])
      .toEqual([false, true, false, true, false, false, true, true])
    expect(run.timeline.map(({ seconds }) => seconds)).toEqual([4, 10, 19.999, 20, 24.999, 25])
    expect(run.timeline.map(({ runs }) => runs)).toEqual([1, 2, 3, 4, 5, 6])
    expect(run.durationMs).toBe(25_000)
  })
})

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** Runs `node --import tsx <file> ...args` from the repository root, bounded */
async function runTool (file: string, args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => { stdout += String(chunk) })
    child.stderr.on('data', (chunk) => { stderr += String(chunk) })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${file} ${args.join(' ')} did not exit within 60 s; stdout: ${stdout.slice(0, 500)}`))
    }, 60_000)
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

const TOOLS = [
  { tool: 'bench', file: 'bench/run.ts', option: '--reps', bad: ['--reps', 'x'] },
  { tool: 'chaos', file: 'test/chaos/run.ts', option: '--rounds', bad: ['--rounds', 'x'] },
  { tool: 'load', file: 'test/load/run.ts', option: '--upgraded', bad: ['--variant', 'quic'] },
  { tool: 'sim', file: 'test/sim/run.ts', option: '--nodes', bad: ['--nodes', '-3'] },
  { tool: 'soak', file: 'test/soak/run.ts', option: '--minutes', bad: ['--minutes', '-1'] },
  { tool: 'fuzz', file: 'test/fuzz/run.ts', option: '--minutes', bad: ['--seconds', 'x'] },
  { tool: 'pipelines', file: 'test/pipelines/run.ts', option: '--minutes', bad: ['--runs', '0'] },
  { tool: 'bench:proxy', file: 'bench/proxy-header.ts', option: '--sockets', bad: ['--reps', '0'] },
  { tool: 'bench:upgrade-cap', file: 'bench/upgrade-cap.ts', option: '--clients', bad: ['--send', 'x'] },
  { tool: 'runtimes:matrix', file: 'test/runtimes/matrix.ts', option: '--checks', bad: ['--chaos-rounds', '0'] },
  { tool: 'runtimes', file: 'test/churn/run.ts', option: '--seconds', bad: ['--nodes', '1'] },
  { tool: 'worker-exit', file: 'test/worker/run.ts', option: '--bound', bad: ['--runtime', 'node20'] },
  { tool: 'interop', file: 'test/interop/run.ts', option: '--peers', bad: ['--peers', 'java'] },
  { tool: 'holepunch', file: 'test/holepunch/run.ts', option: '--attempts', bad: ['--transports', 'quic'] },
  { tool: 'size', file: 'bench/size.ts', option: '--entry', bad: ['--max', '0'] },
  { tool: 'port-reuse', file: 'test/port-reuse/measure.ts', option: '--time-wait-limit', bad: ['--trials', '0'] },
  { tool: 'flood', file: 'test/flood/run.ts', option: '--attacks', bad: ['--attacks', 'smurf@many16'] }
]

describe.each(TOOLS)('npm run $tool', ({ tool, file, option, bad }) => {
  it.concurrent('prints its options with --help and exits 0', async ({ expect }) => {
    const { code, stdout, stderr } = await runTool(file, ['--help'])
    expect(stderr).toBe('')
    expect(code).toBe(0)
    expect(stdout.startsWith(`npm run ${tool} -- [options]`)).toBe(true)
    expect(stdout).toContain(option)
    expect(stdout).toContain('--record NAME')
    expect(stdout).toContain('-h, --help')
  }, 90_000)

  it.concurrent(`answers --bogus and ${bad.join(' ')} with one line and exit code 2`, async ({ expect }) => {
    for (const args of [['--bogus'], bad]) {
      const { code, stdout, stderr } = await runTool(file, args)
      expect(code, `${args.join(' ')}: exit code`).toBe(2)
      expect(stdout).toBe('')
      const lines = stderr.trimEnd().split('\n')
      expect(lines, `${args.join(' ')}: ${stderr}`).toHaveLength(1)
      expect(lines[0]).toMatch(new RegExp(`^${tool}: .*${args[0]}.*; usage: npm run ${tool} -- \\[`))
      expect(stderr).not.toMatch(/\n\s+at /)
    }
  }, 90_000)
})

describe.each(TOOLS.filter(({ tool }) => tool === 'fuzz' || tool === 'pipelines'))('npm run $tool, which runs until its time is up', ({ tool, file }) => {
  it.concurrent('refuses --minutes with --seconds in one line, exit code 2', async ({ expect }) => {
    const { code, stdout, stderr } = await runTool(file, ['--minutes', '1', '--seconds', '1'])
    expect(code).toBe(2)
    expect(stdout).toBe('')
    expect(stderr).toBe(`${tool}: give --minutes or --seconds, not both; usage: npm run ${tool} -- [--minutes N | --seconds N] (--help for details)\n`)
  }, 90_000)
})
