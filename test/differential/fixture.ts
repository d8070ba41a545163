/**
 * The shared fixture of the differential suite (`test/differential/*.spec.ts`): every scenario runs against rx-tcp and against
 * `@libp2p/tcp` 11.0.28, the transport it replaces, and compares what a
 * user's code can observe: the class, `name` and `code` of each failure of
 * `listen`, `dial` and `close`; the listener's events in order; `getAddrs()`;
 * the metric keys a scenario leaves behind; a dial's progress events; the
 * address filters.
 *
 * Where the two agree, `same()` asserts one expected value for both. Where
 * rx-tcp differs on purpose, `intended()` asserts both values side by side;
 * each of those is listed, with its reason, in the README under
 * "Differences from `@libp2p/tcp`". Any other difference fails there.
 *
 * Each spec file holds one behaviour and calls `differentialSuite()` once.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { defaultLogger } from '@libp2p/logger'
import { tcp as refTcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, afterEach, beforeAll, expect } from 'vitest'
import { tcp as rxTcp } from '../../src/index.ts'
import { recordingMetrics } from '../fixtures/metrics.ts'
import { countingServer } from '../fixtures/servers.ts'
import { passThroughUpgrader } from '../fixtures/upgraders.ts'
import { tcpHandles, waitForEvent, waitUntil, within } from '../fixtures/wait.ts'
import type { Listener, Transport, Upgrader } from '@libp2p/interface'
import type { ChildProcess } from 'node:child_process'

export type Kind = 'rx' | 'ref'
export const factories = { rx: rxTcp, ref: refTcp }

/** What a user's code can tell about a failure */
export interface Failure { class: string, name: string, code?: string | number }

/** What each scenario opened, closed after it in reverse order */
const cleanup: Array<() => Promise<void> | void> = []
let tmp: string | undefined

/**
 * Registers the hooks of a differential spec file: after each scenario what
 * it opened is closed and no TCP handle may be left; a temp dir for unix
 * paths lives as long as the file. Call it once at the top of the file.
 */
export function differentialSuite (): { readonly tmp: string } {
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn()
    await waitUntil(() => tcpHandles().length === 0, 2000, `no TCP handle left after the scenario: ${tcpHandles().join()}`)
  })
  beforeAll(async () => { tmp = await mkdtemp(join(tmpdir(), 'rx-tcp-differential-')) })
  afterAll(async () => {
    if (tmp != null) await rm(tmp, { recursive: true, force: true })
    tmp = undefined
  })
  return {
    get tmp () {
      if (tmp == null) throw new Error('the temp dir exists only while the spec file runs')
      return tmp
    }
  }
}

/** Runs a scenario once per transport, rx-tcp first */
export async function both<T> (scenario: (kind: Kind) => Promise<T>): Promise<Record<Kind, T>> {
  return { rx: await scenario('rx'), ref: await scenario('ref') }
}

/** Both transports gave `expected` */
export function same<T> (observed: Record<Kind, T>, expected: T): void {
  expect(observed).toEqual({ rx: expected, ref: expected })
}

/** The transports differ on purpose (README, "Differences from `@libp2p/tcp`") */
export function intended<T> (observed: Record<Kind, T>, expected: Record<Kind, T>): void {
  expect(observed).toEqual(expected)
}

/** A transport outside any node, with its metrics recorded */
export function setup (kind: Kind, init: Record<string, unknown> = {}): { transport: Transport & { stop?: () => Promise<void> }, metrics: ReturnType<typeof recordingMetrics> } {
  const metrics = recordingMetrics()
  const transport = factories[kind](init)({ logger: defaultLogger(), metrics }) as any
  cleanup.push(async () => { await transport.stop?.() })
  return { transport, metrics }
}

export function failure (err: any): Failure {
  expect(err, 'a failure').toBeInstanceOf(Error)
  return { class: err.constructor.name, name: err.name, code: err.code }
}

export async function failureOf (promise: Promise<unknown>): Promise<Failure | 'resolved'> {
  return promise.then(() => 'resolved', failure)
}

/** The keys of every metric group that holds any, as `group{key}`, listening addresses written `<addr>` */
export function metricKeys (metrics: ReturnType<typeof recordingMetrics>): string[] {
  return Object.entries(metrics.values).flatMap(([group, values]) =>
    Object.keys(values).map(key => `${group}{${key.replace(/^(\[?[\d.:a-f]+\]?:\d+|\/\S+)(?= |$)/, '<addr>')}}`)
  ).sort()
}

/** The listener's events in order: `listening`, `close`, `error:<code>` */
export function recordEvents (listener: Listener): string[] {
  const events: string[] = []
  listener.addEventListener('listening', () => events.push('listening'))
  listener.addEventListener('close', () => events.push('close'))
  listener.addEventListener('error', (evt: any) => events.push(`error:${evt.detail?.code}`))
  return events
}

export function createListener (transport: Transport, upgrader: Upgrader = passThroughUpgrader()): Listener {
  const listener = transport.createListener({ upgrader })
  cleanup.push(async () => { await within(listener.close(), 5000, 'the listener to close') })
  return listener
}

/** A transport of `kind` and one listener of it with the pass-through upgrader, its events recorded */
export function listenerOf (kind: Kind, init: Record<string, unknown> = {}): ReturnType<typeof setup> & { upgrader: ReturnType<typeof passThroughUpgrader>, listener: Listener, events: string[] } {
  const made = setup(kind, init)
  const upgrader = passThroughUpgrader()
  const listener = createListener(made.transport, upgrader)
  return { ...made, upgrader, listener, events: recordEvents(listener) }
}

/** As `listenerOf`, listening on 127.0.0.1 on the port the kernel gives */
export async function listeningOn (kind: Kind, init: Record<string, unknown> = {}): Promise<ReturnType<typeof listenerOf> & { port: number }> {
  const made = listenerOf(kind, init)
  await made.listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))
  return { ...made, port: portOf(made.listener) }
}

export function portOf (listener: Listener): number {
  return Number(listener.getAddrs()[0].getComponents()[1].value)
}

/** A plain server holding a port, for the transports to collide with or dial */
export async function plainServer (): Promise<{ port: number, open: () => number }> {
  return countingServer(cleanup)
}

/** A socket to 127.0.0.1:`port`, destroyed after the scenario */
export function rawClient (port: number): net.Socket {
  const socket = net.connect(port, '127.0.0.1')
  socket.on('error', () => {})
  cleanup.push(() => { socket.destroy() })
  return socket
}

/** A port on 127.0.0.1 nobody listens on (the kernel gave it, then it was closed) */
export async function closedPort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise(resolve => server.close(resolve))
  return port
}

/**
 * A server in a child process whose backlog (1) is full and whose event loop
 * is blocked, so it never accepts: a further connect to it stays in SYN-SENT.
 */
export async function fullBacklog (): Promise<number> {
  const code = [
    "const server = require('node:net').createServer()",
    "server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {",
    "  process.stdout.write(server.address().port + '\\n')",
    '  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)',
    '})'
  ].join('\n')
  const child: ChildProcess = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise(resolve => child.once('exit', resolve))
  cleanup.push(async () => {
    child.kill('SIGKILL')
    await exited
  })
  const port = Number(String(await waitForEvent(child.stdout!, 'data', 10_000, 'the unaccepting server to listen')).trim())
  // the kernel completes backlog + 1 handshakes without the server; the next SYN is dropped
  const fillers = [rawClient(port), rawClient(port)]
  await Promise.all(fillers.map(async s => waitForEvent(s, 'connect', 2000, 'a connection into the backlog')))
  return port
}

/** A documentation address (RFC 5737, RFC 3849) that no interface of this host has: binding to it fails locally */
export function foreign (candidates: string[]): string {
  const local = new Set(Object.values(networkInterfaces()).flat().map(i => i?.address))
  const ip = candidates.find(a => !local.has(a))
  if (ip == null) throw new Error(`every candidate address is on this host: ${candidates.join()}`)
  return ip
}
