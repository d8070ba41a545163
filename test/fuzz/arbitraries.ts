/**
 * fast-check arbitraries for the header reader: valid v1 and v2 headers
 * (IPv4, IPv6, LOCAL, UNSPEC, unix, TLVs of every kind, with or without a
 * CRC32C), the same headers broken by one mutation (cut, a flipped bit, a
 * changed length, bytes inserted), bytes that start like a signature and
 * leave it, and plain garbage; then a payload, the chunking, whether the
 * peer ends, whether it is trusted, and the reader's settings.
 */
import fc from 'fast-check'
import { sslValue, tlv, v1Header, v2Header, withCrc32c } from '../fixtures/proxy-headers.ts'
import type { ReaderInput } from './reader.ts'

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])

const bytes = (max: number): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength: max }).map((array) => Buffer.from(array))
/** bytes of any length up to `max`, not biased towards short ones */
const longBytes = (max: number): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength: max, size: 'max' }).map((array) => Buffer.from(array))
const port = fc.integer({ min: 0, max: 0xffff })

/** A TLV of any kind the decoder names, or of any other type, values valid or not */
const anyTlv: fc.Arbitrary<[number, Buffer]> = fc.oneof(
  fc.tuple(fc.constantFrom(0x01, 0x02, 0x05, 0x30, 0xe1, 0xf0, 0x04), bytes(40)),
  fc.tuple(fc.constant(0x02), fc.constantFrom(Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('app.example.com'), Buffer.from([0xed, 0xa0, 0x80]))),
  fc.tuple(fc.constant(0x20), fc.tuple(fc.integer({ min: 0, max: 7 }), fc.constantFrom(0, 1, 18), fc.array(fc.tuple(fc.integer({ min: 0x21, max: 0x25 }), bytes(20)), { maxLength: 5 }))
    .map(([client, verify, subs]) => sslValue(client, verify, subs.map(([type, value]) => tlv(type, value))))),
  fc.tuple(fc.constant(0xea), fc.tuple(fc.constantFrom(0x01, 0x02), fc.string({ maxLength: 30 })).map(([sub, id]) => Buffer.concat([Buffer.from([sub]), Buffer.from(id)]))),
  fc.tuple(fc.constant(0xee), fc.oneof(bytes(6), fc.integer({ min: 0, max: 0xffffffff }).map((n) => { const b = Buffer.alloc(5); b[0] = 1; b.writeUInt32LE(n, 1); return b }))),
  fc.tuple(fc.constant(0xe0), fc.oneof(bytes(9), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((n) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(n); return b })))
)

/** A valid header, and the client it names (undefined: the socket keeps its own address) */
export const validHeader: fc.Arbitrary<{ bytes: Buffer, version: 1 | 2, client?: { ip: string, port: number } }> = fc.oneof(
  fc.tuple(fc.oneof(fc.ipV4(), fc.ipV6()), port).map(([ip, p]) => ({ bytes: v1Header(ip, p), version: 1 as const, client: { ip, port: p } })),
  fc.constantFrom(Buffer.from('PROXY UNKNOWN\r\n'), Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n')).map((b) => ({ bytes: b, version: 1 as const })),
  fc.tuple(fc.oneof(fc.ipV4(), fc.ipV6()), port, fc.array(anyTlv, { maxLength: 6 }), fc.boolean()).map(([ip, p, tlvs, crc]) => {
    const header = v2Header({ ip, port: p, tlvs })
    return { bytes: crc ? withCrc32c(header) : header, version: 2 as const, client: { ip, port: p } }
  }),
  fc.tuple(fc.option(fc.ipV4(), { nil: undefined }), fc.array(anyTlv, { maxLength: 3 })).map(([ip, tlvs]) => ({ bytes: v2Header({ ip, local: true, tlvs }), version: 2 as const })),
  fc.array(anyTlv, { maxLength: 3 }).map((tlvs) => ({ bytes: v2Header({ tlvs }), version: 2 as const })),
  fc.constant({ bytes: unixHeader(), version: 2 as const })
)

/** A v2 PROXY header over AF_UNIX: 216 bytes of paths */
function unixHeader (): Buffer {
  const addresses = Buffer.alloc(216)
  addresses.write('/run/client.sock')
  const head = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x31, 0, 216])])
  return Buffer.concat([head, addresses])
}

type Mutation = (b: Buffer) => Buffer

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.nat().map((n): Mutation => (b) => b.subarray(0, n % (b.length + 1))),
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })).map(([n, bit]): Mutation => (b) => { const c = Buffer.from(b); if (c.length > 0) c[n % c.length] ^= 1 << bit; return c }),
  fc.integer({ min: 0, max: 0xffff }).map((length): Mutation => (b) => { const c = Buffer.from(b); if (c.length >= 16 && c[0] === 0x0d) c.writeUInt16BE(length, 14); return c }),
  fc.tuple(fc.nat(), bytes(8)).map(([n, extra]): Mutation => (b) => { const at = n % (b.length + 1); return Buffer.concat([b.subarray(0, at), extra, b.subarray(at)]) }),
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([n, byte]): Mutation => (b) => { const c = Buffer.from(b); if (c.length > 0) c[n % c.length] = byte; return c })
)

/** Bytes that are a header, a broken one, the start of a signature, or nothing like one */
export const headerBytes: fc.Arbitrary<Buffer> = fc.oneof(
  { arbitrary: validHeader.map(({ bytes }) => bytes), weight: 3 },
  { arbitrary: fc.tuple(validHeader, fc.array(mutation, { minLength: 1, maxLength: 2 })).map(([{ bytes }, mutations]) => mutations.reduce((b, m) => m(b), bytes)), weight: 5 },
  { arbitrary: fc.tuple(fc.constantFrom(Buffer.from('PROXY '), V2_SIGNATURE, Buffer.from('PROXY TCP4 '), Buffer.from('PRO')), longBytes(150)).map(([head, tail]) => Buffer.concat([head, tail])), weight: 2 },
  // a v1 line of any length, without its CRLF or with it late (CVE-2021-23351)
  { arbitrary: fc.tuple(fc.constantFrom('PROXY TCP4 ', 'PROXY TCP6 ', 'PROXY UNKNOWN '), fc.integer({ min: 0, max: 200 }), fc.boolean()).map(([head, n, crlf]) => Buffer.from(head + 'x'.repeat(n) + (crlf ? '\r\n' : ''))), weight: 1 },
  // a v2 header whose TLVs make it longer than some bounds
  { arbitrary: fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 5_000 })).map(([ip, n]) => v2Header({ ip, port: 1, tlvs: [[0x04, Buffer.alloc(n)]] })), weight: 1 },
  { arbitrary: bytes(64), weight: 1 }
)

/** A whole run: header bytes, payload, chunking, end, trust and settings */
export const readerInput: fc.Arbitrary<ReaderInput> = fc.tuple(
  headerBytes,
  longBytes(96),
  fc.array(fc.nat({ max: 400 }), { maxLength: 12 }),
  fc.boolean(),
  fc.double({ min: 0, max: 1, noNaN: true }),
  fc.record({
    maxHeaderBytes: fc.constantFrom(107, 232, 4096),
    optional: fc.boolean(),
    untrusted: fc.constantFrom('pass' as const, 'reject' as const),
    versions: fc.constantFrom<Array<1 | 2>>([1, 2], [1, 2], [1], [2])
  })
).map(([header, payload, cuts, end, trust, options]) => ({ bytes: Buffer.concat([header, payload]), cuts, end, trusted: trust < 0.85, options }))

/** A valid header, trusted, with a payload, cut anywhere: the model says what must come out */
export const validInput = fc.tuple(validHeader, bytes(96), fc.array(fc.nat({ max: 400 }), { maxLength: 12 }), fc.boolean())
