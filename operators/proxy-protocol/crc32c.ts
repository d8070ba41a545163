/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the
 * PROXY protocol's `PP2_TYPE_CRC32C` TLV. Node's `zlib.crc32` is the other
 * CRC-32 (IEEE), so this one is computed here, a byte at a time from a table:
 * a header is at most a few KiB.
 */

const TABLE = ((): Uint32Array => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) {
      c = (c & 1) !== 0 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    }
    table[n] = c >>> 0
  }
  return table
})()

/**
 * The CRC-32C of `bytes`, as an unsigned 32-bit number; the four bytes at
 * `zeroAt` (when given) are counted as zeros, as the PROXY protocol computes
 * the checksum with its own field zeroed.
 *
 * @example
 * crc32c(Buffer.from('123456789')) // 0xe3069283
 */
export function crc32c (bytes: Uint8Array, zeroAt = -1): number {
  let crc = 0xffffffff
  for (let i = 0; i < bytes.length; i++) {
    const byte = zeroAt >= 0 && i >= zeroAt && i < zeroAt + 4 ? 0 : bytes[i]
    crc = TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8)
  }
  return (crc ^ 0xffffffff) >>> 0
}
