import { createNode, ECHO, handleEcho, stopAll } from '../nodes.ts'
import { echoStream, roundTrips } from '../pump.ts'
import type { Group, Options, Sample } from './types.ts'
import type { Encryption } from '../nodes.ts'
import type { Subject } from '../subjects.ts'

/** CPU time of this process (all threads), in µs, since `since` */
export function cpuSince (since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since)
  return d.user + d.system
}

/**
 * Two nodes, one stream: echo `size` bytes through it. MB/s of payload one
 * way, and CPU µs per MiB (both nodes are in this process): the second is
 * less sensitive to whatever else the machine is running.
 */
async function echoThroughNodes (subject: Subject, encryption: Encryption, size: number, opts: Options): Promise<{ rate: number, cpu: number }> {
  const server = await createNode(subject, { encryption, listen: true })
  const client = await createNode(subject, { encryption, listen: false })
  try {
    await handleEcho(server)
    const stream = await client.dialProtocol(server.getMultiaddrs()[0], ECHO, { signal: AbortSignal.timeout(10_000) })
    const chunk = new Uint8Array(opts.chunk).fill(7)
    const cpu = process.cpuUsage()
    const ms = await echoStream(stream, size, chunk, opts.window, 120_000)
    const cpuUs = cpuSince(cpu)
    await stream.close().catch(() => {})
    return { rate: size / 1e6 / (ms / 1e3), cpu: cpuUs / (size / 2 ** 20) }
  } finally {
    await stopAll([client, server])
  }
}

export function throughputGroup (encryption: Encryption): Group {
  const id = encryption === 'noise' ? 'noise' : 'plaintext'
  return {
    id,
    title: `echo through two nodes, ${encryption} + yamux`,
    warmup: async (subject, opts) => { await echoThroughNodes(subject, encryption, opts.size, opts) },
    run: async (subject, opts): Promise<Sample> => {
      const { rate, cpu } = await echoThroughNodes(subject, encryption, opts.size, opts)
      return { [id]: rate, [`${id}Cpu`]: cpu }
    }
  }
}

/** Request/response of `messageSize` bytes on one noise + yamux stream, messages per second. */
async function smallMessages (subject: Subject, count: number, opts: Options): Promise<{ rate: number, cpu: number }> {
  const server = await createNode(subject, { encryption: 'noise', listen: true })
  const client = await createNode(subject, { encryption: 'noise', listen: false })
  try {
    await handleEcho(server)
    const stream = await client.dialProtocol(server.getMultiaddrs()[0], ECHO, { signal: AbortSignal.timeout(10_000) })
    const cpu = process.cpuUsage()
    const ms = await roundTrips(stream, count, new Uint8Array(opts.messageSize).fill(1), 120_000)
    const cpuUs = cpuSince(cpu)
    await stream.close().catch(() => {})
    return { rate: count / (ms / 1e3), cpu: cpuUs / count }
  } finally {
    await stopAll([client, server])
  }
}

export const rpcGroup: Group = {
  id: 'rpc',
  title: 'request/response round trips on one stream, noise + yamux',
  warmup: async (subject, opts) => { await smallMessages(subject, Math.min(opts.messages, 1_000), opts) },
  run: async (subject, opts): Promise<Sample> => {
    const { rate, cpu } = await smallMessages(subject, opts.messages, opts)
    return { rpc: rate, rpcCpu: cpu }
  }
}
