/**
 * Classifies the frame at an offset without allocating: the one implementation of fsys's decode
 * order, shared by `Frame.decode` (which wraps the answer in an object) and the journal scanner
 * (which walks millions of frames and must not allocate per frame).
 *
 * @internal
 */
import * as Crc32c from "../../Crc32c.ts"
import * as Layout from "./layout.ts"

/** Fewer than `HEADER_BYTES` bytes before `endIndex`. */
export const TRUNCATED_HEADER = -1
/** The first four bytes are not the v1 magic. */
export const BAD_MAGIC = -2
/** The length field exceeds `PAYLOAD_BYTES_MAX`. */
export const LENGTH_OVERFLOW = -3
/** A valid header, but `endIndex` comes before the frame's end (`declaredLength` says where). */
export const TRUNCATED_PAYLOAD = -4
/** All bytes present, stored CRC-32C ≠ computed. */
export const CHECKSUM_MISMATCH = -5

/**
 * The frame's total length (≥ `OVERHEAD_BYTES`) when `bytes[offset, endIndex)` starts with a complete,
 * valid frame; otherwise one of the negative codes above, decided in fsys's order: header
 * truncated → bad magic → length overflow → payload truncated → checksum mismatch.
 * The caller guarantees `0 ≤ offset` and `endIndex ≤ bytes.length`.
 */
export const checkAt = (bytes: Uint8Array, offset: number, endIndex: number): number => {
  const frameLength = checkHeaderAt(bytes, offset, endIndex)
  return frameLength < 0 ? frameLength : checksumAt(bytes, offset, frameLength)
}

/** `frameLength` when the frame of that length at `offset` (all in `bytes`) checksums, else CHECKSUM_MISMATCH. */
export const checksumAt = (bytes: Uint8Array, offset: number, frameLength: number): number => {
  const crcOffset = offset + frameLength - Layout.TRAILER_BYTES
  return Layout.readU32LE(bytes, crcOffset) === Crc32c.computeRange(bytes, offset, crcOffset)
    ? frameLength
    : CHECKSUM_MISMATCH
}

/**
 * `checkAt` without the checksum: the frame's total length when its header is valid and all of
 * its bytes are before `endIndex`, otherwise one of the negative codes (never CHECKSUM_MISMATCH).
 * For a caller that checks a large frame's CRC-32C over several turns (`reader/cursor.ts`).
 */
export const checkHeaderAt = (bytes: Uint8Array, offset: number, endIndex: number): number => {
  const available = endIndex - offset
  if (available < Layout.HEADER_BYTES) return TRUNCATED_HEADER
  if (Layout.readU32BE(bytes, offset + Layout.MAGIC_OFFSET) !== Layout.MAGIC) return BAD_MAGIC
  const payloadLength = Layout.readU32LE(bytes, offset + Layout.LENGTH_OFFSET)
  if (payloadLength > Layout.PAYLOAD_BYTES_MAX) return LENGTH_OVERFLOW
  const frameLength = payloadLength + Layout.OVERHEAD_BYTES
  if (available < frameLength) return TRUNCATED_PAYLOAD
  return frameLength
}
