// npm run flood -- [--victims …] [--attacks mode@spread,…] [--rates N,…] [--window S] [--record NAME] (--help)
// The side-by-side flood: each victim (a libp2p node on one transport, pinned
// to a core of its own) serves good peers while a Go attacker opens
// connections from many loopback addresses at a rising rate. Per step and
// victim: good dials, ping, echo, the victim's CPU, memory and descriptors,
// how long attack sockets lived. See docs/under-attack.md.
import { execFileSync, fork, spawn } from 'node:child_process'
import { loadavg } from 'node:os'
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseCli, usageLine } from '../fixtures/cli.ts'
import { drawChartOnly, resultFile, shown, sibling } from '../fixtures/results.ts'
import { randomSeed } from '../fixtures/seed.ts'
import { drawFloodChart } from './chart.ts'
import { ATTACK_MODES, SPREADS, highestSurvived, judgeStep, summarize, verdict } from './report.ts'
import { VICTIM_NAMES, victimSpec } from './victims.ts'
import type { AttackSummary, FloodResult, StepResult } from './report.ts'
import type { GoodCommand, GoodReport, GoodWindow, VictimCommand, VictimReport, VictimSample } from './protocol.ts'
import type { ChildProcess } from 'node:child_process'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const spec = {
  tool: 'flood',
  summary: 'victims side by side under a connection flood from a Go attacker, good libp2p peers measuring what they still get; a seed is printed for replay',
  options: {
    victims: { type: 'list', default: ['rx-public', 'rx-bare', 'tcp-default', 'tcp-tuned'], description: `victims, each a preset (${VICTIM_NAMES.join(', ')}) optionally with connection-manager overrides, preset:key=N+key=N`, placeholder: 'LIST' },
    attacks: { type: 'list', default: ['mixed@many16'], description: `attacks, each mode@spread: modes ${ATTACK_MODES.join(', ')}; spreads ${SPREADS.join(', ')}`, placeholder: 'LIST' },
    rates: { type: 'list', default: ['25', '50', '100', '200', '400', '800'], description: 'attack connections per second, step by step', placeholder: 'LIST' },
    window: { type: 'number', min: 1, max: 600, default: 5, description: 'seconds of each step in which good peers dial and ping', placeholder: 'S' },
    warmup: { type: 'number', min: 0, max: 60, default: 2, description: 'seconds of attack before the window opens', placeholder: 'S' },
    peers: { type: 'integer', min: 1, max: 50, default: 6, description: 'good peers', placeholder: 'N' },
    far: { type: 'integer', min: 0, max: 50, default: 4, description: 'of them far away (--far-rtt), the rest near (--near-rtt)', placeholder: 'N' },
    'far-rtt': { type: 'integer', min: 0, max: 2_000, default: 300, description: 'round trip of a far good peer, ms (through its delay relay)', placeholder: 'MS' },
    'near-rtt': { type: 'integer', min: 0, max: 2_000, default: 20, description: 'round trip of a near good peer, ms', placeholder: 'MS' },
    'dial-every': { type: 'integer', min: 50, max: 60_000, default: 500, description: 'each good peer dials a fresh connection this often, ms', placeholder: 'MS' },
    'dial-timeout': { type: 'integer', min: 500, max: 60_000, default: 5_000, description: 'a good dial not connected by then failed, ms', placeholder: 'MS' },
    'stop-after': { type: 'integer', min: 1, max: 100, default: 2, description: 'a victim sits out the higher rates of an attack after keeping < 99 % good dials this many steps in a row', placeholder: 'N' },
    'profile-at': { type: 'integer', min: 1, description: 'write a CPU profile of every victim at this attack rate', placeholder: 'RATE' },
    expect: { type: 'string', description: 'victim@rate: PASS only if that victim keeps >= 99 % good dials at that rate (the CI run)', placeholder: 'V@RATE' },
    'victim-core': { type: 'integer', min: 0, default: 0, description: 'the core the victims are pinned to', placeholder: 'N' },
    'load-core': { type: 'integer', min: 0, default: 1, description: 'the core the attacker, good peers and this process are pinned to', placeholder: 'N' },
    nice: { type: 'integer', min: -20, max: 19, default: -10, description: 'niceness of the victims, the load and this process (below 0 needs root; ignored where refused)', placeholder: 'N' },
    seed: { type: 'integer', min: 0, description: 'seed of the attackers (default: random, printed)', placeholder: 'N' },
    record: { type: 'string', description: 'write the run to docs/results/flood-NAME.json (and .svg)', placeholder: 'NAME' },
    out: { type: 'string', description: 'write the JSON here instead', placeholder: 'FILE' },
    chart: { type: 'string', description: 'draw the chart of a run again from its JSON (FILE.svg next to it), and exit', placeholder: 'FILE' }
  },
  examples: [
    'npm run flood',
    'npm run flood -- --attacks silent@many16,half@many16,garbage@many16,reset@many16,drip@many16,mixed@many16,mixed@one24 --record full',
    'npm run flood -- --victims rx-bare,tcp-default --attacks mixed@many16 --rates 25 --window 3 --expect rx-bare@25'
  ]
} as const
const args = parseCli(spec)

drawChartOnly('flood', args.chart, drawFloodChart)

const fail = (message: string): never => {
  console.error(`flood: ${message}; usage: ${usageLine(spec)} (--help for details)`)
  process.exit(2)
}
let specs: ReturnType<typeof victimSpec>[] = []
try { specs = args.victims.map(victimSpec) } catch (err: any) { fail(err.message) }
const attacks = args.attacks.map((a) => {
  const [mode, spread = 'many16'] = a.split('@')
  if (!(ATTACK_MODES as readonly string[]).includes(mode) || !(SPREADS as readonly string[]).includes(spread)) fail(`--attacks: "${a}" is not mode@spread (modes ${ATTACK_MODES.join(', ')}; spreads ${SPREADS.join(', ')})`)
  return { mode, spread, name: `${mode}@${spread}` }
})
const rates = args.rates.map((r) => /^\d+$/.test(r) && Number(r) > 0 ? Number(r) : fail(`--rates: "${r}" is not a rate of connections per second`))
let expect: { victim: string, rate: number } | undefined
if (args.expect != null) {
  const [victim, rate] = args.expect.split('@')
  if (!args.victims.includes(victim) || !rates.includes(Number(rate))) fail(`--expect: "${args.expect}" must name a victim of --victims and a rate of --rates`)
  expect = { victim, rate: Number(rate) }
}
if (args.far > args.peers) fail(`--far ${args.far} is more than --peers ${args.peers}`)
const seed = args.seed ?? randomSeed()
console.log(`flood: seed ${seed}; victims ${args.victims.join(', ')}; attacks ${args.attacks.join(', ')}; rates ${rates.join(', ')}/s; window ${args.window} s`)

// the attacker, built once and cached like the interop peers
const attackerBin = fileURLToPath(new URL('.build/attacker', import.meta.url))
try {
  console.log(execFileSync('bash', [fileURLToPath(new URL('attacker/build.sh', import.meta.url))], { encoding: 'utf8' }).trim())
} catch (err: any) {
  console.error(`flood: FAIL the attacker did not build: ${String(err.stdout ?? err.message).trim()}`)
  process.exit(1)
}

/**
 * Pins a process (all its threads) to a core, and raises it a little above
 * the machine's other work (nice -10 by default, the same for victims and load), so that
 * what shares a loaded machine with the run disturbs it less.
 */
const pin = (pid: number, core: number): void => {
  execFileSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' })
  try { execFileSync('renice', ['-n', String(args.nice), '-p', String(pid)], { stdio: 'ignore' }) } catch {}
}
pin(process.pid, args['load-core'])

/** One child over IPC: send a command, wait for the report of a type */
class Child<C, R extends { type: string }> {
  readonly proc: ChildProcess
  readonly errors: string[] = []
  private readonly waiting: Array<{ type: string, resolve: (r: any) => void }> = []
  constructor (script: string, argv: string[]) {
    this.proc = fork(fileURLToPath(new URL(script, import.meta.url)), argv, {
      cwd: ROOT, execArgv: ['--expose-gc', '--max-old-space-size=4096', '--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    this.proc.on('message', (msg: R) => {
      if (msg.type === 'error') { this.errors.push((msg as any).text); return }
      const at = this.waiting.findIndex((w) => w.type === msg.type)
      if (at >= 0) this.waiting.splice(at, 1)[0].resolve(msg)
    })
  }

  async next<T extends R['type']> (type: T, ms = 60_000): Promise<Extract<R, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`no '${type}' from ${this.proc.pid} in ${ms} ms`)) }, ms)
      this.waiting.push({ type, resolve: (r) => { clearTimeout(timer); resolve(r) } })
    })
  }

  send (cmd: C): void { this.proc.send(cmd as any) }

  async ask<T extends R['type']> (cmd: C, type: T, ms?: number): Promise<Extract<R, { type: T }>> {
    const reply = this.next(type, ms)
    this.send(cmd)
    return reply
  }
}

const sleep = async (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

interface Victim { name: string, child: Child<VictimCommand, VictimReport>, addr: string }
const victims: Victim[] = []
for (const spec of specs) {
  const child = new Child<VictimCommand, VictimReport>('victim.ts', [spec.name])
  const ready = await child.next('ready')
  pin(ready.pid, args['victim-core'])
  victims.push({ name: spec.name, child, addr: ready.addr })
  console.log(`flood: victim ${spec.name} (${spec.description}) on ${ready.addr.split('/p2p/')[0]}, pid ${ready.pid}, core ${args['victim-core']}`)
}
const good = new Child<GoodCommand, GoodReport>('good.ts', [args.peers, args.far, args['far-rtt'], args['near-rtt'], args['dial-every'], args['dial-timeout']].map(String))
await good.next('ready')
pin(good.proc.pid as number, args['load-core'])
console.log(`flood: ${args.peers} good peers (${args.far} at ${args['far-rtt']} ms round trip, ${args.peers - args.far} at ${args['near-rtt']} ms) from 127.250.<i>.1, each dialing every ${args['dial-every']} ms`)

/** Runs the attacker for `seconds`; resolves with its summary */
async function attack (mode: string, spread: string, rate: number, seconds: number, target: string, attackSeed: number): Promise<AttackSummary> {
  const [host, port] = [target.split('/')[2], target.split('/')[4]]
  const proc = spawn('nice', ['-n', String(args.nice), 'taskset', '-c', String(args['load-core']), attackerBin, '-target', `${host}:${port}`, '-rate', String(rate), '-duration', `${seconds}s`, '-mode', mode, '-spread', spread, '-seed', String(attackSeed)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  proc.stdout.on('data', (d: Buffer) => { out += d.toString() })
  const code = await new Promise<number | null>((resolve) => proc.on('close', resolve))
  if (code !== 0) throw new Error(`attacker exited with ${code}`)
  return JSON.parse(out) as AttackSummary
}

async function sample (v: Victim, gc = false): Promise<VictimSample> {
  return (await v.child.ask({ type: 'sample', gc }, 'sample')).sample
}

/** Waits (bounded) until the victim holds no more descriptors than at the step's start */
async function coolDown (v: Victim, fds: number): Promise<number> {
  const start = performance.now()
  while (performance.now() - start < 15_000) {
    const s = await sample(v)
    if (s.fds <= fds + 2) break
    await sleep(250)
  }
  return Math.round(performance.now() - start)
}

async function step (v: Victim, attackName: string, mode: string, spread: string, rate: number, attackSeed: number): Promise<StepResult> {
  const connected = await good.ask({ type: 'connect', addr: v.addr }, 'connected', 30_000)
  if (connected.failed > 0) console.log(`flood: ${connected.failed} good peers could not open their long-lived connection to ${v.name}: ${[...new Set(connected.errors)].join('; ')}`)
  const before = await sample(v, true)
  const seconds = args.warmup + args.window + args['dial-timeout'] / 1000
  const attacking = rate > 0 ? attack(mode, spread, rate, seconds, v.addr, attackSeed) : undefined
  await sleep(args.warmup * 1000)
  const s0 = await sample(v)
  const profiling = args['profile-at'] === rate
  if (profiling) v.child.send({ type: 'profile-start' })
  good.send({ type: 'window-start' })
  await sleep(args.window * 1000)
  const windowDone = good.next('window', args['dial-timeout'] + 30_000)
  good.send({ type: 'window-end', settleMs: args['dial-timeout'] })
  // after a full GC: the heap the held attack sockets take (the good peers' pings of the window are already counted)
  const s1 = await sample(v, true)
  let profile: string | undefined
  if (profiling) {
    profile = resultFile({ tool: 'flood', committed: 'docs/results', name: `profile-${v.name}-${attackName}-${rate}`, out: undefined }).replace(/\.json$/, '.cpuprofile')
    await v.child.ask({ type: 'profile-stop', file: profile }, 'profiled')
  }
  const { window } = await windowDone
  const attackSummary = attacking != null ? await attacking : undefined
  await good.ask({ type: 'disconnect' }, 'disconnected', 30_000)
  const coolMs = await coolDown(v, before.fds)
  const after = await sample(v, true)
  return summarize({ victim: v.name, attack: attackName, rate, before, s0, s1, after, window: window as GoodWindow, attack$: attackSummary, coolMs, connected, profile, victimErrors: v.child.errors.length })
}

const steps: StepResult[] = []
const started = new Date()
const load = [loadavg()]
try {
  for (const [ai, a] of attacks.entries()) {
    const failedInRow = new Map<string, number>()
    for (const [ri, rate] of [0, ...rates].entries()) {
      // side by side and alternating: every victim at this rate, the order reversed every step
      const order = (ri % 2 === 0 ? victims : [...victims].reverse()).filter((v) => (failedInRow.get(v.name) ?? 0) < args['stop-after'])
      if (order.length === 0) break
      for (const v of order) {
        const quiet = steps.find((s) => s.victim === v.name && s.attack === a.name && s.rate === 0)
        const result = judgeStep(await step(v, a.name, a.mode, a.spread, rate, seed + ai * 1000 + ri), quiet)
        steps.push(result)
        console.log(`flood: ${result.line}`)
        // by dials alone: the ping p99 of a loaded machine is no reason to stop measuring a victim
        if (rate > 0) failedInRow.set(v.name, result.good.dialPct >= 99 ? 0 : (failedInRow.get(v.name) ?? 0) + 1)
      }
      load.push(loadavg())
    }
  }
} finally {
  for (const v of victims) v.child.send({ type: 'stop' })
  good.send({ type: 'stop' })
}

const result: FloodResult = {
  tool: 'flood',
  date: started.toISOString(),
  node: process.version,
  seed,
  loadavg: load.map((l) => l.map((x) => Math.round(x * 100) / 100)),
  options: { ...args, rates },
  victims: specs,
  steps,
  highest: highestSurvived(steps, specs.map((s) => s.name), attacks.map((a) => a.name)),
  highestByDials: highestSurvived(steps, specs.map((s) => s.name), attacks.map((a) => a.name), (s) => s.good.dialPct >= 99),
  uncaught: { victims: Object.fromEntries(victims.map((v) => [v.name, v.child.errors.length])), good: good.errors.length },
  errors: { victims: Object.fromEntries(victims.map((v) => [v.name, v.child.errors.slice(0, 5)])), good: good.errors.slice(0, 5) }
}
const file = resultFile({ tool: 'flood', committed: 'docs/results', name: 'latest', record: args.record != null ? `flood-${args.record}` : undefined, out: args.out })
writeFileSync(file, JSON.stringify(result, null, 2) + '\n')
writeFileSync(sibling(file, '.svg'), drawFloodChart(result))
console.log(`flood: results written to ${shown(file)} and ${shown(sibling(file, '.svg'))}`)
for (const line of verdict(result, expect).lines) console.log(line)
const v = verdict(result, expect)
console.log(v.last)
process.exit(v.pass ? 0 : 1)
