/**
 * `dryRun` on the limits and CIDR rules: what they would reject is counted
 * as `dry_run_<reason>` and reported, and goes on; nothing is rejected, and
 * what would have been rejected does not enter the limit's state (as
 * nginx's `limit_conn_dry_run`). In an rx-tcp node the count lands in
 * `libp2p_tcp_listener_events_total`.
 */
import net from 'node:net'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { pipe } from 'rxjs'
import { TestScheduler } from 'rxjs/testing'
import { beforeEach, describe, expect, it } from 'vitest'
import { allowCidr, denyCidr, maxConnections, metricsTap, perSubnetLimit, perSubnetRateLimit } from '../../operators/index.ts'
import { guardServer } from '../../operators/servers/index.ts'
import { tcp } from '../../src/index.ts'
import { recordingMetrics } from '../fixtures/metrics.ts'
import { fakeInbounds, marbleScheduler } from '../fixtures/operators-fakes.ts'
import { destroyAll } from '../fixtures/raw-sockets.ts'
import { passThroughUpgrader } from '../fixtures/upgraders.ts'
import { waitForEvent, waitUntil } from '../fixtures/wait.ts'
import type { InboundSocket } from '../../operators/index.ts'
import type { AddressInfo, Socket } from 'node:net'
import type { MonoTypeOperatorFunction } from 'rxjs'

describe('dryRun', () => {
  let scheduler: TestScheduler
  beforeEach(() => { scheduler = marbleScheduler(TestScheduler, expect) })

  /** each rule, with what it would reject among a…e (a, b, c from 10.0.0.1; d from 10.0.0.2; e from 192.0.2.9) */
  const rules: Array<{ name: string, rule: (dryRun: any) => MonoTypeOperatorFunction<InboundSocket>, would: string[] }> = [
    { name: 'allowCidr', rule: (dryRun) => allowCidr(['10.0.0.0/8'], { dryRun }), would: ['e cidr-not-allowed'] },
    { name: 'denyCidr', rule: (dryRun) => denyCidr(['10.0.0.2/32'], { dryRun }), would: ['d cidr-denied'] },
    { name: 'perSubnetLimit', rule: (dryRun) => perSubnetLimit({ max: 2, dryRun }), would: ['c subnet-limit'] },
    { name: 'perSubnetRateLimit', rule: (dryRun) => perSubnetRateLimit({ rate: 1, burst: 1, scheduler, dryRun }), would: ['b subnet-rate-limit', 'c subnet-rate-limit'] },
    { name: 'maxConnections', rule: (dryRun) => maxConnections({ max: 3, dryRun }), would: ['d max-connections', 'e max-connections'] }
  ]

  for (const { name, rule, would } of rules) {
    it(`${name}: rejects nothing, counts dry_run_<reason> and tells the listener function what it would have rejected`, () => {
      const fake = fakeInbounds(scheduler)
      const counted: string[] = []
      const reported: string[] = []
      const names = new Map<unknown, string>()
      const s = fake.many({ a: '10.0.0.1', b: '10.0.0.1', c: '10.0.0.1', d: '10.0.0.2', e: '192.0.2.9' })
      for (const [key, inbound] of Object.entries(s)) {
        names.set(inbound.socket, key)
        Object.assign(inbound, { count: (event: string) => { counted.push(`${key} ${event}`) } })
      }
      scheduler.run(({ hot, expectObservable }) => {
        expectObservable(hot('-a-b-c-d-e-|', s).pipe(rule((inbound: InboundSocket, reason: string) => { reported.push(`${names.get(inbound.socket) ?? '?'} ${reason}`) }), fake.named()))
          .toBe('-a-b-c-d-e-|')
      })
      expect(fake.rejected).toEqual([])
      expect(reported).toEqual(would)
      expect(counted).toEqual(would.map((line) => line.replace(' ', ' dry_run_')))
    })

    it(`${name}: dryRun true counts without a function; without dryRun the same sockets are rejected`, () => {
      const fake = fakeInbounds(scheduler)
      const s = fake.many({ a: '10.0.0.1', b: '10.0.0.1', c: '10.0.0.1', d: '10.0.0.2', e: '192.0.2.9' })
      scheduler.run(({ hot, expectObservable }) => {
        expectObservable(hot('-a-b-c-d-e-|', s).pipe(rule(true), fake.named())).toBe('-a-b-c-d-e-|')
      })
      expect(fake.rejected).toEqual([])
      // a fresh clock for the same sockets without dry run
      scheduler = marbleScheduler(TestScheduler, expect)
      const strict = fakeInbounds(scheduler)
      const t = strict.many({ a: '10.0.0.1', b: '10.0.0.1', c: '10.0.0.1', d: '10.0.0.2', e: '192.0.2.9' })
      scheduler.run(({ hot, expectObservable }) => {
        expectObservable(hot('-a-b-c-d-e-|', t).pipe(rule(undefined), strict.named())).toBe(
          '-' + ['a', 'b', 'c', 'd', 'e'].map((k) => would.some((line) => line.startsWith(`${k} `)) ? '-' : k).join('-') + '-|'
        )
      })
      expect(strict.rejected.map((line) => line.replace(/ @\d+$/, ''))).toEqual(would)
    })
  }

  it('behind guardServer, a metricsTap counts what a dry-run denyCidr would reject, in its own group', async () => {
    const metrics = recordingMetrics()
    const tap = metricsTap({ metrics })
    const server = net.createServer((socket) => { socket.end('served') })
    const subscription = guardServer(server, pipe(tap.inbound, denyCidr(['127.0.0.3/32'], { dryRun: true }))).subscribe()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    const clients: Socket[] = []
    try {
      for (const localAddress of ['127.0.0.2', '127.0.0.3']) {
        const socket = net.connect({ port, host: '127.0.0.1', localAddress })
        socket.on('error', () => {})
        clients.push(socket)
        expect(String(await waitForEvent(socket, 'data', 3_000, `the server to serve ${localAddress}`))).toBe('served')
      }
      const events = metrics.values.libp2p_tcp_listener_events_total ?? {}
      expect(events[`127.0.0.1:${port} dry_run_cidr-denied`]).toBe(1)
      expect(events[`127.0.0.1:${port} accepted`]).toBe(2)
    } finally {
      subscription.unsubscribe()
      await destroyAll(clients)
      await new Promise((resolve) => { server.close(resolve) })
    }
  })

  it('in an rx-tcp listener: a dry-run perSubnetLimit lets every socket be upgraded and counts dry_run_subnet-limit', async () => {
    const metrics = recordingMetrics()
    const transport = tcp({ inbound: perSubnetLimit({ max: 1, dryRun: true }) })({ logger: defaultLogger(), metrics })
    const upgrader = passThroughUpgrader()
    const listener = transport.createListener({ upgrader })
    await listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))
    const port = Number(listener.getAddrs()[0].getComponents()[1].value)
    const clients: Socket[] = []
    try {
      for (let i = 0; i < 3; i++) {
        const socket = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' })
        socket.on('error', () => {})
        clients.push(socket)
      }
      await waitUntil(() => upgrader.inbound.length === 3, 3_000, 'all three sockets to be upgraded')
      const events = metrics.values.libp2p_tcp_listener_events_total ?? {}
      expect(events[`127.0.0.1:${port} dry_run_subnet-limit`]).toBe(2)
      expect(Object.keys(events).filter((key) => key.includes('rejected_'))).toEqual([])
    } finally {
      await destroyAll(clients)
      await listener.close()
    }
  })
})
