/**
 * The one intake (`src/core/server-intake.ts`) on a real server: what the
 * transport's listener takes from it beyond pause and resume, a rest after
 * an accept error and the report of a pause that closed the handle.
 */
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
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

  it('rests no more once ended', async () => {
    const { server, intake } = await listening()
    intake.rest('accept-error', 20)
    await intake.end()
    intake.rest('accept-error', 20)
    expect(server.listening).toBe(false)
    expect(intake.holding).toBe(true)
  })
})
