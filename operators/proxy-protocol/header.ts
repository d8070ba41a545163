import { isIP } from 'node:net'
import { decodeTlvs } from './tlv.ts'
import type { ProxyTlvs } from './tlv.ts'

/** the longest v1 line the specification allows, CRLF included */
export const V1_MAX_BYTES = 107

/** what a v2 header has before its addresses: signature, version and command, family, length */
const V2_FIXED_BYTES = 16

const V1_SIGNATURE = Buffer.from('PROXY ', 'latin1')
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])

/** An IP address and a TCP port, as a balancer reports them. */
export interface ProxiedClient {
  /** the IP address as the balancer wrote it (an IPv4-mapped IPv6 address as IPv4) */
  ip: string
  /** the TCP port */
  port: number
}

/**
 * What a PROXY header said, as the `proxy` of the `InboundSocket` it
 * arrived on.
 */
export interface ProxyHeader {
  /** 1 (text) or 2 (binary) */
  readonly version: 1 | 2
  /** `'proxy'`, or `'local'` for a v2 LOCAL header (a balancer's own connection, such as a health check) */
  readonly command: 'proxy' | 'local'
  /**
   * the address family as sent: `tcp4`/`tcp6` (v1 `TCP4`/`TCP6`, v2
   * `AF_INET`/`AF_INET6` over `STREAM`), `unix` (v2 `AF_UNIX`), `unspec`
   * (v1 `UNKNOWN`, v2 `AF_UNSPEC`)
   */
  readonly family: 'tcp4' | 'tcp6' | 'unix' | 'unspec'
  /** the client, when the header names one that replaces the socket's own address (not for LOCAL, unix or unspec) */
  readonly source?: ProxiedClient
  /** the address the client connected to, when `source` is given */
  readonly destination?: ProxiedClient
  /** the v2 TLVs, decoded (absent for v1) */
  readonly tlvs?: ProxyTlvs
}

/**
 * How far the bytes received so far go towards a PROXY header:
 * - `partial`: a header may still complete, more bytes are needed;
 * - `none`: the bytes do not begin with either signature;
 * - `malformed`: they begin like a header of `version` but are not a valid one (`why` says how);
 * - `header`: a complete header of `length` bytes; `client` is the proxied
 *   client, absent for LOCAL, UNKNOWN, UNSPEC and unix headers (the
 *   connection's own address stands); `header` is what it said.
 */
export type HeaderScan =
  | { kind: 'partial' }
  | { kind: 'none' }
  | { kind: 'malformed', version: 1 | 2, why: string }
  | { kind: 'header', length: number, version: 1 | 2, client?: ProxiedClient, header: ProxyHeader }

/** The version whose signature `bytes` begin like (judged on the first byte), or undefined. */
export function signatureVersion (bytes: Buffer): 1 | 2 | undefined {
  return bytes.length === 0 ? undefined : bytes[0] === V1_SIGNATURE[0] ? 1 : bytes[0] === V2_SIGNATURE[0] ? 2 : undefined
}

/** The version whose whole signature `bytes` begin with (6 bytes for v1, 12 for v2), or undefined. */
export function completeSignatureVersion (bytes: Buffer): 1 | 2 | undefined {
  return bytes.length >= V1_SIGNATURE.length && startsLike(bytes, V1_SIGNATURE)
    ? 1
    : bytes.length >= V2_SIGNATURE.length && startsLike(bytes, V2_SIGNATURE) ? 2 : undefined
}

/** true while `bytes` agree with the start of a signature (and so may still become a header) */
export function startsLikeSignature (bytes: Buffer): boolean {
  return startsLike(bytes, V1_SIGNATURE) || startsLike(bytes, V2_SIGNATURE)
}

/**
 * Finds and parses a PROXY protocol header (v1 or v2) at the start of
 * `bytes`: the framing (where the header ends, how long it may be), the v1
 * line, the v2 header and its TLVs (`tlv.ts`), after the specification
 * (haproxy.org/download/2.6/doc/proxy-protocol.txt, sections 2.1 and 2.2).
 * Never throws, whatever the bytes.
 */
export function scanProxyHeader (bytes: Buffer, maxHeaderBytes: number): HeaderScan {
  if (bytes.length === 0) {
    return { kind: 'partial' }
  }
  if (startsLike(bytes, V2_SIGNATURE)) {
    return scanV2(bytes, maxHeaderBytes)
  }
  if (startsLike(bytes, V1_SIGNATURE)) {
    return scanV1(bytes, Math.min(maxHeaderBytes, V1_MAX_BYTES))
  }
  // bytes that began like a signature and then left it are a broken header, anything else is no header
  const version = signatureVersion(bytes)
  return version !== undefined
    ? { kind: 'malformed', version, why: 'not a PROXY protocol signature' }
    : { kind: 'none' }
}

/** true when `bytes` and `signature` agree on the bytes both have */
function startsLike (bytes: Buffer, signature: Buffer): boolean {
  const n = Math.min(bytes.length, signature.length)
  return bytes.compare(signature, 0, n, 0, n) === 0
}

function v1Malformed (why: string): HeaderScan {
  return { kind: 'malformed', version: 1, why: `v1: ${why}` }
}

function v2Malformed (why: string): HeaderScan {
  return { kind: 'malformed', version: 2, why: `v2: ${why}` }
}

function scanV1 (bytes: Buffer, maxBytes: number): HeaderScan {
  const end = bytes.indexOf('\r\n', 0, 'latin1')
  if (end === -1 || end + 2 > maxBytes) {
    return end === -1 && bytes.length < maxBytes
      ? { kind: 'partial' }
      : { kind: 'malformed', version: 1, why: `v1 header longer than ${maxBytes} bytes` }
  }
  const length = end + 2
  // PROXY <TCP4|TCP6> <source> <destination> <source port> <destination port>, one space between each
  const fields = bytes.toString('latin1', 0, end).split(' ')
  // UNKNOWN may carry anything up to the CRLF, which the receiver ignores
  if (fields[1] === 'UNKNOWN') {
    return { kind: 'header', length, version: 1, header: { version: 1, command: 'proxy', family: 'unspec' } }
  }
  const family = fields[1] === 'TCP4' ? 4 : fields[1] === 'TCP6' ? 6 : undefined
  if (family === undefined) {
    return v1Malformed(`protocol ${JSON.stringify(fields[1])}, not TCP4, TCP6 or UNKNOWN`)
  }
  if (fields.length !== 6) {
    return v1Malformed(`${fields.length - 2} fields after the protocol instead of 4, one space apart`)
  }
  const [,, sourceIp, destinationIp, sourcePort, destinationPort] = fields
  if (isIP(sourceIp) !== family || isIP(destinationIp) !== family) {
    return v1Malformed(`addresses are not ${fields[1]}`)
  }
  const source = { ip: sourceIp, port: v1Port(sourcePort) }
  const destination = { ip: destinationIp, port: v1Port(destinationPort) }
  if (Number.isNaN(source.port) || Number.isNaN(destination.port)) {
    return v1Malformed('port out of range')
  }
  return { kind: 'header', length, version: 1, client: source, header: { version: 1, command: 'proxy', family: family === 4 ? 'tcp4' : 'tcp6', source, destination } }
}

/** a v1 port: decimal, 0 to 65535, no leading zero (NaN otherwise) */
function v1Port (text: string): number {
  return /^(0|[1-9]\d{0,4})$/.test(text) && Number(text) <= 0xffff ? Number(text) : NaN
}

/** the bytes of the addresses of each v2 family (high nibble of byte 13): none, IPv4, IPv6, unix */
const V2_ADDRESS_BYTES = [0, 12, 36, 216]
const V2_FAMILIES = ['unspec', 'tcp4', 'tcp6', 'unix'] as const
const V2_LOCAL = 0x0
const V2_PROXY = 0x1
const V2_STREAM = 0x1

function scanV2 (bytes: Buffer, maxBytes: number): HeaderScan {
  if (bytes.length < V2_FIXED_BYTES) {
    return { kind: 'partial' }
  }
  const length = V2_FIXED_BYTES + bytes.readUInt16BE(14)
  if (length > maxBytes) {
    return { kind: 'malformed', version: 2, why: `v2 header of ${length} bytes, more than ${maxBytes}` }
  }
  if (bytes.length < length) {
    return { kind: 'partial' }
  }
  const header = bytes.subarray(0, length)
  const versionCommand = header[12]
  if (versionCommand >> 4 !== 2) {
    return v2Malformed(`version ${versionCommand >> 4}, not 2`)
  }
  const command = versionCommand & 0x0f
  if (command !== V2_LOCAL && command !== V2_PROXY) {
    return v2Malformed(`command 0x${command.toString(16)}, neither LOCAL nor PROXY`)
  }
  const familyIndex = header[13] >> 4
  const transport = header[13] & 0x0f
  const addressBytes = V2_ADDRESS_BYTES[familyIndex]
  if (addressBytes === undefined || transport > 2) {
    // a LOCAL header's family is to be ignored by the receiver, and so are its addresses and TLVs
    return command === V2_LOCAL
      ? { kind: 'header', length, version: 2, header: { version: 2, command: 'local', family: 'unspec' } }
      : v2Malformed(`address family and protocol 0x${header[13].toString(16).padStart(2, '0')}`)
  }
  if (length - V2_FIXED_BYTES < addressBytes) {
    return v2Malformed(`${length - V2_FIXED_BYTES} bytes after the fixed part, too few for the ${addressBytes} of a ${V2_FAMILIES[familyIndex]} address block`)
  }
  const tlvs = decodeTlvs(header, V2_FIXED_BYTES + addressBytes)
  if (typeof tlvs === 'string') {
    return v2Malformed(tlvs)
  }
  const family = V2_FAMILIES[familyIndex]
  if (command === V2_LOCAL) {
    return { kind: 'header', length, version: 2, header: { version: 2, command: 'local', family, tlvs } }
  }
  if (family === 'unspec' || family === 'unix') {
    return { kind: 'header', length, version: 2, header: { version: 2, command: 'proxy', family, tlvs } }
  }
  if (transport !== V2_STREAM) {
    return v2Malformed('a proxied TCP connection must be STREAM')
  }
  const at = V2_FIXED_BYTES
  const [source, destination] = family === 'tcp4'
    ? [{ ip: ipv4(header, at), port: header.readUInt16BE(at + 8) }, { ip: ipv4(header, at + 4), port: header.readUInt16BE(at + 10) }]
    : [{ ip: ipv6(header, at), port: header.readUInt16BE(at + 32) }, { ip: ipv6(header, at + 16), port: header.readUInt16BE(at + 34) }]
  return { kind: 'header', length, version: 2, client: source, header: { version: 2, command: 'proxy', family, source, destination, tlvs } }
}

function ipv4 (bytes: Buffer, at: number): string {
  return `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`
}

/** 16 bytes as an IPv6 address, IPv4-mapped ones as the IPv4 address they carry */
function ipv6 (bytes: Buffer, at: number): string {
  let zeros = true
  for (let i = at; i < at + 10; i++) {
    zeros &&= bytes[i] === 0
  }
  if (zeros && bytes[at + 10] === 0xff && bytes[at + 11] === 0xff) {
    return ipv4(bytes, at + 12)
  }
  const groups: string[] = []
  for (let i = at; i < at + 16; i += 2) {
    groups.push(bytes.readUInt16BE(i).toString(16))
  }
  return groups.join(':')
}
