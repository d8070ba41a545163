/**
 * The header reader on real loopback sockets: a server on 127.0.0.1 that
 * runs each accepted socket through `proxyProtocol` (trusting 127.0.0.1;
 * an untrusted client leaves from 127.0.0.2), and a client that writes the
 * input's chunks one write at a time, each waited for, then ends.
 */
import net from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { Observable } from 'rxjs'
import { proxyProtocol } from '../../operators/proxy-protocol/index.ts'
import { toInboundSocket } from '../../src/core/inbound-socket.ts'
import { ignoreSocketError, socketClosed$ } from '../../src/core/socket-closed.ts'
import { split } from './reader.ts'
import type { InboundSocket } from '../../operators/index.ts'
import type { ReaderInput } from './reader.ts'
import type { Socket } from 'node:net'

/** what came of one run on loopback */
export interface LoopbackOutcome {
  kind: 'passed' | 'rejected'
  reason?: string
  remoteAddr?: string
  rest?: string
  /** listeners the reader left on the server's socket beyond those it had when accepted */
  leftListeners: number
}

const WATCHED = ['readable', 'end', 'close', 'data'] as const
const RUN_MS = 5_000

export class LoopbackReader {
  private readonly server = net.createServer({ noDelay: true })
  private next?: (socket: Socket) => void
  private port = 0

  async start (): Promise<this> {
    this.server.on('connection', (socket) => {
      if (this.next === undefined) socket.destroy()
      else this.next(socket)
    })
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as net.AddressInfo).port
    return this
  }

  async stop (): Promise<void> {
    await new Promise((resolve) => this.server.close(resolve))
  }

  async run (input: ReaderInput): Promise<LoopbackOutcome> {
    const localAddr = multiaddr(`/ip4/127.0.0.1/tcp/${this.port}`)
    let settle: (outcome: LoopbackOutcome) => void = () => {}
    const outcome = new Promise<LoopbackOutcome>((resolve) => { settle = resolve })
    let accepted: Socket | undefined
    let unsubscribe = (): void => {}
    this.next = (socket) => {
      accepted = socket
      const baseline = WATCHED.map((event) => socket.listenerCount(event))
      socket.on('error', ignoreSocketError)
      const inbound = toInboundSocket(socket, {
        localAddr,
        closed$: socketClosed$,
        intake: { pause: () => {}, resume: () => {} },
        onReject: (_inbound, reason) => { settle({ kind: 'rejected', reason, leftListeners: 0 }) }
      })
      const subscription = new Observable<InboundSocket>((subscriber) => { subscriber.next(inbound) })
        .pipe(proxyProtocol({ trusted: ['127.0.0.1/32'], timeout: RUN_MS, ...input.options }))
        .subscribe(({ remoteAddr }) => {
          const leftListeners = WATCHED.reduce((sum, event, i) => sum + Math.max(0, socket.listenerCount(event) - baseline[i]), 0)
          const chunks: Buffer[] = []
          const done = (): void => { settle({ kind: 'passed', remoteAddr: remoteAddr.toString(), rest: Buffer.concat(chunks).toString('hex'), leftListeners }) }
          if (socket.readableEnded) {
            done()
            return
          }
          socket.on('data', (chunk: Buffer) => chunks.push(chunk))
          socket.once('end', done)
        })
      unsubscribe = () => { subscription.unsubscribe() }
    }

    const client = net.connect({ port: this.port, host: '127.0.0.1', localAddress: input.trusted ? '127.0.0.1' : '127.0.0.2', noDelay: true })
    client.on('error', () => {})
    const closed = new Promise((resolve) => client.once('close', resolve))
    const timer = setTimeout(() => { settle({ kind: 'rejected', reason: 'loopback run took too long', leftListeners: 0 }) }, RUN_MS * 2)
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('connect', resolve)
        client.once('error', reject)
      })
      for (const piece of split(input.bytes, input.cuts)) {
        if (client.destroyed) break
        const written = await new Promise<boolean>((resolve) => client.write(piece, (err) => { resolve(err == null) }))
        if (!written) break
        await new Promise((resolve) => setImmediate(resolve))
      }
      client.end()
      return await outcome
    } finally {
      clearTimeout(timer)
      unsubscribe()
      client.destroy()
      accepted?.destroy()
      await closed
      this.next = undefined
    }
  }
}
