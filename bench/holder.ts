// A child process of the max-connections figure: it opens and holds client
// sockets to the listener under test, so that the listener's process alone
// spends file descriptors on the server side. Driven over IPC by figures/max-conns.ts.
import { connect } from 'node:net'
import { HALF_HEADER } from './half-header.ts'
import type { Socket } from 'node:net'

export interface HoldRequest {
  host: string
  port: number
  localAddress: string
  count: number
  concurrency: number
  /**
   * The close figure's clients: odd sockets write half a multistream header,
   * a socket closing is expected, and the time the last one closed is reported
   */
  stall?: boolean
}

export type HolderReport =
  | { type: 'progress', connected: number }
  | { type: 'lost', connected: number, reason: string }
  | { type: 'done', connected: number }
  | { type: 'allClosed', at: string }

const sockets: Socket[] = []
let connected = 0
let lost = false
let closed = 0

function report (msg: HolderReport): void {
  process.send?.(msg)
}

function lose (reason: string): void {
  if (lost) return
  lost = true
  report({ type: 'lost', connected, reason })
}

async function openOne (req: HoldRequest): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = connect({ host: req.host, port: req.port, localAddress: req.localAddress })
    sockets.push(socket)
    const timer = setTimeout(() => { lose('connect timed out after 10 s'); socket.destroy(); resolve(false) }, 10_000)
    socket.once('connect', () => {
      clearTimeout(timer)
      connected++
      if (connected % 500 === 0) report({ type: 'progress', connected })
      if (req.stall === true) {
        if (connected % 2 === 1) socket.write(HALF_HEADER)
        socket.once('close', () => {
          // process.hrtime is CLOCK_MONOTONIC, comparable with the parent's
          if (++closed === req.count) report({ type: 'allClosed', at: process.hrtime.bigint().toString() })
        })
      } else {
        // a socket the server drops after accepting it is what giving way looks like from here
        socket.once('close', () => { lose('server closed an accepted socket') })
      }
      resolve(true)
    })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      lose(`client socket error ${err.code ?? err.message}`)
      resolve(false)
    })
  })
}

async function hold (req: HoldRequest): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: req.concurrency }, async () => {
    // eslint-disable-next-line no-unmodified-loop-condition -- `lost` is set by a socket's 'close' handler
    while (next < req.count && !lost) {
      next++
      if (!await openOne(req)) return
    }
  }))
  report({ type: 'done', connected })
}

process.on('message', (msg: HoldRequest | 'exit') => {
  if (msg === 'exit') {
    for (const s of sockets) s.destroy()
    process.disconnect()
    return
  }
  hold(msg).catch((err: Error) => { lose(`holder failed: ${err.message}`) })
})
// bounded: a holder never outlives a minute and a half, whatever its parent does
setTimeout(() => { for (const s of sockets) s.destroy(); process.exit(0) }, 90_000).unref()
process.on('disconnect', () => { for (const s of sockets) s.destroy(); process.exit(0) })
