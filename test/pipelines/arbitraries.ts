/**
 * User pipelines made of ordinary RxJS operators, as fast-check values: 1 to
 * 3 stages in `inbound` and one in `lifetime`. Every stage decides by the
 * socket's accept index (`index`) or by time, so a run replays from its seed.
 * None refuses every socket for ever (that is a user's right, not a broken
 * listener): the stages of a pipeline that drop a socket (a filter, a
 * mergeMap to EMPTY, a throw) all drop the same one in `k` (`k` 2 or 3), or
 * the stream ends.
 */
import fc from 'fast-check'
import {
  EMPTY, bufferCount, catchError, concatMap, delay, filter, first, identity, ignoreElements, map, merge,
  mergeAll, mergeMap, of, pipe, repeat, retry, share, take, takeUntil, takeWhile, timer
} from 'rxjs'
import type { InboundOperator, InboundSocket, LifetimeOperator } from '../../src/index.ts'
import type { MultiaddrConnection } from '@libp2p/interface'
import type { MonoTypeOperatorFunction, Observable } from 'rxjs'

type Index = (inbound: InboundSocket) => number

/** a stage of a generated pipeline: what it is called in a report, and the operator it makes */
export interface Stage<O> {
  name: string
  make: (index: Index) => O
}

/** a generated user pipeline */
export interface Pipeline {
  inbound: Array<Stage<InboundOperator>>
  lifetime: Stage<LifetimeOperator>
}

export function describePipeline (p: Pipeline): string {
  const inbound = p.inbound.map((s) => s.name).join(', ')
  return `inbound: pipe(${inbound}), lifetime: ${p.lifetime.name}`
}

const stage = <O>(name: string, make: (index: Index) => O): Stage<O> => ({ name, make })

/** an inbound stage: ordinary RxJS over the accepted sockets */
const istage = (name: string, make: (index: Index) => MonoTypeOperatorFunction<InboundSocket>): Stage<InboundOperator> => ({ name, make })

class StageError extends Error {}

/** one socket in `k` (the one at `r`) */
interface Every { k: number, r: number }
const everyOne = fc.integer({ min: 2, max: 3 }).chain((k) => fc.record({ k: fc.constant(k), r: fc.integer({ min: 0, max: k - 1 }) }))
const ms = fc.integer({ min: 0, max: 80 })

const inboundStage = (drop: Every): fc.Arbitrary<Stage<InboundOperator>> => fc.oneof(
  fc.constant(drop).map(({ k, r }) => istage(`filter(i % ${k} != ${r})`, (index) => filter((s: InboundSocket) => index(s) % k !== r))),
  fc.integer({ min: 1, max: 4 }).map((n) => istage(`take(${n})`, () => take<InboundSocket>(n))),
  fc.constant(istage('first()', () => first<InboundSocket>())),
  fc.integer({ min: 1, max: 4 }).map((n) => istage(`takeWhile(i < ${n})`, (index) => takeWhile((s: InboundSocket) => index(s) < n))),
  fc.integer({ min: 50, max: 600 }).map((t) => istage(`takeUntil(timer(${t}))`, () => takeUntil<InboundSocket>(timer(t)))),
  ms.map((t) => istage(`delay(${t})`, () => delay<InboundSocket>(t))),
  fc.constant(drop).map(({ k, r }) => istage(`mergeMap(i % ${k} == ${r} ? EMPTY : of(s))`, (index) => mergeMap((s: InboundSocket) => index(s) % k === r ? EMPTY : of(s)))),
  ms.map((t) => istage(`mergeMap(s => timer(${t}) → s)`, () => mergeMap((s: InboundSocket) => timer(t).pipe(map(() => s))))),
  ms.map((t) => istage(`concatMap(s => timer(${t}) → s)`, () => concatMap((s: InboundSocket) => timer(t).pipe(map(() => s))))),
  fc.constant(drop).map(({ k, r }) => istage(`map(throws if i % ${k} == ${r})`, (index) => map((s: InboundSocket) => {
    if (index(s) % k === r) throw new StageError(`the user stage throws for socket ${index(s)}`)
    return s
  }))),
  fc.constant(istage('catchError(() => EMPTY)', () => catchError(() => EMPTY))),
  fc.constant(istage('catchError((e, caught) => caught)', () => catchError((_err, caught: Observable<InboundSocket>) => caught))),
  fc.oneof(fc.constant(undefined), fc.integer({ min: 1, max: 3 })).map((n) => istage(`retry(${n ?? ''})`, () => retry<InboundSocket>(n ?? Infinity))),
  // repeat() for ever after a takeWhile would refuse every later socket: a user's right, not a broken listener
  fc.integer({ min: 1, max: 3 }).map((n) => istage(`repeat(${n})`, () => repeat<InboundSocket>(n))),
  fc.constant(istage('share()', () => share<InboundSocket>())),
  fc.integer({ min: 2, max: 3 }).map((n) => istage(`bufferCount(${n}), mergeAll()`, () => pipe(bufferCount<InboundSocket>(n), mergeAll())))
)

type Conn = MonoTypeOperatorFunction<MultiaddrConnection>

const lifetimeStage = (drop: Every): fc.Arbitrary<Stage<LifetimeOperator>> => fc.oneof(
  fc.constant(stage<LifetimeOperator>('identity', () => () => identity)),
  fc.constant(drop).map(({ k, r }) => stage<LifetimeOperator>(`throws if i % ${k} == ${r}`, (index) => (inbound) => {
    if (index(inbound) % k === r) throw new StageError(`the lifetime operator throws for socket ${index(inbound)}`)
    return identity
  })),
  fc.constant(stage<LifetimeOperator>('l$ => merge(l$.pipe(first(), ignoreElements()), l$)', () => () => (l$) => merge(l$.pipe(first(), ignoreElements()), l$))),
  fc.constant(drop).map(({ k, r }) => stage<LifetimeOperator>(`map(throws if i % ${k} == ${r})`, (index) => (inbound): Conn => map((c) => {
    if (index(inbound) % k === r) throw new StageError(`the lifetime stream throws for socket ${index(inbound)}`)
    return c
  }))),
  ms.map((t) => stage<LifetimeOperator>(`delay(${t})`, () => () => delay(t))),
  fc.constant(stage<LifetimeOperator>('share()', () => () => share())),
  fc.constant(stage<LifetimeOperator>('retry()', () => () => retry())),
  fc.constant(stage<LifetimeOperator>('catchError(() => EMPTY)', () => () => catchError(() => EMPTY)))
)

/**
 * Whether a single client dialing again and again can get through. A
 * `bufferCount` releases a batch when its last socket arrives, and a lone
 * client's sockets arrive one at a time: a throw anywhere (which empties the
 * buffer), or a drop after the buffer or in the lifetime (which may always hit
 * the batch's last index), can refuse that client for ever while serving
 * concurrent ones. Those pipelines are not a broken listener; they are left out.
 */
function oneClientGetsThrough (p: Pipeline): boolean {
  const buffer = p.inbound.findIndex((s) => s.name.startsWith('bufferCount'))
  if (buffer === -1) return true
  const drops = (s: Stage<unknown>): boolean => s.name.includes('i % ')
  return ![...p.inbound, p.lifetime].some((s) => s.name.includes('throws')) &&
    !p.inbound.slice(buffer + 1).some(drops) && !drops(p.lifetime)
}

export const pipelines: fc.Arbitrary<Pipeline> = everyOne.chain((drop) => fc.record({
  inbound: fc.array(inboundStage(drop), { minLength: 1, maxLength: 3 }),
  lifetime: lifetimeStage(drop)
})).filter(oneClientGetsThrough)
