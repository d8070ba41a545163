import { IpNet } from '@chainsafe/netmask'
import { InvalidParametersError } from '@libp2p/interface'
import { isMultiaddr } from '@multiformats/multiaddr'

/**
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
 * change. A condition across options (`closeAbove >= listenBelow`) follows
 * the call as an ordinary `if` that throws `invalidOption(...)`.
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
  if (options === undefined) {
    checkFields(where, '', {}, rules)
    return
  }
  if (!isObject(options)) {
    throw invalidOption(where, `the options must be an object, got ${show(options)}`)
  }
  checkFields(where, '', options as Record<string, unknown>, rules)
}

/**
 * An `InvalidParametersError` for `where`, for a condition a single rule
 * cannot state.
 */
export function invalidOption (where: string, message: string): InvalidParametersError {
  return new InvalidParametersError(`${where}: ${message}`)
}

/** The option must be given */
export function required (rule: Rule): Rule {
  return { ...rule, required: true }
}

/** A finite number in `[min, max]`, or above `min` when `above` is set */
export function number (bounds: { min?: number, max?: number, above?: number } = {}): Rule {
  const { min, max, above } = bounds
  return {
    expected: `a number${range(above != null ? `above ${above}` : min, max)}`,
    test: (value) => typeof value === 'number' && Number.isFinite(value) &&
      (min == null || value >= min) && (max == null || value <= max) && (above == null || value > above)
  }
}

/** An integer in `[min, max]` */
export function integer (bounds: { min?: number, max?: number } = {}): Rule {
  const { min, max } = bounds
  return {
    expected: `an integer${range(min, max)}`,
    test: (value) => Number.isSafeInteger(value) &&
      (min == null || (value as number) >= min) && (max == null || (value as number) <= max)
  }
}

/** A delay in ms that Node's timers take: from 0 to `TIMEOUT_MAX` */
export function ms (): Rule {
  return { ...number({ min: 0, max: TIMEOUT_MAX }), expected: `a number of ms from 0 to ${TIMEOUT_MAX}` }
}

/** true or false */
export function boolean (): Rule {
  return { expected: 'true or false', test: (value) => typeof value === 'boolean' }
}

/** A non-empty string (a reason, a label) */
export function text (): Rule {
  return { expected: 'a non-empty string', test: (value) => typeof value === 'string' && value.length > 0 }
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

/** An object with these methods (a scheduler, a metrics component) */
export function withMethods (expected: string, ...methods: readonly string[]): Rule {
  return {
    expected,
    test: (value) => isObject(value) && methods.every((name) => typeof (value as Record<string, unknown>)[name] === 'function')
  }
}

/** An RxJS `SchedulerLike` */
export function scheduler (): Rule {
  return withMethods('an RxJS scheduler (with now() and schedule())', 'now', 'schedule')
}

/** A `net.Server` (or anything that listens and emits `'connection'` as one does: an `http.Server`) */
export function netServer (): Rule {
  return withMethods('a net.Server', 'listen', 'close', 'on', 'address')
}

/** A `Multiaddr` */
export function multiaddr (): Rule {
  return { expected: 'a Multiaddr', test: (value) => isMultiaddr(value) }
}

/** An array whose every element passes `each` (reported as `option[i]`) */
export function list (each: Rule): Rule {
  return { expected: `an array, each ${each.expected}`, test: (value) => Array.isArray(value), each }
}

/** A CIDR block, IPv4 or IPv6: `10.0.0.0/8`, `2001:db8::/32` */
export function cidr (): Rule {
  return {
    expected: 'a CIDR block such as 10.0.0.0/8 or 2001:db8::/32',
    test: (value) => {
      if (typeof value !== 'string') {
        return false
      }
      try {
        // eslint-disable-next-line no-new
        new IpNet(value)
        return true
      } catch {
        return false
      }
    }
  }
}

function checkFields (where: string, prefix: string, options: Record<string, unknown>, rules: Readonly<Record<string, Rule>>): void {
  for (const [key, rule] of Object.entries(rules)) {
    checkValue(where, `${prefix}${key}`, options[key], rule)
  }
}

function checkValue (where: string, path: string, value: unknown, rule: Rule): void {
  if (value === undefined) {
    if (rule.required === true) {
      throw invalidOption(where, `${path} is required (${rule.expected})`)
    }
    return
  }
  if (!rule.test(value)) {
    throw invalidOption(where, `${path} must be ${rule.expected}, got ${show(value)}`)
  }
  if (rule.fields != null) {
    checkFields(where, `${path}.`, value as Record<string, unknown>, rule.fields)
  }
  if (rule.each != null) {
    (value as unknown[]).forEach((element, i) => {
      checkValue(where, `${path}[${i}]`, element, required(rule.each as Rule))
    })
  }
}

function isObject (value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function range (min: number | string | undefined, max: number | undefined): string {
  if (typeof min === 'string') {
    return max == null ? ` ${min}` : ` ${min} and up to ${max}`
  }
  if (min != null && max != null) {
    return ` from ${min} to ${max}`
  }
  if (min != null) {
    return ` from ${min} up`
  }
  return max != null ? ` up to ${max}` : ''
}

/** A value as the message shows it: strings quoted, numbers as written, anything else by its kind */
function show (value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value == null) {
    return String(value)
  }
  if (typeof value === 'function') {
    return 'a function'
  }
  if (Array.isArray(value)) {
    return `an array of ${value.length}`
  }
  return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`
}
