import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/**
 * A full garbage collection, whether or not node was started with
 * --expose-gc: the flag can be set at run time and the function fetched from
 * a fresh context.
 */
function resolveGc (): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (typeof exposed === 'function') return exposed
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

const gc = resolveGc()

/** Collects until the heap stops shrinking (bounded), letting finalizers and timers run between passes. */
export async function fullGc (): Promise<void> {
  let last = Number.POSITIVE_INFINITY
  for (let i = 0; i < 6; i++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
    const used = process.memoryUsage().heapUsed
    if (used >= last * 0.999) return
    last = used
  }
}
