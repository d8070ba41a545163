/**
 * A deliberately broken TCP transport, the subject of `--variant broken`.
 *
 * Its listener has the bug of js-libp2p #2760: it starts tracking a socket
 * only once the socket's upgrade has finished, and it does not abort
 * upgrades when it closes. A `close()` that races an upgrade in flight does
 * not know that socket exists, so `server.close()` waits for it (until the
 * upgrader's own timeout, or forever for a peer that never speaks), and the
 * socket outlives the listener. The chaos suite must catch it.
 *
 * Dialing is delegated to `@libp2p/tcp`, which is not under test here.
 */
import net from 'node:net'
import { tcp as referenceTcp } from '@libp2p/tcp'
import { AbstractMultiaddrConnection, ipPortToMultiaddr } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import type { TransportFactory } from './nodes.ts'
import type { AbortOptions, ComponentLogger, CreateListenerOptions, Listener, ListenerEvents, Logger, Transport, Upgrader } from '@libp2p/interface'
import type { AbstractMultiaddrConnectionInit, SendResult } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'

type Chunks = Parameters<AbstractMultiaddrConnection['sendData']>[0]

class SocketConnection extends AbstractMultiaddrConnection {
  constructor (private readonly socket: net.Socket, init: AbstractMultiaddrConnectionInit) {
    super(init)
    socket.on('data', (chunk) => { this.onData(chunk) })
    socket.on('error', (err) => { this.abort(err) })
    socket.once('end', () => { this.onTransportClosed() })
    socket.once('close', () => { this.onTransportClosed() })
    socket.on('drain', () => { this.safeDispatchEvent('drain') })
  }

  sendData (data: Chunks): SendResult {
    let sentBytes = 0
    for (const chunk of data) {
      sentBytes += chunk.byteLength
      if (!this.socket.write(chunk)) return { sentBytes, canSendMore: false }
    }
    return { sentBytes, canSendMore: true }
  }

  sendReset (): void { this.socket.destroy() }
  sendPause (): void { this.socket.pause() }
  sendResume (): void { this.socket.resume() }

  async sendClose (_options?: AbortOptions): Promise<void> {
    if (this.socket.destroyed) return
    await new Promise<void>(resolve => {
      this.socket.once('close', () => { resolve() })
      this.socket.end()
    })
  }
}

class BrokenListener extends TypedEventEmitter<ListenerEvents> implements Listener {
  private readonly server: net.Server
  /** only upgraded sockets land here: the bug */
  private readonly upgraded = new Set<net.Socket>()
  private listenAddr?: Multiaddr

  constructor (private readonly upgrader: Upgrader, private readonly log: Logger) {
    super()
    this.server = net.createServer({ noDelay: true }, (socket) => { this.onSocket(socket) })
    this.server.on('listening', () => { this.safeDispatchEvent('listening') })
    this.server.on('close', () => { this.safeDispatchEvent('close') })
    this.server.on('error', (err) => { this.safeDispatchEvent('error', { detail: err }) })
  }

  private onSocket (socket: net.Socket): void {
    if (socket.remoteAddress == null || socket.remotePort == null) {
      socket.destroy()
      return
    }
    const maConn = new SocketConnection(socket, {
      remoteAddr: ipPortToMultiaddr(socket.remoteAddress, socket.remotePort),
      localAddr: this.listenAddr,
      direction: 'inbound',
      log: this.log.newScope('connection')
    })
    // no close signal is passed: close() cannot abort this upgrade
    this.upgrader.upgradeInbound(maConn, { signal: new AbortController().signal })
      .then(() => {
        this.upgraded.add(socket)
        socket.once('close', () => this.upgraded.delete(socket))
      }, (err: Error) => {
        maConn.abort(err)
      })
  }

  async listen (ma: Multiaddr): Promise<void> {
    const host = ma.getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')?.value
    const port = Number(ma.getComponents().find(c => c.name === 'tcp')?.value)
    this.listenAddr = ma
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen({ host, port }, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
  }

  getAddrs (): Multiaddr[] {
    const address = this.server.address()
    if (address == null || typeof address === 'string' || this.listenAddr == null) return []
    return [multiaddr(`/ip4/${address.address}/tcp/${address.port}`)]
  }

  updateAnnounceAddrs (): void {}

  async close (): Promise<void> {
    const closed = new Promise<void>(resolve => this.server.close(() => { resolve() }))
    for (const socket of this.upgraded) socket.destroy()
    // waits for every socket the server still has, including the untracked ones
    await closed
  }
}

export function brokenTcp (): TransportFactory {
  return (components: { logger: ComponentLogger }) => {
    const reference: Transport = referenceTcp()(components)
    const log = components.logger.forComponent('chaos:broken-listener')
    reference.createListener = (options: CreateListenerOptions) => new BrokenListener(options.upgrader, log)
    return reference
  }
}
