/** The first 10 of the 20 bytes of a multistream-select header (varint 19 + '/multistream/1.0.0\n'): a handshake that stalls. */
export const HALF_HEADER = new Uint8Array([19, ...new TextEncoder().encode('/multistre')])
