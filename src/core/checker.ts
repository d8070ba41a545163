import { InvalidParametersError } from '@libp2p/interface'

/**
 * The option checker: `checkOptions` and the rules of the transport's own
 * options (the operators' and server guards' further rules are in
 * `check.ts`, which re-exports these).
 *
 * Options checked where they are given: `tcp(init)`, `createListener`,
 * `dial` and every operator factory check their options with
 * `checkOptions`, so a bad value is refused at once with an
 * `InvalidParametersError` that names the option and the value, instead of
 * failing later, far away, or not at all.
 *
 * A rule says what a good value is; an option left `undefined` is fine
 * unless its rule is `required(...)`:
 *
 * @example
 * export function upgradeCap (options: UpgradeCapOptions): UpgradeCap {
 *   checkOptions('upgradeCap', options, {
 *     max: required(integer({ min: 1 })),
 *     policy: oneOf('wait', 'drop', 'close-server'),
 *     maxWaiting: integer({ min: 0 }),
 *     reason: text(),
 *     shutdownReason: text()
 *   })
 *   // upgradeCap({ max: 0 }) throws
 *   // InvalidParametersError: upgradeCap: max must be an integer from 1 up, got 0
 * }
 *
 * The rules object must name every option of the interface (TypeScript
 * says so when one is missing): a new option gets its rule in the same
 * change. A condition across options follows the call, as `checkPauseWindow`
 * does for `closeAbove >= listenBelow`.
 */
export interface Rule {
  /** what a good value is, as the message says it: `'an integer from 1 up'` */
  readonly expected: string
  /** true for a good value (`undefined` never reaches it unless required) */
  test(value: unknown): boolean
  /** the value must be given */
  readonly required?: boolean
  /** for an object: the rules of its fields, checked after `test` */
  readonly fields?: Readonly<Record<string, Rule>>
  /** for a list: the rule of each element, checked after `test` */
  readonly each?: Rule
}

/** One rule per option of `T`, none left out */
export type Rules<T> = { readonly [K in keyof T]-?: Rule }

/**
 * The longest delay Node's timers take, 2^31 - 1 ms (about 24.8 days): a
 * longer one makes `setTimeout` fire after 1 ms and `socket.setTimeout` cut
 * it to this, each with a `TimeoutOverflowWarning`.
 */
export const TIMEOUT_MAX = 2 ** 31 - 1

/**
 * Checks `options` against `rules` and throws an `InvalidParametersError`
 * naming the first bad option (`where: path must be expected, got value`).
 * Keys without a rule are left alone, as `@libp2p/tcp` leaves them.
 *
 * @param where - who is given the options, as the user called it (`tcp`, `proxyProtocol`, `dial to /ip4/…`)
 * @param options - the options as given (undefined counts as `{}`)
 * @param rules - one rule per option
 */
export function checkOptions<T> (where: string, options: T | undefined, rules: Rules<T>): void {
  checkValue(where, '', options ?? {}, object(rules))
}

/**
 * An `InvalidParametersError` for `where`, for a condition a single rule
 * cannot state.
 */
export function invalidOption (where: string, message: string): InvalidParametersError {
  return new InvalidParametersError(`${where}: ${message}`)
}

/**
 * The one condition across options the house has: a pause on the live
 * socket count (`tcp`'s `closeServerOnMaxConnections`, `pauseOnMaxConnections`)
 * resumes below where it paused, `closeAbove >= listenBelow`.
 */
export function checkPauseWindow (where: string, { closeAbove, listenBelow }: { closeAbove: number, listenBelow: number }): void {
  if (closeAbove < listenBelow) throw invalidOption(where, `closeAbove (${closeAbove}) must be >= listenBelow (${listenBelow})`)
}

/** The option must be given */
export function required (rule: Rule): Rule {
  return { ...rule, required: true }
}

/** A finite number in `[min, max]`: `from 0 up`, `from 0 to 32` */
export function number ({ min, max = Infinity }: { min: number, max?: number }): Rule {
  return {
    expected: `a number from ${min} ${max === Infinity ? 'up' : `to ${max}`}`,
    test: (value) => typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max
  }
}

/** An integer in `[min, max]` */
export function integer (bounds: { min: number, max?: number }): Rule {
  const { expected, test } = number(bounds)
  return { expected: expected.replace('a number', 'an integer'), test: (value) => Number.isSafeInteger(value) && test(value) }
}

/** A delay in ms that Node's timers take: from 0 to `TIMEOUT_MAX` */
export function ms (): Rule {
  return { ...number({ min: 0, max: TIMEOUT_MAX }), expected: `a number of ms from 0 to ${TIMEOUT_MAX}` }
}

/** true or false */
export function boolean (): Rule {
  return { expected: 'true or false', test: (value) => typeof value === 'boolean' }
}

/** A function (a callback, an operator) */
export function fn (): Rule {
  return { expected: 'a function', test: (value) => typeof value === 'function' }
}

/** One of the given values */
export function oneOf (...values: readonly unknown[]): Rule {
  return { expected: `one of ${values.map(show).join(', ')}`, test: (value) => values.includes(value) }
}

/** An object; with `fields`, each field checked by its rule (reported as `option.field`) */
export function object<T> (fields?: Rules<T>, expected = 'an object'): Rule {
  return { expected, test: isObject, fields }
}

function checkValue (where: string, path: string, value: unknown, rule: Rule): void {
  if (value === undefined) {
    if (rule.required === true) throw invalidOption(where, `${path} is required (${rule.expected})`)
    return
  }
  if (!rule.test(value)) throw invalidOption(where, `${path === '' ? 'the options' : path} must be ${rule.expected}, got ${show(value)}`)
  for (const [key, field] of Object.entries(rule.fields ?? {})) {
    checkValue(where, path === '' ? key : `${path}.${key}`, (value as Record<string, unknown>)[key], field)
  }
  const each = rule.each
  if (each != null) (value as unknown[]).forEach((element, i) => { checkValue(where, `${path}[${i}]`, element, required(each)) })
}

/** a plain object: not null, not an array */
export function isObject (value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A value as the message shows it: strings quoted, numbers as written, anything else by its kind */
function show (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)
  if (typeof value === 'function') return 'a function'
  if (Array.isArray(value)) return `an array of ${value.length}`
  if (isObject(value)) return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`
  return String(value)
}
