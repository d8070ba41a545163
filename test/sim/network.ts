/**
 * The simulation's network: K network namespaces, each joined by a veth pair
 * to a bridge that lives in a hub namespace of its own, so that nothing of a
 * run is on the host and every name is unique to the run. Each namespace's
 * link is impaired both ways (loss and a rate limit, see
 * test/fixtures/netns.ts); traffic between two nodes of one namespace stays
 * on its loopback, unimpaired. Without root, iproute2 or nftables every
 * "host" is a range of 127.0.x.y addresses on the machine's loopback, not
 * impaired.
 *
 * @example
 * const net = buildNetwork({ hosts: 4, addressesPerHost: 12, impairment: { lossPercent: 3, rate: '20mbit' } })
 * try { ... } finally { net.teardown() }
 */
import { randomBytes } from 'node:crypto'
import { droppedPackets, impair, netnsUnavailable, nft, sh } from '../fixtures/netns.ts'
import type { Impairment } from '../fixtures/netns.ts'

export interface SimHost {
  /** the namespace its process runs in; undefined on loopback */
  ns?: string
  /** the addresses its nodes may listen on, one node each */
  ips: string[]
}

export interface SimNetwork {
  kind: 'netns' | 'loopback'
  /** what was done to the links, in words (or why nothing was) */
  shaping: string
  hosts: SimHost[]
  /** TCP packets the nftables loss rules dropped so far, all namespaces (undefined under netem or on loopback) */
  dropped: () => number | undefined
  /** removes every namespace of the run; safe to call more than once */
  teardown: () => void
}

export interface NetworkOptions {
  hosts: number
  addressesPerHost: number
  impairment: Impairment
  /** build on loopback even where namespaces could be had */
  loopback?: boolean
}

export function buildNetwork (opts: NetworkOptions): SimNetwork {
  if (opts.hosts > 250 || opts.addressesPerHost > 250) throw new Error(`at most 250 hosts of 250 addresses: asked for ${opts.hosts} of ${opts.addressesPerHost}`)
  const reason = opts.loopback === true ? 'asked for with --loopback' : netnsUnavailable()
  if (reason != null) return loopback(opts, `none: all nodes on 127.0.x.y loopback addresses, not impaired (${reason})`)
  const id = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`
  const hub = `rxsim-${id}-hub`
  const made: string[] = []
  const teardown = (): void => {
    for (const ns of made.splice(0).reverse()) {
      try { sh('ip', ['netns', 'del', ns]) } catch {}
    }
  }
  try {
    sh('ip', ['netns', 'add', hub])
    made.push(hub)
    sh('ip', ['-n', hub, '-batch', '-'], 'link set lo up\nlink add br0 type bridge\nlink set br0 up\n')
    const hosts: SimHost[] = []
    let shaping = ''
    for (let k = 0; k < opts.hosts; k++) {
      const ns = `rxsim-${id}-${k}`
      sh('ip', ['netns', 'add', ns])
      made.push(ns)
      // the hub's end is v<k>, the namespace's end eth0: names inside
      // namespaces of this run only, none on the host
      sh('ip', ['-n', hub, 'link', 'add', `v${k}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
      sh('ip', ['-n', hub, 'link', 'set', `v${k}`, 'master', 'br0', 'up'])
      // 10.77.0.0/16 exists only on this run's bridge
      const ips = Array.from({ length: opts.addressesPerHost }, (_, j) => `10.77.${k + 1}.${j + 1}`)
      sh('ip', ['-n', ns, '-batch', '-'], ['link set lo up', 'link set eth0 up', ...ips.map(ip => `addr add ${ip}/16 dev eth0`)].join('\n') + '\n')
      shaping = shapeLink(ns, hub, `v${k}`, opts.impairment)
      hosts.push({ ns, ips })
    }
    return {
      kind: 'netns',
      shaping: `${opts.hosts} namespaces on one bridge, each link both ways: ${shaping}`,
      hosts,
      dropped: () => {
        const counts = hosts.map(h => droppedPackets(h.ns as string))
        return counts.some(c => c == null) ? undefined : counts.reduce((a, b) => (a as number) + (b as number), 0)
      },
      teardown
    }
  } catch (err: any) {
    teardown()
    return loopback(opts, `none: all nodes on 127.0.x.y loopback addresses, not impaired (could not build the namespaces: ${String(err?.stderr ?? err?.message).trim()})`)
  }
}

/**
 * Impairs the namespace's link both ways: what leaves the namespace on its
 * eth0, and what the bridge sends into it on the hub's end. Under netem both
 * ends get netem. Without it, loss is an nftables rule in the namespace on
 * the way out and on the way in (bridged packets in the hub do not pass the
 * inet hooks), and the rate a tbf on each end.
 */
function shapeLink (ns: string, hub: string, hubEnd: string, how: Impairment): string {
  const out = impair(ns, 'eth0', how)
  if (out.startsWith('netem')) {
    impair(hub, hubEnd, how)
    return out
  }
  nft(ns, 'add chain inet rxtcp in { type filter hook input priority 0; }')
  if (how.lossPercent > 0) nft(ns, `add rule inet rxtcp in iifname "eth0" meta l4proto tcp numgen random mod 100 < ${how.lossPercent} counter drop`)
  sh('ip', ['netns', 'exec', hub, 'tc', 'qdisc', 'add', 'dev', hubEnd, 'root', 'tbf', 'rate', how.rate, 'burst', '64kb', 'latency', '100ms'])
  return out
}

function loopback (opts: NetworkOptions, shaping: string): SimNetwork {
  return {
    kind: 'loopback',
    shaping,
    hosts: Array.from({ length: opts.hosts }, (_, k) => ({ ips: Array.from({ length: opts.addressesPerHost }, (_, j) => `127.0.${k + 1}.${j + 1}`) })),
    dropped: () => undefined,
    teardown: () => {}
  }
}
