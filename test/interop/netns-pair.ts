/**
 * Two network namespaces joined by a veth pair, each side impaired with the
 * namespace fixture's `impair` (3 % loss by default): the JS side runs in
 * one, the peer in the other. Names carry this process's pid, so two runs
 * never share them; `teardown()` deletes both (and so the veth pair).
 */
import { randomBytes } from 'node:crypto'
import { droppedPackets, impair, netnsUnavailable, sh } from '../fixtures/netns.ts'

export interface NetnsPair {
  jsNs: string
  peerNs: string
  jsIp: string
  peerIp: string
  /** the impairment, in words */
  impairment: string
  /** packets the nftables loss rules dropped so far, per side (undefined under netem) */
  dropped: () => { js?: number, peer?: number }
  teardown: () => void
}

/** Builds the pair, or returns why it cannot be built here. */
export function netnsPair (lossPercent = 3): NetnsPair | string {
  const reason = netnsUnavailable()
  if (reason != null) return reason
  const id = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`.slice(-8)
  const jsNs = `rxtcp-ij-${id}`
  const peerNs = `rxtcp-ip-${id}`
  const vJs = `rij${id}`.slice(0, 15)
  const vPeer = `rip${id}`.slice(0, 15)
  const subnet = 150 + (process.pid % 50)
  const jsIp = `10.253.${subnet}.1`
  const peerIp = `10.253.${subnet}.2`
  const teardown = (): void => {
    for (const ns of [jsNs, peerNs]) {
      try { sh('ip', ['netns', 'del', ns]) } catch {}
    }
  }
  try {
    sh('ip', ['netns', 'add', jsNs])
    sh('ip', ['netns', 'add', peerNs])
    sh('ip', ['link', 'add', vJs, 'type', 'veth', 'peer', 'name', vPeer])
    sh('ip', ['link', 'set', vJs, 'netns', jsNs])
    sh('ip', ['link', 'set', vPeer, 'netns', peerNs])
    let impairment = ''
    for (const [ns, dev, ip] of [[jsNs, vJs, jsIp], [peerNs, vPeer, peerIp]]) {
      sh('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', dev])
      sh('ip', ['-n', ns, 'link', 'set', dev, 'up'])
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
      impairment = impair(ns, dev, { lossPercent, rate: '1gbit' })
    }
    process.once('exit', teardown)
    return { jsNs, peerNs, jsIp, peerIp, impairment: `${impairment}, each way`, teardown, dropped: () => ({ js: droppedPackets(jsNs), peer: droppedPackets(peerNs) }) }
  } catch (err: any) {
    teardown()
    return `could not build the namespaces: ${String(err?.stderr ?? err?.message).trim()}`
  }
}
