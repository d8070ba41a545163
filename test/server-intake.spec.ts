/**
 * The one intake (`src/core/server-intake.ts`) on a real server: what the
 * transport's listener takes from it beyond pause and resume, a rest after
 * an accept error and the report of a pause that closed the handle.
 */
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { closePhasePassed } from '../src/core/close-handle.ts'
import { serverIntake } from '../src/core/server-intake.ts'
import { waitForEvent, waitUntil } from './fixtures/wait.ts'
import type { ServerIntake } from '../src/core/server-intake.ts'

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function listening (): Promise<{ server: net.Server, paused: string[][], intake: ServerIntake }> {
  const server = net.createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const paused: string[][] = []
  const intake = serverIntake(server, { onPaused: (reasons) => { paused.push(reasons) } })
  cleanup.push(async () => {
    await intake.end()
    await new Promise<void>(resolve => server.close(() => { resolve() }))
  })
  return { server, paused, intake }
}

/** the listening TCP handles of this process, a failed bind's (closed, not yet released) included */
function tcpServerWraps (): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'TCPServerWrap').length
}

describe('serverIntake', () => {
  it('tells of a pause that closed the handle, with the reasons holding it, once', async () => {
    const { server, paused, intake } = await listening()
    intake.pause('a')
    intake.pause('b')
    expect(server.listening).toBe(false)
    expect(paused).toEqual([['a']])
  })

  it('rests: closes the handle, listens again on the same port after the rest, and counts a rest under way once', async () => {
    const { server, paused, intake } = await listening()
    const port = (server.address() as net.AddressInfo).port
    intake.rest('accept-error', 20)
    intake.rest('accept-error', 20)
    expect(server.listening).toBe(false)
    expect(intake.holding).toBe(true)
    await waitForEvent(server, 'listening', 2000, 'listening again after the rest')
    await waitUntil(() => !intake.holding, 2000, 'the intake to hold no more once listening again')
    expect((server.address() as net.AddressInfo).port).toBe(port)
    expect(paused).toEqual([['accept-error']])
  })

  it('ends after a re-open under way has settled, closed again, and released', async () => {
    const { server, intake } = await listening()
    const port = (server.address() as net.AddressInfo).port
    // what tests before closed is released: this server's handle is one of these
    await closePhasePassed()
    const before = tcpServerWraps()
    intake.pause('a')
    intake.resume('a')
    // the bind is under way (127.0.0.1 binds on the next tick)
    expect(intake.holding).toBe(true)
    await intake.end()
    expect(intake.holding).toBe(false)
    expect(server.listening).toBe(false)
    await intake.released
    expect(tcpServerWraps(), 'no listening handle of its own once released').toBe(before - 1)
    // the port is free
    const other = net.createServer()
    await new Promise<void>((resolve, reject) => { other.once('error', reject).listen(port, '127.0.0.1', resolve) })
    await new Promise(resolve => other.close(resolve))
  })

  it('ends after a re-open that fails, reported and not retried, with the failed bind\'s handle released', async () => {
    const server = net.createServer()
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as net.AddressInfo).port
    await closePhasePassed()
    const before = tcpServerWraps()
    const errors: string[] = []
    const intake = serverIntake(server, { retryAfter: 10, onError: (err) => errors.push((err as NodeJS.ErrnoException).code ?? '') })
    server.on('error', () => {})
    intake.pause('a')
    // another server takes the port while intake is paused
    const other = net.createServer()
    await new Promise<void>(resolve => other.listen(port, '127.0.0.1', resolve))
    cleanup.push(async () => { await new Promise(resolve => other.close(resolve)) })
    intake.resume('a')
    await intake.end()
    expect(errors).toEqual(['EADDRINUSE'])
    expect(intake.holding).toBe(false)
    await intake.released
    // the other server's handle instead of its own: the failed bind's is released, and no retry is armed to bind again
    expect(tcpServerWraps()).toBe(before)
  })

  it('rests no more once ended', async () => {
    const { server, intake } = await listening()
    intake.rest('accept-error', 20)
    await intake.end()
    intake.rest('accept-error', 20)
    expect(server.listening).toBe(false)
    expect(intake.holding).toBe(true)
  })
})
