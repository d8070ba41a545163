import { createServer, connect } from 'node:net'
import { once } from 'node:events'
import { bareDial, bareListener } from '../passthrough.ts'
import { echoSocket, echoStream } from '../pump.ts'
import { cpuSince } from './throughput.ts'
import type { Group, Options, Sample } from './types.ts'
import type { Subject } from '../subjects.ts'
import type { AddressInfo, Socket } from 'node:net'

/** A raw MultiaddrConnection pair of one transport (no encryption, no muxer), the listener side echoing. */
async function bareEcho (subject: Subject, size: number, opts: Options): Promise<{ rate: number, cpu: number }> {
  const bare = await bareListener(subject)
  try {
    const inbound = bare.nextInbound()
    const dialer = await bareDial(bare)
    const echo = await inbound
    echo.addEventListener('message', (evt) => {
      if (echo.status === 'open') echo.send(evt.data)
    })
    const cpu = process.cpuUsage()
    const ms = await echoStream(dialer, size, new Uint8Array(opts.chunk).fill(3), opts.window, 120_000)
    const cpuUs = cpuSince(cpu)
    await dialer.close().catch(() => {})
    return { rate: size / 1e6 / (ms / 1e3), cpu: cpuUs / (size / 2 ** 20) }
  } finally {
    await bare.close()
  }
}

/** The same echo on plain `node:net` sockets: what loopback gives without libp2p. */
async function netEcho (size: number, opts: Options): Promise<{ rate: number, cpu: number }> {
  const accepted = new Set<Socket>()
  const server = createServer({ noDelay: true }, (socket) => {
    accepted.add(socket)
    socket.on('data', (buf) => {
      if (!socket.write(buf)) {
        socket.pause()
        socket.once('drain', () => socket.resume())
      }
    })
    socket.on('error', () => {})
    socket.on('close', () => accepted.delete(socket))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const client = connect({ port, host: '127.0.0.1', noDelay: true })
  try {
    await once(client, 'connect')
    const cpu = process.cpuUsage()
    const ms = await echoSocket(client, size, new Uint8Array(opts.chunk).fill(3), opts.window, 120_000)
    return { rate: size / 1e6 / (ms / 1e3), cpu: cpuSince(cpu) / (size / 2 ** 20) }
  } finally {
    client.destroy()
    for (const s of accepted) s.destroy()
    await new Promise((resolve) => server.close(resolve))
  }
}

export const bareGroup: Group = {
  id: 'bare',
  title: 'bare MultiaddrConnection pair echo (pass-through upgrader), vs plain node:net',
  warmup: async (subject, opts) => {
    await bareEcho(subject, opts.bareSize, opts)
    await netEcho(opts.bareSize, opts)
  },
  run: async (subject, opts): Promise<Sample> => {
    const { rate, cpu } = await bareEcho(subject, opts.bareSize, opts)
    return { bare: rate, bareCpu: cpu }
  },
  ceiling: async (opts): Promise<Sample> => {
    const { rate, cpu } = await netEcho(opts.bareSize, opts)
    return { bare: rate, bareCpu: cpu }
  }
}
