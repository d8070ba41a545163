import { connect } from 'node:net'
import { createNode } from '../nodes.ts'
import { hostPort } from '../passthrough.ts'
import { acceptedOn } from '../sockets.ts'
import { pool, until, within } from '../stats.ts'
import type { Group, Options, Sample } from './types.ts'
import type { Subject } from '../subjects.ts'
import type { Libp2p, Listener } from '@libp2p/interface'
import type { Socket } from 'node:net'

/** The first 10 of the 20 bytes of a multistream-select header (varint 19 + '/multistream/1.0.0\n'). */
const HALF_HEADER = new Uint8Array([19, ...new TextEncoder().encode('/multistre')])

function listenerOf (node: Libp2p): Listener {
  const components = (node as unknown as { components: { transportManager: { getListeners: () => Listener[] } } }).components
  const listeners = components.transportManager.getListeners()
  if (listeners.length !== 1) throw new Error(`expected one listener, found ${listeners.length}`)
  return listeners[0]
}

/**
 * `stalled` raw clients connect to a noise + yamux node and stall its upgrade:
 * even ones send nothing, odd ones half a multistream header. Then the
 * listener is closed: how long until `close()` resolves, and until every
 * client has seen its socket close.
 */
async function closeWithStalled (subject: Subject, opts: Options): Promise<Sample> {
  const server = await createNode(subject, { encryption: 'noise', listen: true })
  const clients: Socket[] = []
  let closed = 0
  try {
    const listener = listenerOf(server)
    const { host, port } = hostPort(server.getMultiaddrs()[0])
    await pool(opts.stalled, 64, async (i) => {
      const socket = connect({ host, port })
      clients.push(socket)
      socket.on('error', () => {})
      socket.once('close', () => { closed++ })
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve)
        socket.once('error', reject)
      })
      if (i % 2 === 1) socket.write(HALF_HEADER)
    })
    let accepted = 0
    await until(10_000, () => `the server to accept ${opts.stalled} sockets (${accepted} so far)`, () => (accepted = acceptedOn(port)) >= opts.stalled)
    if (closed > 0) throw new Error(`${closed} stalled clients were closed before the listener was`)
    const start = performance.now()
    let resolvedMs = Number.NaN
    const closing = listener.close().then(() => { resolvedMs = performance.now() - start })
    await until(10_000, () => `all ${opts.stalled} clients to see 'close' (${closed} did)`, () => closed === opts.stalled)
    const allMs = performance.now() - start
    await within(10_000, 'listener.close() to resolve', closing)
    return { closeResolve: resolvedMs, closeAll: Math.max(allMs, resolvedMs) }
  } finally {
    for (const s of clients) s.destroy()
    await server.stop()
  }
}

export const closeGroup: Group = {
  id: 'close',
  title: 'close() with stalled handshakes',
  run: closeWithStalled
}
