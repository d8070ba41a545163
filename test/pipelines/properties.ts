/**
 * The property of the pipeline suite: for any generated user pipeline (see
 * `arbitraries.ts`), the contract of docs/pipelines.md holds on a real
 * listener with real clients and a real peer (see `scenario.ts`).
 */
import fc from 'fast-check'
import { pipe } from 'rxjs'
import { describePipeline, pipelines } from './arbitraries.ts'
import { runScenario, socketIndexes } from './scenario.ts'
import type { Pipeline } from './arbitraries.ts'
import type { ScenarioResult } from './scenario.ts'

/** Runs one generated pipeline */
export async function runPipeline (p: Pipeline): Promise<ScenarioResult> {
  const { index, indexing } = socketIndexes()
  return runScenario({
    name: describePipeline(p),
    inbound: pipe(indexing, ...p.inbound.map((s) => s.make(index)) as [any]),
    lifetime: p.lifetime.make(index)
  })
}

/** The property; `onRun` hears of every run (the tool prints and counts them) */
export function contractHolds (onRun?: (result: ScenarioResult) => void): fc.IAsyncPropertyWithHooks<[Pipeline]> {
  return fc.asyncProperty(pipelines, async (p) => {
    const result = await runPipeline(p)
    onRun?.(result)
    if (result.failures.length > 0) {
      throw new Error(`${result.name}:\n  ${result.failures.join('\n  ')}`)
    }
  })
}
