import { isIP } from 'node:net'
import { AddressFamilyType, Command, INETProtocol, TransportProtocol, V1BinaryProxyProtocol, V2ProxyProtocol } from 'proxy-protocol-js'
import type { IPv4ProxyAddress, IPv6ProxyAddress } from 'proxy-protocol-js'

/** the longest v1 line the specification allows, CRLF included */
export const V1_MAX_BYTES = 107

/** what a v2 header has before its addresses: signature, version and command, family, length */
const V2_FIXED_BYTES = 16

const V1_SIGNATURE = Buffer.from('PROXY ', 'latin1')
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])

/** The client a balancer reports: an IP address and a TCP port. */
export interface ProxiedClient {
  ip: string
  port: number
}

/**
 * How far the bytes received so far go towards a PROXY header:
 * - `partial`: a header may still complete, more bytes are needed;
 * - `none`: the bytes do not begin with either signature;
 * - `malformed`: they begin like a header but are not a valid one (`why` says how);
 * - `header`: a complete header of `length` bytes; `client` is the proxied
 *   client, absent for LOCAL, UNKNOWN, UNSPEC and unix headers (the
 *   connection's own address stands).
 */
export type HeaderScan =
  | { kind: 'partial' }
  | { kind: 'none' }
  | { kind: 'malformed', why: string }
  | { kind: 'header', length: number, version: 1 | 2, client?: ProxiedClient }

/**
 * Finds and parses a PROXY protocol header (v1 or v2) at the start of
 * `bytes`. Framing (where the header ends, how long it may be) is done here;
 * the fields are parsed by `proxy-protocol-js`, and the addresses checked.
 * TLVs after a v2 address block are counted in the length and skipped.
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
  return bytes[0] === V1_SIGNATURE[0] || bytes[0] === V2_SIGNATURE[0]
    ? { kind: 'malformed', why: 'not a PROXY protocol signature' }
    : { kind: 'none' }
}

/** true when `bytes` and `signature` agree on the bytes both have */
function startsLike (bytes: Buffer, signature: Buffer): boolean {
  const n = Math.min(bytes.length, signature.length)
  return bytes.compare(signature, 0, n, 0, n) === 0
}

function scanV1 (bytes: Buffer, maxBytes: number): HeaderScan {
  const end = bytes.indexOf('\r\n', 0, 'latin1')
  if (end === -1 || end + 2 > maxBytes) {
    return end === -1 && bytes.length < maxBytes
      ? { kind: 'partial' }
      : { kind: 'malformed', why: `v1 header longer than ${maxBytes} bytes` }
  }
  const length = end + 2
  const line = bytes.subarray(0, length)
  // UNKNOWN may carry anything up to the CRLF, which the receiver ignores
  if (line.toString('latin1', V1_SIGNATURE.length, end).split(' ')[0] === INETProtocol.UNKNOWN) {
    return { kind: 'header', length, version: 1 }
  }
  let parsed: V1BinaryProxyProtocol
  try {
    parsed = V1BinaryProxyProtocol.parse(line)
  } catch (err: any) {
    return { kind: 'malformed', why: `v1: ${String(err?.message)}` }
  }
  const family = parsed.inetProtocol === INETProtocol.TCP4 ? 4 : 6
  const { ipAddress, port } = parsed.source
  if (isIP(ipAddress) !== family || isIP(parsed.destination.ipAddress) !== family) {
    return { kind: 'malformed', why: `v1: addresses are not ${parsed.inetProtocol}` }
  }
  if (!validPort(port) || !validPort(parsed.destination.port)) {
    return { kind: 'malformed', why: 'v1: port out of range' }
  }
  return { kind: 'header', length, version: 1, client: { ip: ipAddress, port } }
}

function scanV2 (bytes: Buffer, maxBytes: number): HeaderScan {
  if (bytes.length < V2_FIXED_BYTES) {
    return { kind: 'partial' }
  }
  const length = V2_FIXED_BYTES + bytes.readUInt16BE(14)
  if (length > maxBytes) {
    return { kind: 'malformed', why: `v2 header of ${length} bytes, more than ${maxBytes}` }
  }
  if (bytes.length < length) {
    return { kind: 'partial' }
  }
  let parsed: V2ProxyProtocol
  try {
    parsed = V2ProxyProtocol.parse(bytes.subarray(0, length))
  } catch (err: any) {
    return { kind: 'malformed', why: `v2: ${String(err?.message)}` }
  }
  const { command, addressFamilyType, transportProtocol } = parsed
  if (command === Command.LOCAL || addressFamilyType === AddressFamilyType.UNSPEC || addressFamilyType === AddressFamilyType.UNIX) {
    return { kind: 'header', length, version: 2 }
  }
  if (transportProtocol !== TransportProtocol.STREAM) {
    return { kind: 'malformed', why: 'v2: a proxied TCP connection must be STREAM' }
  }
  const address = parsed.proxyAddress as IPv4ProxyAddress | IPv6ProxyAddress
  const ip = addressFamilyType === AddressFamilyType.INET
    ? address.sourceAddress.address.join('.')
    : ipv6(address.sourceAddress.address)
  return { kind: 'header', length, version: 2, client: { ip, port: address.sourcePort } }
}

function validPort (port: number): boolean {
  return Number.isInteger(port) && port >= 0 && port <= 0xffff
}

/** 16 bytes as an IPv6 address, IPv4-mapped ones as the IPv4 address they carry */
function ipv6 (bytes: number[]): string {
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return bytes.slice(12).join('.')
  }
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) {
    groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16))
  }
  return groups.join(':')
}
