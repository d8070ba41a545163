/**
 * The hole punch's network: a relay on an IPv6 "internet" (3fff::/20, the
 * documentation prefix of RFC 9637, which libp2p and go-libp2p treat as
 * public, so nothing leaves the machine), and two nodes, each behind its own
 * NAT66 router that masquerades with the source port kept. What nobody
 * inside asked for, a NAT drops (`unsolicited: 'drop'`, as a home router
 * does) or answers with a reset (`'reset'`: the router's own stack answers,
 * as the routers of libp2p/test-plans' hole punch tests do).
 *
 *   node A  fd00:a::2 ── fd00:a::1  NAT A  3fff:0:a::2 ──┐
 *                                                        ├── 3fff:0:a::1 / 3fff:0:b::1  relay 3fff::1 (routes the internet)
 *   node B  fd00:b::2 ── fd00:b::1  NAT B  3fff:0:b::2 ──┘
 *
 * Five namespaces joined by four veth pairs; names carry this process's pid
 * and a random tag, so two runs never share them. `teardown()` deletes the
 * namespaces, which takes their links, addresses, routes and nft tables with
 * them; it runs on exit as well.
 *
 * @example
 * const net = buildTopology()
 * if (typeof net === 'string') throw new Error(net)
 * try { ... net.ns.a ... } finally { net.teardown() }
 */
import { randomBytes } from 'node:crypto'
import { netnsUnavailable, nft, sh } from '../fixtures/netns.ts'

export type Site = 'relay' | 'natA' | 'natB' | 'a' | 'b'

/** what the relay lets through a relayed connection: circuit-relay-v2's defaults, written out (128 KiB each way, 2 minutes) */
export const RELAY_LIMITS = { bytes: 128n * 1024n, ms: 120_000 }

/** what a NAT does with a TCP SYN that matches no mapping */
export type Unsolicited = 'drop' | 'reset'

export interface Topology {
  /** namespace of each site */
  ns: Record<Site, string>
  /** the relay's address on the internet */
  relayIp: string
  /** each node's own (private) address and its NAT's public one */
  node: Record<'a' | 'b', { ip: string, publicIp: string }>
  /** conntrack-free view of what the NATs dropped (unsolicited inbound packets), per NAT */
  dropped: () => Record<'natA' | 'natB', number | undefined>
  /** namespaces of this topology still present (none after teardown) */
  left: () => string[]
  teardown: () => void
}

const addr = (ns: string, cidr: string, dev: string): void => {
  // nodad: an address still in duplicate address detection cannot be bound
  sh('ip', ['-n', ns, 'addr', 'add', cidr, 'dev', dev, 'nodad'])
}

/** Builds the network, or returns why it cannot be built here. */
export function buildTopology (unsolicited: Unsolicited = 'drop'): Topology | string {
  const reason = netnsUnavailable()
  if (reason != null) return reason
  const id = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`.slice(-7)
  const ns: Record<Site, string> = {
    relay: `rxtcp-hp-r-${id}`,
    natA: `rxtcp-hp-na-${id}`,
    natB: `rxtcp-hp-nb-${id}`,
    a: `rxtcp-hp-a-${id}`,
    b: `rxtcp-hp-b-${id}`
  }
  const all = Object.values(ns)
  const teardown = (): void => {
    for (const n of all) {
      try { sh('ip', ['netns', 'del', n]) } catch {}
    }
    process.off('exit', teardown)
  }
  const left = (): string[] => {
    const listed = sh('ip', ['netns', 'list'])
    return all.filter((n) => new RegExp(`^${n}\\b`, 'm').test(listed))
  }
  try {
    for (const n of all) {
      sh('ip', ['netns', 'add', n])
      sh('ip', ['-n', n, 'link', 'set', 'lo', 'up'])
    }
    process.once('exit', teardown)
    const link = (n1: string, d1: string, n2: string, d2: string): void => {
      sh('ip', ['link', 'add', d1, 'netns', n1, 'type', 'veth', 'peer', 'name', d2, 'netns', n2])
      sh('ip', ['-n', n1, 'link', 'set', d1, 'up'])
      sh('ip', ['-n', n2, 'link', 'set', d2, 'up'])
    }
    const forward = (n: string): void => { sh('ip', ['netns', 'exec', n, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1']) }

    // the internet: the relay routes between the two NATs' links
    addr(ns.relay, '3fff::1/128', 'lo')
    forward(ns.relay)
    for (const s of ['a', 'b'] as const) {
      const nat = s === 'a' ? ns.natA : ns.natB
      const pub = `hpp${s}${id}`
      const priv = `hpi${s}${id}`
      link(ns.relay, `hpr${s}${id}`, nat, pub)
      addr(ns.relay, `3fff:0:${s}::1/64`, `hpr${s}${id}`)
      addr(nat, `3fff:0:${s}::2/64`, pub)
      sh('ip', ['-n', nat, '-6', 'route', 'add', 'default', 'via', `3fff:0:${s}::1`])
      // the home network behind the NAT
      link(nat, priv, ns[s], `hpn${s}${id}`)
      addr(nat, `fd00:${s}::1/64`, priv)
      addr(ns[s], `fd00:${s}::2/64`, `hpn${s}${id}`)
      sh('ip', ['-n', ns[s], '-6', 'route', 'add', 'default', 'via', `fd00:${s}::1`])
      forward(nat)
      // NAT66: masquerade keeps the source port unless it is taken; inbound
      // packets that match no mapping are dropped, not answered with a reset
      nft(nat, 'add table ip6 rxtcp_hp')
      nft(nat, 'add chain ip6 rxtcp_hp nat_out { type nat hook postrouting priority srcnat; }')
      nft(nat, `add rule ip6 rxtcp_hp nat_out oifname "${pub}" masquerade`)
      nft(nat, 'add chain ip6 rxtcp_hp unsolicited_fwd { type filter hook forward priority filter; }')
      nft(nat, `add rule ip6 rxtcp_hp unsolicited_fwd iifname "${pub}" ct state new counter drop`)
      if (unsolicited === 'drop') {
        nft(nat, 'add chain ip6 rxtcp_hp unsolicited_in { type filter hook input priority filter; }')
        nft(nat, `add rule ip6 rxtcp_hp unsolicited_in iifname "${pub}" meta l4proto tcp ct state new counter drop`)
      }
    }
    const dropped = (): Record<'natA' | 'natB', number | undefined> => {
      const count = (n: string): number | undefined => {
        try {
          return [...sh('ip', ['netns', 'exec', n, 'nft', 'list', 'table', 'ip6', 'rxtcp_hp']).matchAll(/packets (\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0)
        } catch {
          return undefined
        }
      }
      return { natA: count(ns.natA), natB: count(ns.natB) }
    }
    return {
      ns,
      relayIp: '3fff::1',
      node: { a: { ip: 'fd00:a::2', publicIp: '3fff:0:a::2' }, b: { ip: 'fd00:b::2', publicIp: '3fff:0:b::2' } },
      dropped,
      left,
      teardown
    }
  } catch (err: any) {
    teardown()
    return `could not build the hole punch network: ${String(err?.stderr ?? err?.message).trim()}`
  }
}
