import { IpNet } from '@chainsafe/netmask'
import { isMultiaddr } from '@multiformats/multiaddr'
import { isObject } from './checker.ts'
import type { Rule } from './checker.ts'

/**
 * The option checker with every rule: `checker.ts`'s (the transport's) and
 * the ones only the operators, the PROXY protocol and the server guards take.
 *
 * @module
 */
export * from './checker.ts'

/** A non-empty string (a reason, a label) */
export function text (): Rule {
  return { expected: 'a non-empty string', test: (value) => typeof value === 'string' && value !== '' }
}

/** An object with these methods (a scheduler, a metrics component, a server) */
export function withMethods (expected: string, ...methods: readonly string[]): Rule {
  return { expected, test: (value) => isObject(value) && methods.every((name) => typeof (value as Record<string, unknown>)[name] === 'function') }
}

/** A `net.Server` (or anything that listens and emits `'connection'` as one does: an `http.Server`) */
export function netServer (): Rule {
  return withMethods('a net.Server', 'listen', 'close', 'on', 'address')
}

/** An RxJS `SchedulerLike` */
export function scheduler (): Rule {
  return withMethods('an RxJS scheduler (with now() and schedule())', 'now', 'schedule')
}

/** A `Multiaddr` */
export function multiaddr (): Rule {
  return { expected: 'a Multiaddr', test: isMultiaddr }
}

/** An array whose every element passes `each` (reported as `option[i]`) */
export function list (each: Rule): Rule {
  return { expected: `an array, each ${each.expected}`, test: Array.isArray, each }
}

/** A CIDR block, IPv4 or IPv6: `10.0.0.0/8`, `2001:db8::/32` */
export function cidr (): Rule {
  return {
    expected: 'a CIDR block such as 10.0.0.0/8 or 2001:db8::/32',
    test: (value) => {
      try {
        return typeof value === 'string' && new IpNet(value).network.length > 0
      } catch {
        return false
      }
    }
  }
}
