/**
 * The v1 journal frame: how one record is laid out on disk, byte-compatible with fsys.
 *
 * ```
 * offset  size  field
 * 0       4     magic+version 0x46535901 ("FSY" v1), big-endian
 * 4       4     payload length N, N ≤ 2^28 − 1, little-endian
 * 8       N     payload
 * 8+N     4     CRC-32C of bytes [0, 8+N), little-endian
 * ```
 *
 * There is no file header: a journal is frames back to back from offset 0, and a record's LSN is
 * the byte offset of its frame. A frame never starts with `0x00`, which is how readers tell a
 * frame from zero padding.
 *
 * `encodeInto` is the hot path of every append (no allocation); `decode` classifies any bytes
 * without throwing and never allocates in proportion to a length field it read.
 *
 * @since 0.1.0
 */
import * as Crc32c from "./Crc32c.ts"
import * as Check from "./internal/frame/check.ts"
import * as Layout from "./internal/frame/layout.ts"

/**
 * Magic and format version, `"FSY"` + `0x01`, stored big-endian.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAGIC: number = Layout.MAGIC

/**
 * Bytes before the payload: magic + length.
 *
 * @since 0.1.0
 * @category constants
 */
export const HEADER_BYTES: number = Layout.HEADER_BYTES

/**
 * Bytes a frame adds to its payload: header + CRC.
 *
 * @since 0.1.0
 * @category constants
 */
export const OVERHEAD_BYTES: number = Layout.OVERHEAD_BYTES

/**
 * @deprecated Use `OVERHEAD_BYTES` (every size names its unit).
 * @since 0.1.0
 * @category constants
 */
export const OVERHEAD: number = OVERHEAD_BYTES

/**
 * The largest payload a frame can carry, 2^28 − 1 bytes.
 *
 * @since 0.1.0
 * @category constants
 */
export const PAYLOAD_BYTES_MAX: number = Layout.PAYLOAD_BYTES_MAX

/**
 * @deprecated Use `PAYLOAD_BYTES_MAX` (qualifiers come last: `_MIN`, `_MAX`, `_DEFAULT`).
 * @since 0.1.0
 * @category constants
 */
export const MAX_PAYLOAD: number = PAYLOAD_BYTES_MAX

/**
 * The result of decoding the frame at an offset.
 *
 * - `Ok`: `payload` is a view into the input (no copy), `consumed` the frame's size in bytes.
 * - `Truncated`: the bytes end before the frame does (fewer than 8 header bytes, or fewer than
 *   `12 + N`).
 * - `BadMagic`: the first 4 bytes are not `46 53 59 01`.
 * - `LengthOverflow`: the length field exceeds {@link PAYLOAD_BYTES_MAX}.
 * - `ChecksumMismatch`: the stored CRC-32C differs from the computed one.
 *
 * @since 0.1.0
 * @category models
 */
export type Decoded =
  | { readonly _tag: "Ok"; readonly payload: Uint8Array; readonly consumed: number }
  | { readonly _tag: "Truncated" }
  | { readonly _tag: "BadMagic" }
  | { readonly _tag: "LengthOverflow" }
  | { readonly _tag: "ChecksumMismatch" }

// Failures carry no data, so one shared instance each: decoding garbage allocates nothing.
const truncated: Decoded = Object.freeze({ _tag: "Truncated" })
const badMagic: Decoded = Object.freeze({ _tag: "BadMagic" })
const lengthOverflow: Decoded = Object.freeze({ _tag: "LengthOverflow" })
const checksumMismatch: Decoded = Object.freeze({ _tag: "ChecksumMismatch" })

/**
 * Size on disk of a frame carrying `payloadLength` bytes.
 *
 * @since 0.1.0
 * @category utils
 */
export const frameBytes = (payloadLength: number): number => payloadLength + Layout.OVERHEAD_BYTES

/**
 * Writes the frame for `payload` into `target` at `offset` (header, payload, CRC) and returns the
 * bytes written, `frameBytes(payload.length)`. Allocates nothing.
 *
 * Preconditions, asserted (a violation is a bug in the caller, so it throws): `payload.length ≤
 * PAYLOAD_BYTES_MAX` (callers check first and report `RecordTooLarge`), and `target` has room.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeInto = (target: Uint8Array, offset: number, payload: Uint8Array): number => {
  // byteLength, not length: a subclass may override `length`, and the copy below copies byteLength.
  const payloadLength = payload.byteLength
  const frameLength = payloadLength + Layout.OVERHEAD_BYTES
  if (payloadLength > Layout.PAYLOAD_BYTES_MAX) {
    throw new RangeError(`Frame.encodeInto: payload of ${payloadLength} bytes exceeds PAYLOAD_BYTES_MAX`)
  }
  if (!(Number.isInteger(offset) && offset >= 0 && offset + frameLength <= target.length)) {
    throw new RangeError(`Frame.encodeInto: ${frameLength} bytes at ${offset} do not fit in ${target.length}`)
  }
  Layout.writeU32BE(target, offset + Layout.MAGIC_OFFSET, Layout.MAGIC)
  Layout.writeU32LE(target, offset + Layout.LENGTH_OFFSET, payloadLength)
  target.set(payload, offset + Layout.HEADER_BYTES)
  const crcOffset = offset + Layout.HEADER_BYTES + payloadLength
  Layout.writeU32LE(target, crcOffset, Crc32c.computeRange(target, offset, crcOffset))
  return frameLength
}

/**
 * The frame for `payload` in a new array of `frameBytes(payload.length)` bytes.
 *
 * @example
 * ```ts
 * import { Frame } from "@fsys/core"
 * Frame.encode(new TextEncoder().encode("hello"))
 * // 46 53 59 01 05 00 00 00 68 65 6c 6c 6f 2f 8b 22 17
 * ```
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (payload: Uint8Array): Uint8Array => {
  if (payload.length > Layout.PAYLOAD_BYTES_MAX) {
    throw new RangeError(`Frame.encode: payload of ${payload.length} bytes exceeds PAYLOAD_BYTES_MAX`)
  }
  const frame = new Uint8Array(payload.length + Layout.OVERHEAD_BYTES)
  encodeInto(frame, 0, payload)
  return frame
}

/**
 * Decodes the frame starting at `offset` in `bytes`, checking in fsys's order: fewer than 8 bytes
 * → `Truncated`; wrong magic → `BadMagic`; length > PAYLOAD_BYTES_MAX → `LengthOverflow`; fewer than
 * `12 + N` bytes → `Truncated`; CRC differs → `ChecksumMismatch`; else `Ok` with a zero-copy
 * payload view.
 *
 * Never throws for any byte content; `offset` must be an integer ≥ 0 (past the end is
 * `Truncated`).
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (bytes: Uint8Array, offset: number): Decoded => {
  if (!(Number.isInteger(offset) && offset >= 0)) {
    throw new RangeError(`Frame.decode: offset ${offset} is not a non-negative integer`)
  }
  const frameLength = Check.checkAt(bytes, offset, bytes.length)
  if (frameLength >= 0) {
    const payloadStart = offset + Layout.HEADER_BYTES
    return {
      _tag: "Ok",
      payload: bytes.subarray(payloadStart, offset + frameLength - Layout.TRAILER_BYTES),
      consumed: frameLength,
    }
  }
  switch (frameLength) {
    case Check.BAD_MAGIC:
      return badMagic
    case Check.LENGTH_OVERFLOW:
      return lengthOverflow
    case Check.CHECKSUM_MISMATCH:
      return checksumMismatch
    default:
      return truncated
  }
}
