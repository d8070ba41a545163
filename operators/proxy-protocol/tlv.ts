/**
 * The TLVs of a PROXY protocol v2 header (type, 16-bit length, value, after
 * the addresses), decoded: the ones the specification names
 * (haproxy.org/download/2.6/doc/proxy-protocol.txt, section 2.2), and the
 * cloud ones AWS, Azure and GCP send from the range it leaves to vendors.
 */
import { isUtf8 } from 'node:buffer'
import { crc32c } from './crc32c.ts'

/** The TLV types this decoder names (`PP2_TYPE_*` and `PP2_SUBTYPE_SSL_*` of the specification, and the cloud ones). */
export const PP2_TYPE = {
  /** the application protocol the client negotiated (TLS ALPN) */
  ALPN: 0x01,
  /** the host name the client asked for (SNI, Host) */
  AUTHORITY: 0x02,
  /** CRC-32C of the whole header, this field zeroed */
  CRC32C: 0x03,
  /** padding, to be ignored */
  NOOP: 0x04,
  /** the balancer's opaque ID of the connection, at most 128 bytes */
  UNIQUE_ID: 0x05,
  /** client and verify fields, then the SSL sub-TLVs */
  SSL: 0x20,
  /** sub-TLV of SSL: the TLS version */
  SSL_VERSION: 0x21,
  /** sub-TLV of SSL: the Common Name of the client's certificate */
  SSL_CN: 0x22,
  /** sub-TLV of SSL: the cipher */
  SSL_CIPHER: 0x23,
  /** sub-TLV of SSL: the signature algorithm of the balancer's certificate */
  SSL_SIG_ALG: 0x24,
  /** sub-TLV of SSL: the key algorithm of the balancer's certificate */
  SSL_KEY_ALG: 0x25,
  /** the network namespace the connection was accepted in */
  NETNS: 0x30,
  /** Google Cloud Private Service Connect: the connection ID, 8 bytes big-endian */
  GCP: 0xe0,
  /** AWS PrivateLink: subtype 0x01, then the VPC endpoint ID in ASCII */
  AWS: 0xea,
  /** Azure Private Link: subtype 0x01, then the private endpoint's link ID, 4 bytes little-endian */
  AZURE: 0xee
} as const

/** `PP2_CLIENT_*`: the bits of the SSL TLV's `client` field */
const PP2_CLIENT = {
  /** the client connected over SSL/TLS */
  SSL: 0x01,
  /** the client sent a certificate on this connection */
  CERT_CONN: 0x02,
  /** the client sent a certificate at least once in this TLS session */
  CERT_SESS: 0x04
} as const

/** the longest unique ID the specification allows */
const UNIQUE_ID_MAX_BYTES = 128

/** One TLV as it was sent: its type and a copy of its value bytes. */
export interface ProxyTlv {
  /** the TLV's type byte (`PP2_TYPE`, or any other) */
  readonly type: number
  /** its value, a copy of the bytes as sent */
  readonly value: Buffer
}

/** The `PP2_TYPE_SSL` TLV: how the client reached the balancer over TLS. */
export interface ProxySsl {
  /** the `client` bit field as sent (`PP2_CLIENT_SSL` 0x01, `CERT_CONN` 0x02, `CERT_SESS` 0x04) */
  readonly client: number
  /** the client connected over SSL/TLS (`PP2_CLIENT_SSL`) */
  readonly tls: boolean
  /** the client sent a certificate on this connection (`PP2_CLIENT_CERT_CONN`) */
  readonly certInConnection: boolean
  /** the client sent a certificate at least once in this TLS session (`PP2_CLIENT_CERT_SESS`) */
  readonly certInSession: boolean
  /** the `verify` field as sent: 0 when the client presented a certificate and it was verified */
  readonly verify: number
  /** a certificate was presented (on the connection or in the session) and `verify` is 0 */
  readonly verified: boolean
  /** `PP2_SUBTYPE_SSL_VERSION`, e.g. `TLSv1.3` */
  readonly version?: string
  /** `PP2_SUBTYPE_SSL_CN`: the Common Name of the client's certificate */
  readonly cn?: string
  /** `PP2_SUBTYPE_SSL_CIPHER`, e.g. `TLS_AES_256_GCM_SHA384` */
  readonly cipher?: string
  /** `PP2_SUBTYPE_SSL_SIG_ALG`: the signature algorithm of the certificate the balancer presented */
  readonly sigAlg?: string
  /** `PP2_SUBTYPE_SSL_KEY_ALG`: the key algorithm of that certificate, e.g. `RSA2048` */
  readonly keyAlg?: string
  /** every sub-TLV as sent, in order */
  readonly tlvs: readonly ProxyTlv[]
}

/**
 * The TLVs of a v2 header, decoded. Each named field is the first TLV of its
 * type; `raw` has them all in order (NOOP padding left out). Text fields are
 * decoded as UTF-8 without ever throwing: bytes that are not UTF-8 become
 * U+FFFD, the field is named in `notUtf8`, and its bytes stay in `raw`.
 */
export interface ProxyTlvs {
  /** `PP2_TYPE_ALPN`: the protocol the client negotiated, e.g. `h2` */
  readonly alpn?: string
  /** `PP2_TYPE_AUTHORITY`: the host name the client asked for (TLS SNI or HTTP Host) */
  readonly authority?: string
  /** `PP2_TYPE_UNIQUE_ID`: the balancer's ID of the connection, opaque bytes (at most 128) */
  readonly uniqueId?: Buffer
  /** `PP2_TYPE_SSL` and its sub-TLVs */
  readonly ssl?: ProxySsl
  /** `PP2_TYPE_NETNS`: the network namespace the balancer accepted the connection in */
  readonly netns?: string
  /** `PP2_TYPE_CRC32C`: the header's checksum, which matched (a mismatch rejects the header) */
  readonly crc32c?: number
  /** AWS PrivateLink (`0xEA`): the VPC endpoint ID (`vpce-…`) */
  readonly aws?: {
    /** the VPC endpoint ID, `vpce-…` (subtype 0x01) */
    readonly vpceId: string
  }
  /** Azure Private Link (`0xEE`): the private endpoint's link ID */
  readonly azure?: {
    /** the private endpoint's link ID (subtype 0x01), sent little-endian */
    readonly linkId: number
  }
  /** Google Cloud Private Service Connect (`0xE0`): the PSC connection ID */
  readonly gcp?: {
    /** the PSC connection ID, sent as 8 bytes big-endian */
    readonly pscConnectionId: bigint
  }
  /** the text fields whose bytes were not UTF-8: `authority`, `ssl.cn`, `aws.vpceId`… */
  readonly notUtf8?: readonly string[]
  /** every TLV as sent, in order, NOOP left out */
  readonly raw: readonly ProxyTlv[]
}

/** `ProxyTlvs` while it is being decoded */
type Named = Omit<ProxyTlvs, 'notUtf8' | 'raw'>
type Mutable = { -readonly [K in keyof Named]: Named[K] } & { notUtf8?: string[], raw: ProxyTlv[] }

/**
 * Decodes the TLVs of `header` (a whole v2 header, exactly its length) from
 * `start`, the first byte after the addresses, and checks its CRC32C if one
 * is there.
 *
 * @returns the TLVs, or why they are malformed (a TLV running past the
 * header, an SSL TLV whose sub-TLVs do not add up, a unique ID over 128
 * bytes, a CRC32C that is not 4 bytes or does not match)
 */
export function decodeTlvs (header: Buffer, start: number): ProxyTlvs | string {
  // one copy of the TLV bytes, of its own (not a slice of Buffer's shared
  // pool): the values are views into it, not into the socket's chunk, which
  // may hold the whole first flight of payload, and a long-lived connection
  // keeping them pins nothing else
  const block = Buffer.allocUnsafeSlow(header.length - start)
  header.copy(block, 0, start)
  const listed = list(block)
  if (typeof listed === 'string') {
    return listed
  }
  const tlvs: Mutable = { raw: [] }
  for (const { at, tlv } of listed) {
    const { type, value } = tlv
    if (type === PP2_TYPE.NOOP) {
      continue
    }
    tlvs.raw.push(tlv)
    const field = TEXT_TLVS[type]
    if (field !== undefined) {
      tlvs[field] ??= text(value, field, tlvs)
      continue
    }
    const decoded = decodeOther(type, value, tlvs, () => crc32c(header, start + at + 3))
    if (typeof decoded === 'string') {
      return decoded
    }
  }
  return tlvs
}

/** the TLVs whose value is text, by type, and the field each is decoded into */
const TEXT_TLVS: Partial<Record<number, 'alpn' | 'authority' | 'netns'>> = {
  [PP2_TYPE.ALPN]: 'alpn',
  [PP2_TYPE.AUTHORITY]: 'authority',
  [PP2_TYPE.NETNS]: 'netns'
}

/** the SSL sub-TLVs, all of them text, by type, and the field each is decoded into */
const SSL_TEXT_TLVS: Partial<Record<number, 'version' | 'cn' | 'cipher' | 'sigAlg' | 'keyAlg'>> = {
  [PP2_TYPE.SSL_VERSION]: 'version',
  [PP2_TYPE.SSL_CN]: 'cn',
  [PP2_TYPE.SSL_CIPHER]: 'cipher',
  [PP2_TYPE.SSL_SIG_ALG]: 'sigAlg',
  [PP2_TYPE.SSL_KEY_ALG]: 'keyAlg'
}

/** decodes a TLV that is not text into `tlvs` (the first of each type wins); a string says why it is malformed */
function decodeOther (type: number, value: Buffer, tlvs: Mutable, computedCrc32c: () => number): string | undefined {
  switch (type) {
    case PP2_TYPE.UNIQUE_ID:
      if (value.length > UNIQUE_ID_MAX_BYTES) {
        return `unique ID of ${value.length} bytes, more than ${UNIQUE_ID_MAX_BYTES}`
      }
      tlvs.uniqueId ??= value
      return
    case PP2_TYPE.CRC32C: {
      if (value.length !== 4) {
        return `CRC32C TLV of ${value.length} bytes instead of 4`
      }
      const sent = value.readUInt32BE(0)
      const computed = computedCrc32c()
      if (sent !== computed) {
        return `CRC32C mismatch: sent 0x${hex(sent)}, computed 0x${hex(computed)}`
      }
      tlvs.crc32c ??= sent
      return
    }
    case PP2_TYPE.SSL: {
      const ssl = decodeSsl(value, tlvs)
      if (typeof ssl === 'string') {
        return ssl
      }
      tlvs.ssl ??= ssl
      return
    }
    case PP2_TYPE.AWS:
      // subtype 0x01 is the VPC endpoint ID; other subtypes stay in raw
      if (value.length > 1 && value[0] === 0x01) {
        tlvs.aws ??= { vpceId: text(value.subarray(1), 'aws.vpceId', tlvs) }
      }
      return
    case PP2_TYPE.AZURE:
      if (value.length === 5 && value[0] === 0x01) {
        tlvs.azure ??= { linkId: value.readUInt32LE(1) }
      }
      return
    case PP2_TYPE.GCP:
      if (value.length === 8) {
        tlvs.gcp ??= { pscConnectionId: value.readBigUInt64BE(0) }
      }
  }
}

/** the TLVs of `bytes` with the offset of each, or why they do not fit */
function list (bytes: Buffer): Array<{ at: number, tlv: ProxyTlv }> | string {
  const found: Array<{ at: number, tlv: ProxyTlv }> = []
  let at = 0
  while (at < bytes.length) {
    if (bytes.length - at < 3) {
      return `${bytes.length - at} byte(s) left after the TLVs, too few for one`
    }
    const type = bytes[at]
    const length = bytes.readUInt16BE(at + 1)
    if (at + 3 + length > bytes.length) {
      return `TLV 0x${type.toString(16)} of ${length} bytes runs past the header`
    }
    found.push({ at, tlv: { type, value: bytes.subarray(at + 3, at + 3 + length) } })
    at += 3 + length
  }
  return found
}

function decodeSsl (value: Buffer, tlvs: Mutable): ProxySsl | string {
  if (value.length < 5) {
    return `SSL TLV of ${value.length} bytes, shorter than its client and verify fields`
  }
  const subs = list(value.subarray(5))
  if (typeof subs === 'string') {
    return `SSL TLV: ${subs}`
  }
  const client = value[0]
  const verify = value.readUInt32BE(1)
  const certInConnection = (client & PP2_CLIENT.CERT_CONN) !== 0
  const certInSession = (client & PP2_CLIENT.CERT_SESS) !== 0
  const ssl: { -readonly [K in keyof ProxySsl]: ProxySsl[K] } = {
    client,
    tls: (client & PP2_CLIENT.SSL) !== 0,
    certInConnection,
    certInSession,
    verify,
    verified: (certInConnection || certInSession) && verify === 0,
    tlvs: subs.map(({ tlv }) => tlv)
  }
  for (const { type, value: sub } of ssl.tlvs) {
    const field = SSL_TEXT_TLVS[type]
    if (field !== undefined) {
      ssl[field] ??= text(sub, `ssl.${field}`, tlvs)
    }
  }
  return ssl
}

/** UTF-8 that never throws: bytes that are not UTF-8 are replaced, and the field is noted */
function text (value: Buffer, field: string, tlvs: Mutable): string {
  if (!isUtf8(value)) {
    (tlvs.notUtf8 ??= []).push(field)
  }
  return value.toString('utf8')
}

function hex (n: number): string {
  return n.toString(16).padStart(8, '0')
}
