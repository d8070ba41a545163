/**
 * `closeListeningHandle()` on both of its paths: the runtime internal
 * `server._handle.close(callback)` where the runtime has it (Node, Deno), and
 * the public fallback where it does not (Bun, or any runtime that drops it),
 * forced here on a real server through the probe.
 */
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import fs from 'node:fs'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { closeListeningHandle, listeningHandleOf } from '../../src/core/close-handle.ts'
import { handleListing } from '../fixtures/handles.ts'
import { within } from '../fixtures/wait.ts'
import type { HandleListing } from '../fixtures/handles.ts'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rx-tcp-close-handle-'))
const servers: net.Server[] = []
let listing: HandleListing

beforeAll(async () => {
  listing = await handleListing()
})

afterEach(async () => {
  for (const server of servers.splice(0)) {
    if (server.listening) await new Promise<void>(resolve => server.close(() => { resolve() }))
  }
})

/**
 * The listening TCP servers the runtime lists (`'none'`: it lists nothing, see
 * fixtures/handles.ts). A unix listener is a 'PipeWrap' there, like vitest's own
 * pipes, so only TCP servers are counted.
 */
function serverWraps (): number {
  return process.getActiveResourcesInfo().filter(kind => kind === 'TCPServerWrap').length
}

async function listeningServer (where: 'tcp' | 'unix'): Promise<{ server: net.Server, connect: () => net.Socket }> {
  const server = net.createServer(socket => { socket.destroy() })
  servers.push(server)
  const target = where === 'unix' ? path.join(tmp, `s-${servers.length}.sock`) : undefined
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    if (target != null) server.listen(target, resolve)
    else server.listen(0, '127.0.0.1', resolve)
  })
  const port = (server.address() as net.AddressInfo).port
  return { server, connect: () => target != null ? net.connect(target) : net.connect(port, '127.0.0.1') }
}

/** the error code a new connection gets; fails the test if it connects */
async function refused (connect: () => net.Socket): Promise<string> {
  const socket = connect()
  try {
    return await within(new Promise<string>((resolve, reject) => {
      socket.once('connect', () => { reject(new Error('the closed server still accepts connections')) })
      socket.once('error', (err: NodeJS.ErrnoException) => { resolve(err.code ?? err.message) })
    }), 2_000, 'a connection to the closed server to be refused')
  } finally {
    socket.destroy()
  }
}

describe('closeListeningHandle()', () => {
  for (const where of ['tcp', 'unix'] as const) {
    it(`on ${where}, closes through the runtime's handle where it has one and resolves once the runtime released it`, async () => {
      const { server, connect } = await listeningServer(where)
      const counted = listing === 'resources' && where === 'tcp'
      const before = counted ? serverWraps() : 0
      const handle = listeningHandleOf(server)
      if (handle == null) {
        // the runtime has no `_handle.close(cb)`: the fallback must have been taken, and keep its part of the contract
        expect((server as unknown as { _handle?: { close?: unknown } })._handle?.close).toBeUndefined()
      }
      let wrapsWhenResolved = -1
      await within(closeListeningHandle(server).then(() => { wrapsWhenResolved = counted ? serverWraps() : 0 }), 2_000, 'closeListeningHandle() to resolve')
      expect(server.listening).toBe(false)
      if (handle != null && counted) {
        // at the moment it resolved, not a poll later
        expect(wrapsWhenResolved).toBe(before - 1)
      }
      expect(await refused(connect)).toMatch(/ECONNREFUSED|ENOENT/)
    })

    it(`on ${where}, falls back to the public close where the runtime has no handle, and the port refuses connections once it resolved`, async () => {
      const { server, connect } = await listeningServer(where)
      const counted = listing === 'resources' && where === 'tcp'
      const before = counted ? serverWraps() : 0
      let wrapsWhenResolved = -1
      await within(closeListeningHandle(server, () => undefined).then(() => { wrapsWhenResolved = counted ? serverWraps() : 0 }), 2_000, 'closeListeningHandle() to resolve without the handle')
      expect(server.listening).toBe(false)
      if (counted) {
        // where the runtime lists handles, two loop turns were enough for it to free this one
        expect(wrapsWhenResolved).toBe(before - 1)
      }
      expect(await refused(connect)).toMatch(/ECONNREFUSED|ENOENT/)
    })
  }

  it('resolves at once for a server that does not listen, on either path', async () => {
    const server = net.createServer()
    await within(closeListeningHandle(server), 100, 'a close of a server that never listened')
    await within(closeListeningHandle(server, () => undefined), 100, 'the same without the handle')
  })
})
