import type { Socket } from 'node:net'
import type { MessageStream, StreamMessageEvent } from '@libp2p/interface'

/** Both ends the windowed echo can drive: a libp2p stream or a plain socket. */
interface Duplex {
  write: (buf: Uint8Array) => boolean
  /** subscribes to data, drain and close; returns the unsubscribe */
  watch: (onData: (bytes: number) => void, onDrain: () => void, onClose: () => void) => () => void
}

/**
 * Sends `total` bytes in `chunk`-sized writes through an echoing peer and
 * resolves when all of them came back. At most `window` bytes are in flight,
 * so neither side buffers without bound. Resolves with the elapsed ms.
 */
async function windowedEcho (io: Duplex, total: number, chunk: Uint8Array, window: number, timeoutMs: number): Promise<number> {
  const start = performance.now()
  return new Promise<number>((resolve, reject) => {
    let sent = 0
    let received = 0
    let blocked = false
    const pump = (): void => {
      while (!blocked && sent < total && sent - received < window) {
        const n = Math.min(chunk.byteLength, total - sent)
        sent += n
        blocked = !io.write(n === chunk.byteLength ? chunk : chunk.subarray(0, n))
      }
    }
    const finish = (err?: Error): void => {
      clearTimeout(timer)
      unwatch()
      if (err != null) reject(err)
      else resolve(performance.now() - start)
    }
    const timer = setTimeout(() => { finish(new Error(`echo timed out after ${timeoutMs} ms: sent ${sent}, received ${received} of ${total}`)) }, timeoutMs)
    const unwatch = io.watch((bytes) => {
      received += bytes
      if (received >= total) finish()
      else pump()
    }, () => { blocked = false; pump() }, () => {
      finish(new Error(`closed after ${received} of ${total} bytes came back`))
    })
    pump()
  })
}

export async function echoStream (stream: MessageStream, total: number, chunk: Uint8Array, window: number, timeoutMs: number): Promise<number> {
  return windowedEcho({
    write: (buf) => stream.send(buf),
    watch: (onData, onDrain, onClose) => {
      const onMessage = (evt: StreamMessageEvent): void => { onData(evt.data.byteLength) }
      stream.addEventListener('message', onMessage)
      stream.addEventListener('drain', onDrain)
      stream.addEventListener('close', onClose)
      return () => {
        stream.removeEventListener('message', onMessage)
        stream.removeEventListener('drain', onDrain)
        stream.removeEventListener('close', onClose)
      }
    }
  }, total, chunk, window, timeoutMs)
}

/** `count` request/response round trips of `message` bytes; resolves with the elapsed ms. */
export async function roundTrips (stream: MessageStream, count: number, message: Uint8Array, timeoutMs: number): Promise<number> {
  const start = performance.now()
  return new Promise<number>((resolve, reject) => {
    let done = 0
    let received = 0
    const timer = setTimeout(() => { finish(new Error(`round trips timed out after ${timeoutMs} ms at ${done} of ${count}`)) }, timeoutMs)
    const onMessage = (evt: StreamMessageEvent): void => {
      received += evt.data.byteLength
      if (received < message.byteLength) return
      received -= message.byteLength
      done++
      if (done === count) finish()
      else stream.send(message)
    }
    const onClose = (): void => { finish(new Error(`stream closed after ${done} of ${count} round trips`)) }
    const finish = (err?: Error): void => {
      clearTimeout(timer)
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('close', onClose)
      if (err != null) reject(err)
      else resolve(performance.now() - start)
    }
    stream.addEventListener('message', onMessage)
    stream.addEventListener('close', onClose)
    stream.send(message)
  })
}

/** The same windowed echo on a plain `net.Socket`: the ceiling. */
export async function echoSocket (socket: Socket, total: number, chunk: Uint8Array, window: number, timeoutMs: number): Promise<number> {
  return windowedEcho({
    write: (buf) => socket.write(buf),
    watch: (onData, onDrain, onClose) => {
      const data = (buf: Buffer): void => { onData(buf.byteLength) }
      socket.on('data', data)
      socket.on('drain', onDrain)
      socket.on('close', onClose)
      return () => {
        socket.off('data', data)
        socket.off('drain', onDrain)
        socket.off('close', onClose)
      }
    }
  }, total, chunk, window, timeoutMs)
}
