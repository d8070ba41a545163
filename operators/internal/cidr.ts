import { IpNet } from '@chainsafe/netmask'
import { InvalidParametersError } from '@libp2p/interface'
import { ipOf } from './addresses.ts'
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
    return ip === undefined ? undefined : nets.some((net) => net.contains(ip))
  }
}

/** Options common to the CIDR operators. */
export interface CidrOptions {
  /** the rejection reason */
  reason?: string
}
