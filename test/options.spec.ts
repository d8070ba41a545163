/**
 * Options are checked where they are given: `tcp(init)`, `createListener`,
 * `dial` and every operator factory refuse a value out of its bounds with an
 * `InvalidParametersError` naming the option and the value, and take every
 * value at the edge of the bounds.
 */
import net from 'node:net'
import { InvalidParametersError } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { identity } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { acceptSockets, guardServer } from '../operators/servers/index.ts'
import { allowCidr, denyCidr, maxConnections, metricsTap, pauseOnMaxConnections, perSubnetLimit, perSubnetRateLimit, upgradeCap, upgradeDeadline } from '../operators/index.ts'
import { proxyProtocol } from '../operators/proxy-protocol/index.ts'
import { TIMEOUT_MAX } from '../src/core/check.ts'
import { tcp } from '../src/index.ts'
import { passThroughUpgrader } from './fixtures/upgraders.ts'

/** What was thrown by `run`, or undefined */
function thrown (run: () => unknown): any {
  try {
    run()
  } catch (err) {
    return err
  }
  return undefined
}

/** One factory given one bad value: the message names `option` and shows the value as `shown` */
interface Bad { factory: string, option: string, value: unknown, shown: string, call: (value: any) => unknown }

/** The factories under test, each given one option */
const make = {
  tcp: (option: string) => (value: any) => tcp({ [option]: value }),
  tcpSocket: (group: 'dialOpts' | 'listenOpts', option: string) => (value: any) => tcp({ [group]: { [option]: value } }),
  tcpCloseServer: (option: string) => (value: any) => tcp({ closeServerOnMaxConnections: { listenBelow: 1, closeAbove: 2, [option]: value } }),
  maxConnections: (value: any) => maxConnections({ max: value }),
  pauseOnMaxConnections: (option: string) => (value: any) => pauseOnMaxConnections({ closeAbove: 4, listenBelow: 2, [option]: value }),
  perSubnetLimit: (option: string) => (value: any) => perSubnetLimit({ max: 2, [option]: value }),
  perSubnetRateLimit: (option: string) => (value: any) => perSubnetRateLimit({ rate: 1, burst: 1, [option]: value }),
  proxyProtocol: (option: string) => (value: any) => proxyProtocol({ trusted: ['10.0.0.0/8'], [option]: value }),
  upgradeCap: (option: string) => (value: any) => upgradeCap({ max: 2, [option]: value }),
  upgradeDeadline: (option: string) => (value: any) => upgradeDeadline({ ms: 10, [option]: value }),
  allowCidr: (value: any) => allowCidr(value),
  denyCidr: (value: any) => denyCidr(value),
  metricsTap: (option: string) => (value: any) => metricsTap({ [option]: value }),
  acceptSockets: (option: string) => (value: any) => acceptSockets(net.createServer(), { [option]: value }),
  guardServer: (value: any) => guardServer(net.createServer(), value)
}

const ms = `a number of ms from 0 to ${TIMEOUT_MAX}`

/** Every option of tcp(init) and of the operators, given a value past each of its bounds */
const bad: Bad[] = [
  ...['inboundSocketInactivityTimeout', 'outboundSocketInactivityTimeout', 'closeTimeout'].flatMap(option => [
    { factory: 'tcp', option, value: -5, shown: '-5', call: make.tcp(option) },
    { factory: 'tcp', option, value: Number.NaN, shown: 'NaN', call: make.tcp(option) },
    { factory: 'tcp', option, value: Number.POSITIVE_INFINITY, shown: 'Infinity', call: make.tcp(option) },
    { factory: 'tcp', option, value: TIMEOUT_MAX + 1, shown: String(TIMEOUT_MAX + 1), call: make.tcp(option) },
    { factory: 'tcp', option, value: 'x', shown: '"x"', call: make.tcp(option) }
  ]),
  ...['maxConnections', 'backlog'].flatMap(option => [
    { factory: 'tcp', option, value: -1, shown: '-1', call: make.tcp(option) },
    { factory: 'tcp', option, value: -3, shown: '-3', call: make.tcp(option) },
    { factory: 'tcp', option, value: 1.5, shown: '1.5', call: make.tcp(option) },
    { factory: 'tcp', option, value: '10', shown: '"10"', call: make.tcp(option) }
  ]),
  { factory: 'tcp', option: 'closeServerOnMaxConnections', value: 5, shown: '5', call: make.tcp('closeServerOnMaxConnections') },
  { factory: 'tcp', option: 'closeServerOnMaxConnections.listenBelow', value: -1, shown: '-1', call: make.tcpCloseServer('listenBelow') },
  { factory: 'tcp', option: 'closeServerOnMaxConnections.closeAbove', value: 2.5, shown: '2.5', call: make.tcpCloseServer('closeAbove') },
  { factory: 'tcp', option: 'closeServerOnMaxConnections.onListenError', value: 'log', shown: '"log"', call: make.tcpCloseServer('onListenError') },
  ...(['dialOpts', 'listenOpts'] as const).flatMap(group => [
    { factory: 'tcp', option: group, value: 'fast', shown: '"fast"', call: make.tcp(group) },
    { factory: 'tcp', option: `${group}.noDelay`, value: 'yes', shown: '"yes"', call: make.tcpSocket(group, 'noDelay') },
    { factory: 'tcp', option: `${group}.keepAlive`, value: 1, shown: '1', call: make.tcpSocket(group, 'keepAlive') },
    { factory: 'tcp', option: `${group}.allowHalfOpen`, value: 0, shown: '0', call: make.tcpSocket(group, 'allowHalfOpen') },
    { factory: 'tcp', option: `${group}.keepAliveInitialDelay`, value: -1, shown: '-1', call: make.tcpSocket(group, 'keepAliveInitialDelay') },
    { factory: 'tcp', option: `${group}.keepAliveInitialDelay`, value: Number.NaN, shown: 'NaN', call: make.tcpSocket(group, 'keepAliveInitialDelay') }
  ]),
  { factory: 'tcp', option: 'inbound', value: 42, shown: '42', call: make.tcp('inbound') },
  { factory: 'tcp', option: 'lifetime', value: {}, shown: 'an object (Object)', call: make.tcp('lifetime') },
  { factory: 'tcp', option: 'portReuse', value: true, shown: 'true', call: make.tcp('portReuse') },
  { factory: 'tcp', option: 'inboundGuard', value: [], shown: 'an array of 0', call: make.tcp('inboundGuard') },

  { factory: 'maxConnections', option: 'max', value: -1, shown: '-1', call: make.maxConnections },
  { factory: 'maxConnections', option: 'max', value: 2.5, shown: '2.5', call: make.maxConnections },
  { factory: 'maxConnections', option: 'max', value: undefined, shown: 'is required', call: make.maxConnections },
  { factory: 'pauseOnMaxConnections', option: 'closeAbove', value: -1, shown: '-1', call: make.pauseOnMaxConnections('closeAbove') },
  { factory: 'pauseOnMaxConnections', option: 'listenBelow', value: Number.NaN, shown: 'NaN', call: make.pauseOnMaxConnections('listenBelow') },
  { factory: 'pauseOnMaxConnections', option: 'reason', value: '', shown: '""', call: make.pauseOnMaxConnections('reason') },
  { factory: 'perSubnetLimit', option: 'max', value: 0, shown: '0', call: make.perSubnetLimit('max') },
  { factory: 'perSubnetLimit', option: 'ipv4Prefix', value: 33, shown: '33', call: make.perSubnetLimit('ipv4Prefix') },
  { factory: 'perSubnetLimit', option: 'ipv4Prefix', value: -1, shown: '-1', call: make.perSubnetLimit('ipv4Prefix') },
  { factory: 'perSubnetLimit', option: 'ipv6Prefix', value: 129, shown: '129', call: make.perSubnetLimit('ipv6Prefix') },
  { factory: 'perSubnetLimit', option: 'reason', value: 7, shown: '7', call: make.perSubnetLimit('reason') },
  { factory: 'perSubnetRateLimit', option: 'rate', value: 0, shown: '0', call: make.perSubnetRateLimit('rate') },
  { factory: 'perSubnetRateLimit', option: 'rate', value: Number.POSITIVE_INFINITY, shown: 'Infinity', call: make.perSubnetRateLimit('rate') },
  { factory: 'perSubnetRateLimit', option: 'burst', value: 0.5, shown: '0.5', call: make.perSubnetRateLimit('burst') },
  { factory: 'perSubnetRateLimit', option: 'ipv6Prefix', value: 1.5, shown: '1.5', call: make.perSubnetRateLimit('ipv6Prefix') },
  { factory: 'perSubnetRateLimit', option: 'scheduler', value: {}, shown: 'an object (Object)', call: make.perSubnetRateLimit('scheduler') },
  { factory: 'proxyProtocol', option: 'trusted', value: '10.0.0.0/8', shown: '"10.0.0.0/8"', call: make.proxyProtocol('trusted') },
  { factory: 'proxyProtocol', option: 'trusted', value: undefined, shown: 'is required', call: make.proxyProtocol('trusted') },
  { factory: 'proxyProtocol', option: 'trusted[1]', value: ['10.0.0.5/32', '10.0.0.0/33'], shown: '"10.0.0.0/33"', call: make.proxyProtocol('trusted') },
  { factory: 'proxyProtocol', option: 'timeout', value: -1, shown: '-1', call: make.proxyProtocol('timeout') },
  { factory: 'proxyProtocol', option: 'timeout', value: Number.NaN, shown: 'NaN', call: make.proxyProtocol('timeout') },
  { factory: 'proxyProtocol', option: 'maxHeaderBytes', value: 106, shown: '106', call: make.proxyProtocol('maxHeaderBytes') },
  { factory: 'proxyProtocol', option: 'maxHeaderBytes', value: 200.5, shown: '200.5', call: make.proxyProtocol('maxHeaderBytes') },
  { factory: 'proxyProtocol', option: 'optional', value: 'true', shown: '"true"', call: make.proxyProtocol('optional') },
  { factory: 'proxyProtocol', option: 'shutdownReason', value: '', shown: '""', call: make.proxyProtocol('shutdownReason') },
  { factory: 'upgradeCap', option: 'max', value: 0, shown: '0', call: make.upgradeCap('max') },
  { factory: 'upgradeCap', option: 'maxWaiting', value: -1, shown: '-1', call: make.upgradeCap('maxWaiting') },
  { factory: 'upgradeCap', option: 'maxWait', value: -1, shown: '-1', call: make.upgradeCap('maxWait') },
  { factory: 'upgradeCap', option: 'policy', value: 'queue', shown: '"queue"', call: make.upgradeCap('policy') },
  { factory: 'upgradeCap', option: 'reason', value: null, shown: 'null', call: make.upgradeCap('reason') },
  { factory: 'upgradeDeadline', option: 'ms', value: -1, shown: '-1', call: make.upgradeDeadline('ms') },
  { factory: 'upgradeDeadline', option: 'ms', value: Number.NaN, shown: 'NaN', call: make.upgradeDeadline('ms') },
  { factory: 'upgradeDeadline', option: 'scheduler', value: 'async', shown: '"async"', call: make.upgradeDeadline('scheduler') },
  { factory: 'allowCidr', option: 'cidrs', value: '10.0.0.0/8', shown: '"10.0.0.0/8"', call: make.allowCidr },
  { factory: 'allowCidr', option: 'cidrs[0]', value: ['10.0.0.0/33'], shown: '"10.0.0.0/33"', call: make.allowCidr },
  { factory: 'denyCidr', option: 'cidrs[1]', value: ['::1/128', '::1/200'], shown: '"::1/200"', call: make.denyCidr },
  { factory: 'denyCidr', option: 'cidrs[0]', value: [42], shown: '42', call: make.denyCidr },
  { factory: 'metricsTap', option: 'metrics', value: {}, shown: 'an object (Object)', call: make.metricsTap('metrics') },
  { factory: 'metricsTap', option: 'events', value: 3, shown: '3', call: make.metricsTap('events') },
  { factory: 'metricsTap', option: 'log', value: 'debug', shown: '"debug"', call: make.metricsTap('log') },
  { factory: 'acceptSockets', option: 'listen', value: 4001, shown: '4001', call: make.acceptSockets('listen') },
  { factory: 'acceptSockets', option: 'localAddr', value: '/ip4/127.0.0.1/tcp/1', shown: '"/ip4/127.0.0.1/tcp/1"', call: make.acceptSockets('localAddr') },
  { factory: 'acceptSockets', option: 'onReject', value: true, shown: 'true', call: make.acceptSockets('onReject') },
  { factory: 'guardServer', option: 'inbound', value: 42, shown: '42', call: make.guardServer }
]

describe('an option out of its bounds', () => {
  it.each(bad.map(row => ({ ...row, title: `${row.factory}: ${row.option} = ${row.shown}` })))('$title is refused with InvalidParametersError naming it', ({ factory, option, value, shown, call }) => {
    const err = thrown(() => call(value))
    expect(err, 'an error').toBeInstanceOf(InvalidParametersError)
    expect(err.message).toContain(`${factory}: ${option} `)
    expect(err.message).toContain(shown)
  })

  it('a whole init that is not an object is refused', () => {
    const err = thrown(() => tcp(42 as any))
    expect(err).toBeInstanceOf(InvalidParametersError)
    expect(err.message).toBe('tcp: the options must be an object, got 42')
  })

  it('closeServerOnMaxConnections with closeAbove below listenBelow is refused by tcp() and by pauseOnMaxConnections', () => {
    expect(thrown(() => tcp({ closeServerOnMaxConnections: { closeAbove: 1, listenBelow: 2 } })).message).toBe('tcp: closeServerOnMaxConnections: closeAbove (1) must be >= listenBelow (2)')
    expect(thrown(() => pauseOnMaxConnections({ closeAbove: 1, listenBelow: 2 })).message).toBe('pauseOnMaxConnections: closeAbove (1) must be >= listenBelow (2)')
  })

  it('reads as a sentence: the option, what it must be, what it got', () => {
    expect(thrown(() => tcp({ closeTimeout: -5 })).message).toBe(`tcp: closeTimeout must be ${ms}, got -5`)
    expect(thrown(() => tcp({ backlog: -3 })).message).toBe('tcp: backlog must be an integer from 0 up, got -3')
    expect(thrown(() => tcp({ inbound: 42 as any })).message).toBe('tcp: inbound must be a function, got 42')
    expect(thrown(() => upgradeCap({ max: 0 })).message).toBe('upgradeCap: max must be an integer from 1 up, got 0')
    expect(thrown(() => proxyProtocol({ trusted: ['10.0.0.0/33'] })).message).toBe('proxyProtocol: trusted[0] must be a CIDR block such as 10.0.0.0/8 or 2001:db8::/32, got "10.0.0.0/33"')
  })
})

describe('an option at the edge of its bounds', () => {
  const good: Array<[string, () => unknown]> = [
    ['tcp() with no options', () => tcp()],
    ['tcp({}) and unknown keys, left alone as @libp2p/tcp does', () => tcp({ somethingElse: true } as any)],
    ['timeouts of 0 (an inactivity timeout off, as in @libp2p/tcp) and of the timer maximum', () => tcp({ inboundSocketInactivityTimeout: 0, outboundSocketInactivityTimeout: TIMEOUT_MAX, closeTimeout: 0 })],
    ['maxConnections 0 and backlog 0', () => tcp({ maxConnections: 0, backlog: 0 })],
    ['closeServerOnMaxConnections with closeAbove equal to listenBelow', () => tcp({ closeServerOnMaxConnections: { closeAbove: 0, listenBelow: 0, onListenError: () => {} } })],
    ['socket options of every kind', () => tcp({ dialOpts: { noDelay: false, keepAlive: false, keepAliveInitialDelay: 0, allowHalfOpen: true }, listenOpts: {} })],
    ['an inbound and a lifetime operator', () => tcp({ inbound: identity, lifetime: () => identity })],
    ['each portReuse policy', () => ['auto', 'always', 'never'].map(portReuse => tcp({ portReuse: portReuse as any }))],
    ['maxConnections({ max: 0 })', () => maxConnections({ max: 0 })],
    ['perSubnetLimit with prefixes 0 and the full length', () => perSubnetLimit({ max: 1, ipv4Prefix: 0, ipv6Prefix: 128 })],
    ['perSubnetRateLimit with a fractional rate and burst', () => perSubnetRateLimit({ rate: 0.001, burst: 1.5 })],
    ['proxyProtocol with no trusted block, timeout 0 and the shortest header bound', () => proxyProtocol({ trusted: [], timeout: 0, maxHeaderBytes: 107 })],
    ['upgradeCap with maxWaiting 0 and the drop policy', () => upgradeCap({ max: 1, maxWaiting: 0, policy: 'drop' })],
    ['upgradeDeadline({ ms: 0 })', () => upgradeDeadline({ ms: 0 })],
    ['allowCidr([]) and denyCidr with both families', () => [allowCidr([]), denyCidr(['10.0.0.0/8', '2001:db8::/32'])]],
    ['metricsTap with a logger', () => metricsTap({ log: defaultLogger().forComponent('test') })],
    ['acceptSockets with a localAddr and a listen', () => acceptSockets(net.createServer(), { localAddr: multiaddr('/ip4/127.0.0.1/tcp/1'), listen: { port: 0 } })]
  ]

  it.each(good)('%s is taken', (_, call) => {
    expect(thrown(call)).toBeUndefined()
  })
})

describe('socket options given to one dial or one listener', () => {
  it('createListener refuses a bad socket option, naming it', () => {
    const transport = tcp()({ logger: defaultLogger() })
    const err = thrown(() => transport.createListener({ upgrader: passThroughUpgrader(), noDelay: 'yes' } as any))
    expect(err).toBeInstanceOf(InvalidParametersError)
    expect(err.message).toBe('createListener: noDelay must be true or false, got "yes"')
  })

  it('dial rejects a bad socket option, naming the address, before opening a socket', async () => {
    const transport = tcp()({ logger: defaultLogger() })
    const ma = multiaddr('/ip4/127.0.0.1/tcp/1')
    const err = await transport.dial(ma, { upgrader: passThroughUpgrader(), signal: AbortSignal.timeout(1000), keepAliveInitialDelay: -1 } as any).catch(e => e)
    expect(err).toBeInstanceOf(InvalidParametersError)
    expect(err.message).toBe('dial to /ip4/127.0.0.1/tcp/1: keepAliveInitialDelay must be a number from 0 up, got -1')
  })

  it('dial rejects a bad portUse, naming the address and the values it takes', async () => {
    const transport = tcp()({ logger: defaultLogger() })
    const err = await transport.dial(multiaddr('/ip4/127.0.0.1/tcp/1'), { upgrader: passThroughUpgrader(), signal: AbortSignal.timeout(1000), portUse: 'same' } as any).catch(e => e)
    expect(err).toBeInstanceOf(InvalidParametersError)
    expect(err.message).toBe('dial to /ip4/127.0.0.1/tcp/1: portUse must be one of "reuse", "new", got "same"')
  })
})
