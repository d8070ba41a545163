/**
 * One node of the simulation: a libp2p node as a user would build it, with
 * identify, ping, gossipsub and a LAN kad-dht over noise and yamux, on
 * rx-tcp or `@libp2p/tcp`, finding the others through a bootstrap list.
 *
 * @example
 * const node = await createSimNode({ transport: 'rx', ip: '10.77.1.1', bootstrap: [] })
 * node.services.pubsub.publish(SIM_TOPIC, data)
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap } from '@libp2p/bootstrap'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp as refTcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { tcp as rxTcp } from '../../src/index.ts'

/** `rx`: this package; `ref`: `@libp2p/tcp` 11, the transport it replaces */
export type SimTransport = 'rx' | 'ref'

export const SIM_TOPIC = 'rx-tcp-sim'
/** a private DHT, so that no record or query of the simulation could reach another network */
export const SIM_DHT_PROTOCOL = '/rx-tcp-sim/kad/1.0.0'
/** the DHT namespace of the simulation's records: keys are `/rxsim/<hex>` */
export const SIM_KEY_NAMESPACE = 'rxsim'

export interface SimNodeOptions {
  transport: SimTransport
  /** the address the node listens on, its own in its namespace */
  ip: string
  /** multiaddrs with /p2p/ of the bootstrap nodes; empty for the first one */
  bootstrap: string[]
}

export async function createSimNode (opts: SimNodeOptions) {
  const tcp = opts.transport === 'rx' ? rxTcp : refTcp
  return createLibp2p({
    addresses: { listen: [`/ip4/${opts.ip}/tcp/0`] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: opts.bootstrap.length > 0 ? [bootstrap({ list: opts.bootstrap, timeout: 50 })] : [],
    connectionManager: {
      // All nodes of a namespace dial out from its first address, so each
      // namespace is one "host" to libp2p's limit of 5 inbound connections
      // a second per host; and a bootstrap node takes up to 10 pending
      // inbound upgrades in all. Nodes starting or dialing for the DHT
      // together can pass both, on either transport. Raised from reading
      // the connection manager; no run measured either on its own
      // (docs/sim.md).
      inboundConnectionThreshold: 1_000,
      maxIncomingPendingConnections: 100
    },
    // libp2p's connection monitor opens a ping stream on every connection
    // every 10 s and aborts the connection when a ping takes longer than
    // its adaptive timeout (5 s at least). With 30 nodes on 2 loaded cores
    // that is some 60 stream negotiations a second, and with event loops
    // running seconds late on both ends it aborted hundreds of healthy
    // connections a minute and took the gossipsub mesh apart (docs/sim.md);
    // the monitor is libp2p's, the same over either transport. Off here:
    // a dead peer is still found, as its socket closes or errors and yamux
    // notices.
    connectionMonitor: { enabled: false },
    services: {
      identify: identify(),
      // ping allows one outbound ping stream per connection by default; the
      // load pings random pairs, and two pings may meet on one connection
      ping: ping({ maxOutboundStreams: 4, maxInboundStreams: 4 }),
      pubsub: gossipsub({
        // the policy Ethereum's consensus clients (Lodestar) use: no
        // signatures, message id from the content
        globalSignaturePolicy: 'StrictNoSign',
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        // Gossipsub scores down peers that share an IP address (weight -5
        // per peer past 10, squared; graylisted below -80). All nodes of a
        // namespace dial out from one address, and on loopback all of them
        // from 127.0.0.1, so at 25 nodes a namespace or 30 on loopback the
        // peers graylisted each other and about a third of the messages
        // arrived, on either transport (docs/sim.md). Off, as on a LAN
        // where many nodes sit behind one address.
        scoreParams: { IPColocationFactorWeight: 0 }
      }),
      dht: kadDHT({
        protocol: SIM_DHT_PROTOCOL,
        clientMode: false,
        // the default mapper drops private addresses, and every address
        // here is private: the DHT would learn no way to reach anybody
        peerInfoMapper: passthroughMapper,
        validators: { [SIM_KEY_NAMESPACE]: async () => {} },
        selectors: { [SIM_KEY_NAMESPACE]: () => 0 }
      })
    }
  })
}

export type SimNode = Awaited<ReturnType<typeof createSimNode>>
