/**
 * The v2 TLV decoder on headers built by hand from the specification and
 * from AWS's documented layout (the fixtures compute their CRC32C with a
 * second, bitwise implementation). Real HAProxy headers are in
 * test/haproxy-tlv.spec.ts, the operator on real sockets in
 * proxy-attacks.spec.ts.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { PP2_TYPE } from '../../operators/proxy-protocol/tlv.ts'
import { crc32c } from '../../operators/proxy-protocol/crc32c.ts'
import { scanProxyHeader } from '../../operators/proxy-protocol/header.ts'
import { awsNlbHeader, crc32cBitwise, sslValue, tlv, v2Header, withCrc32c } from '../fixtures/proxy-headers.ts'
import type { HeaderScan, ProxyHeader } from '../../operators/proxy-protocol/header.ts'

/** the header a scan found, failing the test with the scan otherwise */
function header (scan: HeaderScan): ProxyHeader {
  if (scan.kind !== 'header') throw new Error(`expected a header, got ${JSON.stringify(scan)}`)
  return scan.header
}

/** a v2 header for 198.51.100.1:1000 whose TLV block is exactly `block` */
function withBlock (block: Buffer): Buffer {
  const base = v2Header({ ip: '198.51.100.1', port: 1000 })
  const out = Buffer.concat([base, block])
  out.writeUInt16BE(out.length - 16, 14)
  return out
}

describe('CRC-32C', () => {
  it('gives the check value of the Castagnoli polynomial and agrees with a bitwise implementation', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283)
    for (let i = 0; i < 50; i++) {
      const bytes = randomBytes(i * 37)
      expect(crc32c(bytes)).toBe(crc32cBitwise(bytes))
    }
    const bytes = randomBytes(64)
    const zeroed = Buffer.from(bytes)
    zeroed.fill(0, 10, 14)
    expect(crc32c(bytes, 10)).toBe(crc32cBitwise(zeroed))
  })
})

describe('v2 TLVs', () => {
  it('decodes every TLV the specification names, the cloud ones, and lists them all but NOOP in order', () => {
    const ssl = sslValue(0x07, 0, [
      tlv(PP2_TYPE.SSL_VERSION, 'TLSv1.3'),
      tlv(PP2_TYPE.SSL_CN, 'client.example'),
      tlv(PP2_TYPE.SSL_CIPHER, 'TLS_AES_128_GCM_SHA256'),
      tlv(PP2_TYPE.SSL_SIG_ALG, 'RSA-SHA256'),
      tlv(PP2_TYPE.SSL_KEY_ALG, 'EC256')
    ])
    const gcp = Buffer.alloc(8)
    gcp.writeBigUInt64BE(0x1234_5678_9abc_def0n)
    const scan = scanProxyHeader(withBlock(Buffer.concat([
      tlv(PP2_TYPE.ALPN, 'h2'),
      tlv(PP2_TYPE.NOOP, Buffer.alloc(3)),
      tlv(PP2_TYPE.AUTHORITY, 'app.example.com'),
      tlv(PP2_TYPE.UNIQUE_ID, Buffer.from([0, 1, 2, 0xff])),
      tlv(PP2_TYPE.SSL, ssl),
      tlv(PP2_TYPE.NETNS, 'blue'),
      tlv(PP2_TYPE.AWS, Buffer.concat([Buffer.from([0x01]), Buffer.from('vpce-0123456789abcdef0')])),
      tlv(PP2_TYPE.AZURE, Buffer.from([0x01, 0x04, 0x03, 0x02, 0x01])),
      tlv(PP2_TYPE.GCP, gcp),
      tlv(0xe1, 'set-proxy-v2-tlv-fmt value'),
      tlv(PP2_TYPE.ALPN, 'second alpn, not the named one')
    ])), 4096)
    expect(scan).toMatchObject({ kind: 'header', version: 2, client: { ip: '198.51.100.1', port: 1000 } })
    const { tlvs } = header(scan)
    expect(tlvs).toMatchObject({
      alpn: 'h2',
      authority: 'app.example.com',
      uniqueId: Buffer.from([0, 1, 2, 0xff]),
      netns: 'blue',
      aws: { vpceId: 'vpce-0123456789abcdef0' },
      // 0x01020304 sent little-endian
      azure: { linkId: 0x01020304 },
      // past 2^53: a bigint, exact
      gcp: { pscConnectionId: 0x1234_5678_9abc_def0n },
      ssl: {
        client: 7,
        tls: true,
        certInConnection: true,
        certInSession: true,
        verify: 0,
        verified: true,
        version: 'TLSv1.3',
        cn: 'client.example',
        cipher: 'TLS_AES_128_GCM_SHA256',
        sigAlg: 'RSA-SHA256',
        keyAlg: 'EC256'
      }
    })
    expect(tlvs?.notUtf8).toBeUndefined()
    expect(tlvs?.crc32c).toBeUndefined()
    expect(tlvs?.raw.map(({ type }) => type)).toEqual([0x01, 0x02, 0x05, 0x20, 0x30, 0xea, 0xee, 0xe0, 0xe1, 0x01])
    expect(tlvs?.raw[8].value.toString()).toBe('set-proxy-v2-tlv-fmt value')
    expect(tlvs?.ssl?.tlvs.map(({ type }) => type)).toEqual([0x21, 0x22, 0x23, 0x24, 0x25])
  })

  it('tells a TLS client without a certificate, and one whose certificate failed verification, from a verified one', () => {
    const plain = header(scanProxyHeader(withBlock(tlv(PP2_TYPE.SSL, sslValue(0x01, 1))), 4096)).tlvs?.ssl
    expect(plain).toMatchObject({ tls: true, certInConnection: false, certInSession: false, verified: false, verify: 1 })
    const failed = header(scanProxyHeader(withBlock(tlv(PP2_TYPE.SSL, sslValue(0x03, 18))), 4096)).tlvs?.ssl
    expect(failed).toMatchObject({ tls: true, certInConnection: true, verified: false, verify: 18 })
  })

  it('reads the AWS NLB header: CRC32C checked, NOOP padding skipped, the VPC endpoint ID', () => {
    const bytes = awsNlbHeader()
    const scan = scanProxyHeader(Buffer.concat([bytes, Buffer.from('GET / HTTP/1.1\r\n')]), 4096)
    expect(scan).toMatchObject({ kind: 'header', length: bytes.length, client: { ip: '203.0.113.10', port: 54321 } })
    const { tlvs } = header(scan)
    expect(tlvs?.aws).toEqual({ vpceId: 'vpce-08d2bf15fac5001c9' })
    expect(tlvs?.crc32c).toBe(bytes.readUInt32BE(16 + 12 + 3))
    expect(tlvs?.raw.map(({ type }) => type)).toEqual([0x03, 0xea])
  })

  it('refuses a CRC32C that does not match, whether the checksum or any other byte of the header changed', () => {
    const bad = withCrc32c(v2Header({ ip: '203.0.113.9', port: 7, tlvs: [[0x02, Buffer.from('host')]] }), { flip: true })
    expect(scanProxyHeader(bad, 4096)).toMatchObject({ kind: 'malformed', version: 2, why: expect.stringMatching(/^v2: CRC32C mismatch/) })
    const good = awsNlbHeader()
    expect(scanProxyHeader(good, 4096).kind).toBe('header')
    for (const at of [12, 13, 17, 27, good.length - 1]) {
      const changed = Buffer.from(good)
      changed[at] ^= 0x01
      const scan = scanProxyHeader(changed, 4096)
      // a changed version, command or family nibble may be refused for itself first: malformed either way
      expect(scan.kind, `byte ${at} changed`).toBe('malformed')
    }
  })

  it('refuses TLVs that do not fit: past the header, bytes left over, a short SSL TLV, bad sub-TLVs, an oversized unique ID, a CRC32C of 3 bytes', () => {
    const overrun = tlv(PP2_TYPE.AUTHORITY, 'host')
    overrun.writeUInt16BE(50, 1)
    const cases: Array<[Buffer, RegExp]> = [
      [overrun, /TLV 0x2 of 50 bytes runs past the header/],
      [Buffer.concat([tlv(PP2_TYPE.ALPN, 'h2'), Buffer.from([0x01, 0x00])]), /2 byte\(s\) left after the TLVs/],
      [tlv(PP2_TYPE.SSL, Buffer.from([1, 0, 0])), /SSL TLV of 3 bytes/],
      [tlv(PP2_TYPE.SSL, Buffer.concat([sslValue(1, 0), Buffer.from([0x22, 0x00, 0x09, 0x41])])), /SSL TLV: TLV 0x22 of 9 bytes runs past/],
      [tlv(PP2_TYPE.UNIQUE_ID, Buffer.alloc(129)), /unique ID of 129 bytes, more than 128/],
      [tlv(PP2_TYPE.CRC32C, Buffer.alloc(3)), /CRC32C TLV of 3 bytes instead of 4/]
    ]
    for (const [block, why] of cases) {
      const scan = scanProxyHeader(withBlock(block), 4096)
      expect(scan).toMatchObject({ kind: 'malformed', version: 2 })
      expect(scan.kind === 'malformed' && scan.why).toMatch(why)
    }
  })

  it('keeps cloud TLVs of another subtype or size raw, without a named field', () => {
    const { tlvs } = header(scanProxyHeader(withBlock(Buffer.concat([
      tlv(PP2_TYPE.AWS, Buffer.from([0x02, 0x41])),
      tlv(PP2_TYPE.AZURE, Buffer.from([0x01, 0x01])),
      tlv(PP2_TYPE.GCP, Buffer.alloc(4))
    ])), 4096))
    expect(tlvs?.aws).toBeUndefined()
    expect(tlvs?.azure).toBeUndefined()
    expect(tlvs?.gcp).toBeUndefined()
    expect(tlvs?.raw).toHaveLength(3)
  })

  it('copies the TLV bytes: the values hold neither the chunk nor the payload that came with the header', () => {
    const bytes = Buffer.concat([v2Header({ ip: '192.0.2.1', port: 1, tlvs: [[0x02, Buffer.from('host')]] }), Buffer.alloc(60_000)])
    const { tlvs } = header(scanProxyHeader(bytes, 4096))
    expect(tlvs?.raw[0].value.buffer).not.toBe(bytes.buffer)
    expect(tlvs?.raw[0].value.buffer.byteLength).toBeLessThan(1_000)
  })
})
