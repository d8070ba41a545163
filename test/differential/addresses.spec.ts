/**
 * The differential suite, addresses and filters: each scenario runs against rx-tcp and
 * against `@libp2p/tcp` (see `./fixture.ts` for what is compared and how).
 */
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { both, createListener, differentialSuite, intended, same, setup } from './fixture.ts'

const suite = differentialSuite()

const PEER = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'

describe('getAddrs()', () => {
  it.each([
    ['/ip4/127.0.0.1/tcp/0'],
    ['/ip6/::1/tcp/0'],
    ['/ip4/0.0.0.0/tcp/0'],
    ['/ip6/::/tcp/0'],
    ['/dns4/localhost/tcp/0'],
    [`/ip4/127.0.0.1/tcp/0/p2p/${PEER}`],
    ['/unix/<path>']
  ])('%s: the same addresses before listen(), while listening (the port the kernel gave) and after close()', async (addr) => {
    const observed = await both(async (kind) => {
      const path = encodeURIComponent(join(suite.tmp, `${kind}.sock`))
      const listener = createListener(setup(kind).transport)
      const before = listener.getAddrs()
      await listener.listen(multiaddr(addr.replace('<path>', path)))
      const ports = new Set(listener.getAddrs().map(ma => ma.getComponents().find(c => c.name === 'tcp')?.value))
      expect(ports.size, 'one port for every address').toBe(1)
      const [port] = ports
      expect(port, 'the port the kernel gave').not.toBe('0')
      const listening = listener.getAddrs().map(ma => ma.toString().replace(`/tcp/${port}`, '/tcp/<port>').replace(path, '<path>'))
      await listener.close()
      return { before, listening, after: listener.getAddrs() }
    })
    expect(observed.rx.listening.length, 'at least one address').toBeGreaterThan(0)
    same(observed, observed.ref)
    expect(observed.rx.listening.every(a => a.includes('/tcp/<port>') || a === '/unix/<path>'), observed.rx.listening.join()).toBe(true)
    expect(observed.rx.before).toEqual([])
    expect(observed.rx.after).toEqual([])
  })

  it('expands the wildcards to the interfaces of their family', async () => {
    const observed = await both(async (kind) => {
      const transport = setup(kind).transport
      const families = []
      for (const addr of ['/ip4/0.0.0.0/tcp/0', '/ip6/::/tcp/0']) {
        const listener = createListener(transport)
        await listener.listen(multiaddr(addr))
        families.push(listener.getAddrs().map(ma => ma.getComponents()[0].name))
        await listener.close()
      }
      return families
    })
    same(observed, observed.ref)
    expect(observed.rx[0]).toContain('ip4')
    expect(observed.rx[0].every(name => name === 'ip4')).toBe(true)
    expect(observed.rx[1].every(name => name === 'ip6')).toBe(true)
  })
})

describe('address filters', () => {
  const addrs = [
    '/ip4/1.2.3.4/tcp/1',
    '/ip6/::1/tcp/1',
    '/ip6zone/eth0/ip6/fe80::1/tcp/1',
    '/dns/example.com/tcp/1',
    '/dns4/example.com/tcp/1',
    '/dns6/example.com/tcp/1',
    `/ip4/1.2.3.4/tcp/1/p2p/${PEER}`,
    '/unix/%2Ftmp%2Fa.sock',
    `/unix/%2Ftmp%2Fa.sock/p2p/${PEER}`,
    '/dnsaddr/example.com',
    '/ip4/1.2.3.4',
    '/ip4/1.2.3.4/tcp/1/ws',
    '/ip4/1.2.3.4/tcp/1/tls/ws',
    '/ip4/1.2.3.4/tcp/1/http',
    '/ip4/1.2.3.4/udp/1',
    '/ip4/1.2.3.4/udp/1/quic-v1',
    '/ip4/1.2.3.4/tcp/1/webrtc-direct',
    `/ip4/1.2.3.4/tcp/1/p2p/${PEER}/p2p-circuit`,
    `/p2p/${PEER}`,
    '/unix/%2Ftmp%2Fa.sock/ws',
    `/unix/%2Ftmp%2Fa.sock/p2p/${PEER}/p2p-circuit`
  ]

  it('keep the same addresses, except a unix path with a protocol on top, which @libp2p/tcp keeps by its prefix', async () => {
    const observed = await both(async (kind) => {
      const transport = setup(kind).transport
      const mas = addrs.map(a => multiaddr(a))
      return {
        listen: transport.listenFilter(mas).map(String),
        dial: transport.dialFilter(mas).map(String)
      }
    })
    const kept = addrs.slice(0, 9)
    intended(observed, {
      rx: { listen: kept, dial: kept },
      ref: { listen: [...kept, ...addrs.slice(-2)], dial: [...kept, ...addrs.slice(-2)] }
    })
  })
})
