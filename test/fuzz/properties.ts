/**
 * The properties of the header reader that `npm run fuzz` and
 * fuzz.spec.ts check. Each is a fast-check async property; `realSockets`
 * runs on loopback TCP, the others on the faithful stream of reader.ts.
 */
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import { tcpMultiaddr } from '../../src/core/addresses.ts'
import { readerInput, validInput } from './arbitraries.ts'
import { runReader } from './reader.ts'
import { LoopbackReader } from './loopback.ts'
import type { ReaderInput, ReaderReport } from './reader.ts'

/** a reason the report breaks the invariants every run must keep, or undefined */
export function broken (input: ReaderInput, report: ReaderReport): string | undefined {
  const max = input.options.maxHeaderBytes ?? 4096
  if (report.thrown !== undefined) return report.thrown
  if (report.outcome.reason === 'undecided') return 'the reader had not decided after the end and the timeout'
  if (report.maxHeld > max) return `held ${report.maxHeld} bytes between chunks, more than maxHeaderBytes ${max}`
  if (report.leftListeners > 0) return `${report.leftListeners} listener(s) left on the socket`
  if (report.leftTimers > 0) return `${report.leftTimers} timer(s) left scheduled`
  return undefined
}

/** never throws, always decides, never holds more than maxHeaderBytes, leaves no listener or timer */
export const invariants = fc.asyncProperty(readerInput, async (input) => {
  const report = await runReader(input)
  const why = broken(input, report)
  if (why !== undefined) throw new Error(why)
})

/** the same outcome whether the bytes come in the given chunks or in one */
export const chunkingInvariance = fc.asyncProperty(readerInput, async (input) => {
  const [chunked, whole] = [await runReader(input), await runReader({ ...input, cuts: [] })]
  if (!isDeepStrictEqual(chunked.outcome, whole.outcome)) {
    throw new Error(`chunked ${JSON.stringify(chunked.outcome)} but whole ${JSON.stringify(whole.outcome)}`)
  }
})

/** a valid header from a trusted peer, in any chunks: passed with its client, the payload intact */
export const validHeaders = fc.asyncProperty(validInput, async ([header, payload, cuts, end]) => {
  const input: ReaderInput = { bytes: Buffer.concat([header.bytes, payload]), cuts, end, trusted: true, options: {} }
  const { outcome } = await runReader(input)
  const expected = header.client === undefined ? '/ip4/10.0.0.5/tcp/50000' : tcpMultiaddr(header.client.ip, header.client.port).toString()
  if (outcome.kind !== 'passed') throw new Error(`refused: ${JSON.stringify(outcome)}`)
  if (outcome.remoteAddr !== expected) throw new Error(`address ${outcome.remoteAddr ?? ''}, expected ${expected}`)
  if (outcome.rest !== payload.toString('hex')) throw new Error(`payload ${outcome.rest ?? ''}, expected ${payload.toString('hex')}`)
  if ((outcome.proxy as { version?: number } | undefined)?.version !== header.version) throw new Error(`version ${JSON.stringify(outcome.proxy)}`)
})

/**
 * On real loopback sockets, the bytes written in their chunks: the same
 * decision, address and payload as the faithful stream with the bytes in
 * one piece, and nothing left on the server's socket.
 */
export function realSockets (loopback: LoopbackReader): fc.IAsyncPropertyWithHooks<[ReaderInput]> {
  return fc.asyncProperty(readerInput.map((input) => ({ ...input, end: true })), async (input) => {
    const [real, model] = [await loopback.run(input), await runReader({ ...input, cuts: [] })]
    const expected = { kind: model.outcome.kind, reason: model.outcome.reason, remoteAddr: model.outcome.remoteAddr, rest: model.outcome.rest }
    if (model.outcome.remoteAddr === '/ip4/10.0.0.5/tcp/50000' || model.outcome.remoteAddr === '/ip4/192.0.2.7/tcp/50000') {
      // the stream's own address stands in for the real socket's
      expected.remoteAddr = real.remoteAddr
    }
    // through JSON: a field left undefined and one absent are the same outcome
    if (!isDeepStrictEqual(JSON.parse(JSON.stringify(real)), JSON.parse(JSON.stringify({ ...expected, leftListeners: 0 })))) {
      throw new Error(`on loopback ${JSON.stringify(real)}, on the stream ${JSON.stringify(expected)}`)
    }
  })
}

export const PROPERTIES = ['invariants', 'chunking', 'valid', 'loopback'] as const
export type PropertyName = typeof PROPERTIES[number]
