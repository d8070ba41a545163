/**
 * One test per row of issue 19's table: what a user wrote with ordinary RxJS
 * in `inbound` or `lifetime`, run on a real libp2p node (noise + yamux) with
 * 4 raw clients that never handshake and then a real libp2p peer. Each must
 * close every dropped socket within its bound, serve the peer (or, for a
 * stage completed on purpose, close visibly), stop in bounded time with no
 * handle left and nothing uncaught (see `scenario.ts`). Then the listener's
 * own race: `close()` while `listen()` is binding.
 */
import { multiaddr } from '@multiformats/multiaddr'
import net from 'node:net'
import { EMPTY, Subject, catchError, delay, filter, first, identity, ignoreElements, map, merge, mergeMap, of, pipe, retry, take, takeUntil } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { recordingMetrics } from '../fixtures/metrics.ts'
import { createTransport } from '../fixtures/transport.ts'
import { passThroughUpgrader } from '../fixtures/upgraders.ts'
import { tcpResources } from '../fixtures/handles.ts'
import { waitForEvent, waitUntil, within } from '../fixtures/wait.ts'
import { destroyAll } from '../fixtures/raw-sockets.ts'
import { runScenario, socketIndexes } from './scenario.ts'
import type { Scenario } from './scenario.ts'
import type { InboundSocket } from '../../src/index.ts'
import type { ComponentLogger, Listener } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { tcp } from '../../src/index.ts'

type Row = (index: (inbound: InboundSocket) => number) => Omit<Scenario, 'name'>

const throwsForSecond = (index: (inbound: InboundSocket) => number) => map((inbound: InboundSocket) => {
  if (index(inbound) === 1) throw new Error('the user stage throws for socket 1')
  return inbound
})

async function expectRow (name: string, row: Row, outcome: 'serves' | 'closes visibly'): Promise<void> {
  const { index, indexing } = socketIndexes()
  const { inbound, lifetime } = row(index)
  const result = await runScenario({ name, inbound: pipe(indexing, inbound ?? identity), lifetime })
  expect(result.failures).toEqual([])
  if (outcome === 'serves') {
    expect(result.served, 'the peer was served').toBe(true)
  } else {
    expect(result.visiblyClosed, 'the listener closed visibly').toBe(true)
  }
}

describe('ordinary RxJS in inbound and lifetime cannot break the listener (issue 19, one test per row)', () => {
  it('inbound: filter dropping every second socket: the dropped ones are closed at the deadline, the peer is served', async () => {
    await expectRow('filter', (index) => ({ inbound: filter((s) => index(s) % 2 === 0) }), 'serves')
  })

  it('inbound: mergeMap to EMPTY for every second socket: the dropped ones are closed at the deadline, the peer is served', async () => {
    await expectRow('mergeMap-EMPTY', (index) => ({ inbound: mergeMap((s) => index(s) % 2 === 1 ? EMPTY : of(s)) }), 'serves')
  })

  it('inbound: a map that throws for one socket rejects that socket, the stage restarts and serves the peer', async () => {
    await expectRow('map-throws', (index) => ({ inbound: throwsForSecond(index) }), 'serves')
  })

  it('inbound: a map that throws for one socket, then retry(): the later sockets reach the stage again and the peer is served', async () => {
    await expectRow('map-throws-retry', (index) => ({ inbound: pipe(throwsForSecond(index), retry()) }), 'serves')
  })

  it('inbound: a map that throws, then catchError(() => EMPTY): the stage completes and the listener closes visibly', async () => {
    await expectRow('map-throws-catchError-EMPTY', (index) => ({ inbound: pipe(throwsForSecond(index), catchError(() => EMPTY)) }), 'closes visibly')
  })

  it('inbound: take(2): the stage completes after two sockets and the listener closes visibly', async () => {
    await expectRow('take-2', () => ({ inbound: take(2) }), 'closes visibly')
  })

  it('lifetime: an operator that throws for one socket rejects that socket only, and the peer is served', async () => {
    await expectRow('lifetime-throws', (index) => ({
      lifetime: (inbound) => {
        if (index(inbound) === 1) throw new Error('the lifetime operator throws for socket 1')
        return identity
      }
    }), 'serves')
  })

  it('lifetime: an operator that subscribes twice runs one upgrade, and the peer is served', async () => {
    await expectRow('lifetime-twice', () => ({ lifetime: () => (l$) => merge(l$.pipe(first(), ignoreElements()), l$) }), 'serves')
  })
})

describe('close() racing listen()', () => {
  it('dispatches no listening, reports no ACTIVE status and leaves no handle when close() comes while listen() binds (10 times)', async () => {
    const before = tcpResources().length
    for (let i = 0; i < 10; i++) {
      const metrics = recordingMetrics()
      const logger: ComponentLogger = defaultLogger()
      const transport = tcp()({ logger, metrics }) as unknown as ReturnType<typeof createTransport>
      const listener = transport.createListener({ upgrader: passThroughUpgrader() })
      const events: string[] = []
      listener.addEventListener('listening', () => events.push('listening'))
      listener.addEventListener('close', () => events.push('close'))
      const listening = listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0')).then(() => 'resolved', () => 'rejected')
      await listener.close()
      events.push('close() resolved')
      await listening
      // the listening handle, if any, would have dispatched by now: its callback runs in the turn the bind completes
      await new Promise((resolve) => setImmediate(resolve))
      expect(events).toEqual(['close', 'close() resolved'])
      expect(listener.getAddrs()).toEqual([])
      const status = metrics.values.libp2p_tcp_listener_status_info ?? {}
      expect(Object.values(status)).not.toContain(1)
    }
    await waitUntil(() => tcpResources().length <= before, 3_000, 'no TCP handle left')
  })
})

describe('supervision of the inbound stage', () => {
  /** a listener on tcp(init) with a pass-through upgrader, its events, and raw clients that connect to it */
  async function listenerWith (init: Parameters<typeof tcp>[0]): Promise<{ listener: Listener, events: string[], connect: () => Promise<net.Socket>, clients: net.Socket[] }> {
    const transport = tcp(init)({ logger: defaultLogger(), metrics: recordingMetrics() })
    const listener = transport.createListener({ upgrader: passThroughUpgrader() })
    const events: string[] = []
    listener.addEventListener('error', (evt) => events.push(`error: ${evt.detail.message}`))
    listener.addEventListener('close', () => events.push('close'))
    await listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))
    const port = Number(listener.getAddrs()[0].getComponents().find((c) => c.name === 'tcp')?.value)
    const clients: net.Socket[] = []
    const connect = async (): Promise<net.Socket> => {
      const socket = net.connect({ host: '127.0.0.1', port })
      socket.on('error', () => {})
      clients.push(socket)
      await within(new Promise((resolve) => { socket.once('connect', resolve).once('close', resolve) }), 3_000, 'a raw client to connect')
      return socket
    }
    return { listener, events, connect, clients }
  }

  it('a stage that fails 5 times in a row with no socket through rejects each socket, then gives up: error, then close, no address', async () => {
    const before = tcpResources().length
    const { listener, events, connect, clients } = await listenerWith({
      inbound: map(() => { throw new Error('this stage fails for every socket') }),
      pipelineTimeout: 60_000
    })
    // the first five failures restart the stage; the sixth gives up
    for (let i = 0; i < 6; i++) {
      const client = await connect()
      if (!client.closed) await waitForEvent(client, 'close', 3_000, `raw client ${i} to be rejected by the failing stage`)
      if (i < 5) {
        // restarted: still listening, nothing dispatched
        expect(events).toEqual([])
        expect(listener.getAddrs()).not.toEqual([])
      }
    }
    await waitUntil(() => events.includes('close'), 3_000, 'the listener to close')
    expect(events).toEqual(['error: this stage fails for every socket', 'close'])
    expect(listener.getAddrs()).toEqual([])
    await destroyAll(clients)
    await waitUntil(() => tcpResources().length <= before, 3_000, 'no TCP handle left')
  })

  it('a stage completed on purpose (takeUntil(maintenance$)) rejects what it held and closes the listener: close, no error, no address', async () => {
    const before = tcpResources().length
    const maintenance$ = new Subject<void>()
    const { listener, events, connect, clients } = await listenerWith({
      // holds every socket for a minute: the maintenance ends the stage with sockets in hand
      inbound: pipe(delay(60_000), takeUntil(maintenance$)),
      pipelineTimeout: 60_000
    })
    const held = [await connect(), await connect()]
    const closed = Promise.all(held.map(async (client, i) => { await waitForEvent(client, 'close', 3_000, `held client ${i} to be rejected`) }))
    maintenance$.next()
    await closed
    await waitUntil(() => events.includes('close'), 3_000, 'the listener to close')
    expect(events).toEqual(['close'])
    expect(listener.getAddrs()).toEqual([])
    await destroyAll(clients)
    await waitUntil(() => tcpResources().length <= before, 3_000, 'no TCP handle left')
  })
})
