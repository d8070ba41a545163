/**
 * The v1 line (section 2.1 of haproxy.org/download/2.6/doc/proxy-protocol.txt)
 * as rx-tcp parses it itself: what the specification allows passes with its
 * client, anything else is malformed and says why.
 */
import { describe, expect, it } from 'vitest'
import { scanProxyHeader } from '../../operators/proxy-protocol/header.ts'

const scan = (line: string): ReturnType<typeof scanProxyHeader> => scanProxyHeader(Buffer.from(line, 'latin1'), 4096)

describe('the v1 line', () => {
  it('reads TCP4 and TCP6 lines to their client and destination, and knows where the line ends', () => {
    expect(scan('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET /')).toEqual({
      kind: 'header',
      length: 47,
      version: 1,
      client: { ip: '192.168.0.1', port: 56324 },
      header: { version: 1, command: 'proxy', family: 'tcp4', source: { ip: '192.168.0.1', port: 56324 }, destination: { ip: '192.168.0.11', port: 443 } }
    })
    expect(scan('PROXY TCP6 2001:db8::1 ::1 0 65535\r\n')).toMatchObject({ kind: 'header', client: { ip: '2001:db8::1', port: 0 }, header: { family: 'tcp6', destination: { ip: '::1', port: 65535 } } })
  })

  it('takes UNKNOWN with or without addresses, and whatever follows it up to the CRLF', () => {
    for (const line of ['PROXY UNKNOWN\r\n', 'PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n', 'PROXY UNKNOWN anything at all\r\n']) {
      expect(scan(line)).toEqual({ kind: 'header', length: line.length, version: 1, header: { version: 1, command: 'proxy', family: 'unspec' } })
    }
  })

  it('waits for the CRLF, and refuses a line without one within 107 bytes', () => {
    expect(scan('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443')).toEqual({ kind: 'partial' })
    expect(scan(`PROXY TCP4 ${'1'.repeat(120)}`)).toEqual({ kind: 'malformed', version: 1, why: 'v1 header longer than 107 bytes' })
  })

  it.each([
    ['a port with a leading zero', 'PROXY TCP4 1.2.3.4 5.6.7.8 080 443\r\n', 'v1: port out of range'],
    ['a port above 65535', 'PROXY TCP4 1.2.3.4 5.6.7.8 65536 443\r\n', 'v1: port out of range'],
    ['a port that is not decimal', 'PROXY TCP4 1.2.3.4 5.6.7.8 0x50 443\r\n', 'v1: port out of range'],
    ['an IPv4 number with a leading zero', 'PROXY TCP4 01.2.3.4 5.6.7.8 80 443\r\n', 'v1: addresses are not TCP4'],
    ['IPv6 addresses under TCP4', 'PROXY TCP4 ::1 ::2 80 443\r\n', 'v1: addresses are not TCP4'],
    ['IPv4 addresses under TCP6', 'PROXY TCP6 1.2.3.4 5.6.7.8 80 443\r\n', 'v1: addresses are not TCP6'],
    ['two spaces between fields', 'PROXY TCP4 1.2.3.4  5.6.7.8 80 443\r\n', 'v1: 5 fields after the protocol instead of 4, one space apart'],
    ['a field missing', 'PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n', 'v1: 3 fields after the protocol instead of 4, one space apart'],
    ['a trailing space', 'PROXY TCP4 1.2.3.4 5.6.7.8 80 443 \r\n', 'v1: 5 fields after the protocol instead of 4, one space apart'],
    ['another protocol', 'PROXY UDP4 1.2.3.4 5.6.7.8 80 443\r\n', 'v1: protocol "UDP4", not TCP4, TCP6 or UNKNOWN']
  ])('refuses %s', (_what, line, why) => {
    expect(scan(line)).toEqual({ kind: 'malformed', version: 1, why })
  })
})
