export function median (values: number[]): number {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (finite.length === 0) return Number.NaN
  const mid = finite.length >> 1
  return finite.length % 2 === 1 ? finite[mid] : (finite[mid - 1] + finite[mid]) / 2
}

export const KiB = 1024
export const MiB = 1024 * 1024

/** Parses '64MiB', '1KiB', '500', '2MB' into bytes. */
export function parseSize (text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kib|mib|gib|kb|mb|gb)?$/i.exec(text.trim())
  if (m == null) throw new Error(`not a size: ${text}`)
  const unit = (m[2] ?? 'b').toLowerCase()
  const scale: Record<string, number> = { b: 1, kib: KiB, mib: MiB, gib: 1024 * MiB, kb: 1e3, mb: 1e6, gb: 1e9 }
  return Math.round(Number(m[1]) * scale[unit])
}

export function formatSize (bytes: number): string {
  if (bytes >= MiB && bytes % MiB === 0) return `${bytes / MiB} MiB`
  if (bytes >= KiB && bytes % KiB === 0) return `${bytes / KiB} KiB`
  return `${bytes} B`
}

/** Rejects after `ms` with a message saying what was being waited for. */
export async function within<T> (ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`timed out after ${ms} ms waiting for ${what}`)) }, ms)
  })
  try {
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Polls `ready` every few ms until it holds, bounded by `ms`. */
export async function until (ms: number, what: string | (() => string), ready: () => boolean): Promise<void> {
  const deadline = Date.now() + ms
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

/** Runs `count` jobs with at most `concurrency` at a time. */
export async function pool (count: number, concurrency: number, job: (i: number, worker: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async (_, worker) => {
    while (next < count) {
      const i = next++
      await job(i, worker)
    }
  }))
}
