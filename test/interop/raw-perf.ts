/**
 * The perf protocol's framing on plain `node:net` sockets, no libp2p: the
 * floor of the perf breakdown (what a JS process moves over TCP with no
 * encryption, no muxer and no libp2p transport). Run as a child process it
 * is the server (`node --import tsx raw-perf.ts` prints
 * `{"event":"listening","port":N}`); `rawPerf()` is the client.
 */
import net from 'node:net'

const BLOCK = Buffer.alloc(64 * 1024)

async function write (socket: net.Socket, total: number): Promise<void> {
  let left = total
  while (left > 0) {
    const n = Math.min(left, BLOCK.byteLength)
    left -= n
    if (!socket.write(n === BLOCK.byteLength ? BLOCK : BLOCK.subarray(0, n))) {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void => { socket.off('drain', onDrain); reject(err) }
        const onDrain = (): void => { socket.off('error', onError); resolve() }
        socket.once('drain', onDrain)
        socket.once('error', onError)
      })
    }
  }
}

/** One request on a new connection: `upload` bytes up, `download` bytes down; resolves the seconds from connect to the last byte. */
export async function rawPerf (port: number, upload: number, download: number): Promise<number> {
  const start = performance.now()
  const socket = net.connect({ host: '127.0.0.1', port, noDelay: true })
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  const reading = new Promise<number>((resolve, reject) => {
    let received = 0
    socket.on('data', (d: Buffer) => { received += d.byteLength })
    socket.once('end', () => { resolve(received) })
    socket.once('error', reject)
  })
  const header = Buffer.alloc(8)
  header.writeBigUInt64BE(BigInt(download))
  socket.write(header)
  await write(socket, upload)
  socket.end()
  const received = await reading
  socket.destroy()
  if (received !== download) throw new Error(`raw perf: asked for ${download} bytes, got ${received}`)
  return (performance.now() - start) / 1000
}

if (process.argv[1] === import.meta.filename) {
  const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
    let header = Buffer.alloc(0)
    let requested: number | undefined
    socket.on('error', () => {})
    socket.on('data', (d: Buffer) => {
      if (requested != null) return
      header = Buffer.concat([header, d])
      if (header.byteLength >= 8) requested = Number(header.readBigUInt64BE(0))
    })
    socket.once('end', () => {
      void write(socket, requested ?? 0).then(() => socket.end(), () => socket.destroy())
    })
  })
  server.listen(0, '127.0.0.1', () => {
    const addr = server.address() as net.AddressInfo
    process.stdout.write(JSON.stringify({ event: 'listening', port: addr.port }) + '\n')
  })
  process.stdin.resume()
  process.stdin.once('end', () => { process.exit(0) })
}
