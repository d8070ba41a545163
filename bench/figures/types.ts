import type { Subject } from '../subjects.ts'

export interface Options {
  size: number
  /** bytes echoed through the bare pair and plain sockets: more than `size`, those run faster */
  bareSize: number
  chunk: number
  window: number
  messages: number
  messageSize: number
  acceptConns: number
  acceptConcurrency: number
  stalled: number
  idleConns: number
  maxConns: number
  reps: number
  log: (line: string) => void
}

/** One measured repetition of one group for one subject: figure id → value. */
export type Sample = Record<string, number>

export interface Group {
  id: string
  title: string
  /** repetitions of this group (defaults to Options.reps) */
  reps?: (opts: Options) => number
  /** an untimed run per subject before the first repetition */
  warmup?: (subject: Subject, opts: Options) => Promise<void>
  run: (subject: Subject, opts: Options) => Promise<Sample>
  /** measured once per repetition, independent of the subject (the plain-socket ceiling) */
  ceiling?: (opts: Options) => Promise<Sample>
  /** free-form facts a repetition learned (e.g. what gave), last one wins */
  notes?: Record<string, string>
}
