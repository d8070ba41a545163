/**
 * The mocha shim, tested by running mocha-style cases with known outcomes
 * (`fixtures/mocha-compat/cases.test.ts`, some of which must fail) in a
 * vitest of their own and reading each case's result.
 */
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { createVitest } from 'vitest/node'
import type { RunnerTask } from 'vitest'

const casesDir = fileURLToPath(new URL('./fixtures/mocha-compat/', import.meta.url))

interface Outcome { state?: string, error?: string }

async function runCases (): Promise<Map<string, Outcome>> {
  // the cases' own report (with its intended failures) stays out of this run's output
  const silent = new Writable({ write (chunk, encoding, callback) { callback() } })
  const vitest = await createVitest('test', {
    config: false,
    root: casesDir,
    include: ['cases.test.ts'],
    watch: false,
    cache: false,
    reporters: []
  }, {}, { stdout: silent, stderr: silent })
  try {
    await vitest.start()
    return new Map(vitest.state.getFiles().flatMap(leaves))
  } finally {
    await vitest.close()
  }
}

function leaves (task: RunnerTask): Array<[string, Outcome]> {
  if ('tasks' in task) return task.tasks.flatMap(leaves)
  return [[task.name, { state: task.result?.state, error: task.result?.errors?.[0]?.message }]]
}

describe('mocha-compat', () => {
  let outcomes: Map<string, Outcome>

  beforeAll(async () => {
    outcomes = await runCases()
  }, 20_000)

  it('collects every case', () => {
    expect(outcomes.size).toBe(9)
  })

  it('shares mocha\'s this between before hooks and tests', () => {
    expect(outcomes.get('shares this with hooks')).toEqual({ state: 'pass' })
  })

  it('fails a test past the timeout its describe set with this.timeout()', () => {
    expect(outcomes.get('fails past the suite timeout')).toEqual({
      state: 'fail',
      error: 'Timeout of 200ms exceeded in "suite fails past the suite timeout"'
    })
  })

  it('lets this.timeout() inside a test extend its own timeout', () => {
    expect(outcomes.get('passes when this.timeout extends it')).toEqual({ state: 'pass' })
  })

  it('bounds this.timeout(0) by maxTimeout', () => {
    expect(outcomes.get('fails past maxTimeout even with this.timeout(0)')).toMatchObject({
      state: 'fail',
      error: expect.stringContaining('Timeout of 1000ms')
    })
  })

  it('skips a test that calls this.skip(), without running the rest of it', () => {
    expect(outcomes.get('skips with this.skip()')).toEqual({ state: 'skip' })
  })

  it('supports the done callback, with and without an error', () => {
    expect(outcomes.get('passes with done()')).toEqual({ state: 'pass' })
    expect(outcomes.get('fails with done(err)')).toEqual({ state: 'fail', error: 'done with an error' })
  })

  it('skips every test of a suite whose before hook calls this.skip(), and their each-hooks', () => {
    expect(outcomes.get('is skipped')).toEqual({ state: 'skip' })
    expect(outcomes.get('ran the each-hooks only for tests that ran')).toEqual({ state: 'pass' })
  })
})
