/**
 * The byte layout of a v1 frame and the integer reads/writes it needs.
 *
 * ```
 * offset  size  field
 * 0       4     magic+version 0x46535901 ("FSY" v1), big-endian: 46 53 59 01
 * 4       4     payload length N (≤ 2^28 − 1), little-endian
 * 8       N     payload
 * 8+N     4     CRC-32C of bytes [0, 8+N), little-endian
 * ```
 *
 * Plain index arithmetic on the `Uint8Array` (no `DataView`): one less object per call, and V8
 * compiles it to the same loads.
 *
 * @internal
 */

export const MAGIC = 0x46535901
export const MAGIC_OFFSET = 0
export const LENGTH_OFFSET = 4
export const HEADER_BYTES = 8
export const TRAILER_BYTES = 4
export const OVERHEAD_BYTES = HEADER_BYTES + TRAILER_BYTES
/** 2^28 − 1: a length field above this is corrupt, never a record (fsys's limit). */
export const PAYLOAD_BYTES_MAX = 2 ** 28 - 1

/** Unsigned little-endian u32 at `offset`; the caller guarantees 4 bytes are there. */
export const readU32LE = (bytes: Uint8Array, offset: number): number =>
  (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 24)) >>> 0

/** Unsigned big-endian u32 at `offset`; the caller guarantees 4 bytes are there. */
export const readU32BE = (bytes: Uint8Array, offset: number): number =>
  ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3]) >>> 0

export const writeU32LE = (bytes: Uint8Array, offset: number, value: number): void => {
  bytes[offset] = value & 0xff
  bytes[offset + 1] = (value >>> 8) & 0xff
  bytes[offset + 2] = (value >>> 16) & 0xff
  bytes[offset + 3] = value >>> 24
}

export const writeU32BE = (bytes: Uint8Array, offset: number, value: number): void => {
  bytes[offset] = value >>> 24
  bytes[offset + 1] = (value >>> 16) & 0xff
  bytes[offset + 2] = (value >>> 8) & 0xff
  bytes[offset + 3] = value & 0xff
}

/**
 * The payload length a header at `offset` declares, when at least a header's worth of bytes is
 * there and the magic matches; `-1` otherwise. Readers use it to learn how many bytes a frame
 * needs before they have them all. The value may exceed `PAYLOAD_BYTES_MAX` (the decoder rejects it).
 */
export const declaredLength = (bytes: Uint8Array, offset: number, endIndex: number): number =>
  endIndex - offset >= HEADER_BYTES && readU32BE(bytes, offset + MAGIC_OFFSET) === MAGIC
    ? readU32LE(bytes, offset + LENGTH_OFFSET)
    : -1
