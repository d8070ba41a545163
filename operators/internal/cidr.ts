import { IpNet } from '@chainsafe/netmask'
import { InvalidParametersError } from '@libp2p/interface'
import { ipOf } from '../../src/core/subnets.ts'
import type { DryRunOptions } from './dry-run.ts'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Parses a CIDR list once, and answers whether an address falls in it
 * (undefined when the address has no IP).
 */
export function cidrMatcher (cidrs: readonly string[]): (addr: Multiaddr) => boolean | undefined {
  const nets = cidrs.map((cidr) => {
    try {
      return new IpNet(cidr)
    } catch (err: any) {
      throw new InvalidParametersError(`invalid CIDR "${cidr}": ${err.message}`)
    }
  })
  return (addr) => {
    const ip = ipOf(addr)
    if (ip === undefined) {
      return undefined
    }
    // an IPv4-mapped peer is matched as its IPv4 address, and as written (a `::ffff:0:0/96` block)
    const written = addr.getComponents().find(({ name }) => name === 'ip6')?.value
    return nets.some((net) => contains(net, ip) || (written !== undefined && written !== ip && contains(net, written)))
  }
}

/** Options common to the CIDR operators. */
export interface CidrOptions extends DryRunOptions {
  /** the rejection reason */
  reason?: string
}

/** whether `net` holds `ip`, false for an address of the other family */
function contains (net: IpNet, ip: string): boolean {
  try {
    return net.contains(ip)
  } catch {
    return false
  }
}
