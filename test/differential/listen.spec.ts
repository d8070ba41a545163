/**
 * The differential suite, listen: each scenario runs against rx-tcp and
 * against `@libp2p/tcp` (see `./fixture.ts` for what is compared and how).
 */
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { both, differentialSuite, failure, failureOf, foreign, intended, listenerOf, listeningOn, metricKeys, plainServer, same } from './fixture.ts'
import { within } from '../fixtures/wait.ts'

const suite = differentialSuite()

describe('listen failures', () => {
  const cases: Array<{ title: string, addr: () => Promise<string> | string, code: string }> = [
    { title: 'a port in use', addr: async () => `/ip4/127.0.0.1/tcp/${(await plainServer()).port}`, code: 'EADDRINUSE' },
    { title: 'an IPv4 address not on this host', addr: () => `/ip4/${foreign(['203.0.113.1', '198.51.100.1'])}/tcp/0`, code: 'EADDRNOTAVAIL' },
    { title: 'an IPv6 address not on this host', addr: () => `/ip6/${foreign(['2001:db8::1', '2001:db8::77'])}/tcp/0`, code: 'EADDRNOTAVAIL' },
    { title: 'a unix path in a missing directory', addr: () => `/unix/${encodeURIComponent(join(suite.tmp, 'missing', 'a.sock'))}`, code: 'EACCES' }
  ]

  it.each(cases)('$title: the errno in code, one error event; rx-tcp throws ListenError naming the address and dispatches close on close', async ({ addr, code }) => {
    const observed = await both(async (kind) => {
      const { metrics, listener, events } = listenerOf(kind)
      const ma = multiaddr(await addr())
      const err: any = await listener.listen(ma).catch(e => e)
      if (kind === 'rx') {
        // the address and the cause a user logs
        expect(err.message).toContain(ma.toString())
        expect(err.cause?.code).toBe(code)
      }
      const afterListen = [...events]
      const addrs = listener.getAddrs()
      await within(listener.close(), 2000, 'close after a failed listen')
      return { error: failure(err), afterListen, afterClose: events.slice(afterListen.length), addrs, metrics: metricKeys(metrics) }
    })

    const common = { afterListen: [`error:${code}`], addrs: [], metrics: ['libp2p_tcp_listener_errors_total{unknown listen_error}'] }
    intended(observed, {
      rx: { ...common, error: { class: 'ListenError', name: 'ListenError', code }, afterClose: ['close'] },
      ref: { ...common, error: { class: 'Error', name: 'Error', code }, afterClose: [] }
    })
  })

  it.each([
    ['unsupported: UDP', '/ip4/127.0.0.1/udp/0'],
    ['unsupported: websockets', '/ip4/127.0.0.1/tcp/0/ws'],
    ['unsupported: a circuit relay address', '/ip4/127.0.0.1/tcp/0/p2p-circuit'],
    ['malformed: no port', '/ip4/127.0.0.1'],
    ['malformed: two ports', '/ip4/127.0.0.1/tcp/0/tcp/0']
  ])('%s (%s): rx-tcp refuses it with InvalidParametersError, @libp2p/tcp listens on a TCP port', async (_title, addr) => {
    const observed = await both(async (kind) => {
      const { metrics, listener, events } = listenerOf(kind)
      const result = await failureOf(listener.listen(multiaddr(addr)))
      return { result, events: [...events], listening: listener.getAddrs().length > 0, metrics: metricKeys(metrics) }
    })

    intended(observed, {
      rx: { result: { class: 'InvalidParametersError', name: 'InvalidParametersError', code: undefined }, events: [], listening: false, metrics: [] },
      ref: { result: 'resolved', events: ['listening'], listening: true, metrics: ['libp2p_tcp_listener_status_info{<addr>}'] }
    })
  })

  it('a second listen() on a listening listener: AlreadyStartedError from both', async () => {
    const observed = await both(async (kind) => {
      const { listener } = await listeningOn(kind)
      return failureOf(listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0')))
    })
    same(observed, { class: 'AlreadyStartedError', name: 'AlreadyStartedError', code: undefined })
  })

  it('listen() after close(): rx-tcp refuses with NotStartedError, @libp2p/tcp listens again', async () => {
    const observed = await both(async (kind) => {
      const { listener, events } = await listeningOn(kind)
      await listener.close()
      const again = await failureOf(listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0')))
      return { again, events: [...events] }
    })
    intended(observed, {
      rx: { again: { class: 'NotStartedError', name: 'NotStartedError', code: undefined }, events: ['listening', 'close'] },
      ref: { again: 'resolved', events: ['listening', 'close', 'listening'] }
    })
  })
})
