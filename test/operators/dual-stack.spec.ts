/**
 * IPv4 clients of a dual-stack listener (`::`, where Node shows them as
 * `::ffff:a.b.c.d`) are counted per IPv4 address by the limits and matched
 * as IPv4 by the CIDR rules, never all in one IPv6 /56: the hole of
 * express-rate-limit's CVE-2026-30827. On a real `::` listener, with the
 * element's address as rx-tcp writes it (`/ip4`), as a pipeline of one's
 * own may write it (`/ip6/::ffff:…`), and as a balancer's v2 header gives
 * it (an `AF_INET6` mapped source).
 */
import { multiaddr } from '@multiformats/multiaddr'
import { map, pipe } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import { denyCidr, perSubnetLimit, perSubnetRateLimit } from '../../operators/index.ts'
import { proxyProtocol } from '../../operators/proxy-protocol/index.ts'
import { subnetKeyer } from '../../src/core/subnets.ts'
import { v2Header } from '../fixtures/proxy-headers.ts'
import { attempt, closeAll, connect, serve } from '../fixtures/operators-net.ts'
import { waitForEvent, within } from '../fixtures/wait.ts'
import type { InboundOperator, InboundSocket } from '../../operators/index.ts'
import type { Client, Served } from '../fixtures/operators-net.ts'

/** gives each element the address Node shows for its socket, written as it is: `/ip6/::ffff:127.0.0.2` */
const asNodeShowsIt: InboundOperator = map((inbound): InboundSocket => ({
  ...inbound,
  reject: (reason, err) => inbound.reject(reason, err),
  remoteAddr: multiaddr(`/ip6/${inbound.socket.remoteAddress ?? '::'}/tcp/${inbound.socket.remotePort ?? 0}`)
}))

describe('IPv4 clients of a dual-stack listener', () => {
  const clients: Client[] = []
  const served: Served[] = []
  afterEach(async () => {
    await closeAll(clients)
    await Promise.all(served.splice(0).map(async (s) => s.close()))
  })

  async function listen (inbound: InboundOperator): Promise<Served> {
    const s = await serve({ host: '::', inbound })
    served.push(s)
    return s
  }

  for (const [name, written] of [['as rx-tcp writes it (/ip4)', undefined], ['written as Node shows it (/ip6/::ffff:…)', asNodeShowsIt]] as const) {
    it(`perSubnetRateLimit and perSubnetLimit count each IPv4 client as itself, ${name}`, async () => {
      const s = await listen(pipe(written ?? map((x: InboundSocket) => x), perSubnetRateLimit({ rate: 0.001, burst: 1 })))
      expect(await attempt(s.port, '127.0.0.2', clients)).toBe('welcome')
      expect(await attempt(s.port, '127.0.0.3', clients)).toBe('welcome')
      expect(await attempt(s.port, '127.0.0.2', clients)).toBe('refused')
      // the listener is dual-stack: Node showed the peers as IPv4-mapped IPv6 addresses
      expect(s.upgraded).toEqual(['::ffff:127.0.0.2', '::ffff:127.0.0.3'])
      // reported by the listener's own element, which rx-tcp wrote as /ip4
      expect(s.rejections).toEqual(['127.0.0.2 subnet-rate-limit'])

      const t = await listen(pipe(written ?? map((x: InboundSocket) => x), perSubnetLimit({ max: 1 })))
      expect(await attempt(t.port, '127.0.0.4', clients)).toBe('welcome')
      expect(await attempt(t.port, '127.0.0.5', clients)).toBe('welcome')
      expect(await attempt(t.port, '127.0.0.4', clients)).toBe('refused')
    })
  }

  it('denyCidr matches an IPv4-mapped peer by its IPv4 block', async () => {
    const s = await listen(pipe(asNodeShowsIt, denyCidr(['127.0.0.3/32'])))
    expect(await attempt(s.port, '127.0.0.2', clients)).toBe('welcome')
    expect(await attempt(s.port, '127.0.0.3', clients)).toBe('refused')
  })

  it('behind a balancer: v2 headers with IPv4-mapped AF_INET6 sources are counted per IPv4 client', async () => {
    const s = await listen(pipe(proxyProtocol({ trusted: ['127.0.0.1/32'] }), perSubnetRateLimit({ rate: 0.001, burst: 1 })))
    const through = async (source: string): Promise<string> => {
      const client = connect(s.port, '127.0.0.1')
      clients.push(client)
      await waitForEvent(client.socket, 'connect', 2_000, 'the balancer to connect')
      client.socket.write(v2Header({ ip: source, port: 4000 }))
      return within(client.outcome, 3_000, `the server to welcome or refuse ${source}`)
    }
    expect(await through('::ffff:203.0.113.7')).toBe('welcome')
    expect(await through('::ffff:203.0.113.8')).toBe('welcome')
    expect(await through('::ffff:203.0.113.7')).toBe('refused')
    expect(s.rejections).toEqual(['203.0.113.7 subnet-rate-limit'])
  })

  it('the subnet key of an IPv4-mapped address is its IPv4 /32, in either spelling; a real IPv6 address keeps its /56', () => {
    const keyOf = subnetKeyer()
    expect(keyOf(multiaddr('/ip6/::ffff:1.2.3.4/tcp/1'))).toBe('1.2.3.4/32')
    expect(keyOf(multiaddr('/ip6/::ffff:102:305/tcp/1'))).toBe('1.2.3.5/32')
    expect(keyOf(multiaddr('/ip6/2001:db8:0:1::1/tcp/1'))).toBe(keyOf(multiaddr('/ip6/2001:db8:0:ff::2/tcp/1')))
    expect(keyOf(multiaddr('/ip6/2001:db8:0:1::1/tcp/1'))).not.toBe(keyOf(multiaddr('/ip6/2001:db8:0:100::1/tcp/1')))
  })
})
