/**
 * Frames whose CRC is filled later, a run at a time: the log buffer's append copies a frame's
 * header and payload (`encodeWithoutCrc`), and the step that hands the bytes to a write (a seal,
 * a rotation before an oversize record) fills the CRCs of every frame placed since the last one
 * in one tight loop (`fillCrcs`).
 *
 * Why: between two appends the fiber machinery (a park, a wake, the producer's generator) runs
 * and evicts the 16 KiB of CRC tables from L1, so a 100 B frame's CRC cost ≈ 2× what it costs in
 * isolation (issue 12's profile). Filling a round's 64 CRCs back to back keeps the tables hot,
 * and the per-call range checks of `Crc32c.computeRange` are paid once per run, not per frame.
 *
 * The caller's invariant: no write, carry or copy reads a frame before its CRC is filled, and a
 * run of unfilled frames is bounded (`FILL_AHEAD_MAX_BYTES`) so a seal never holds the event loop
 * for more than a bounded run's CRC.
 *
 * @internal
 */
import { violated } from "../assert.ts"
import * as Native from "../crc/native.ts"
import * as Software from "../crc/software.ts"
import * as Layout from "./layout.ts"

/**
 * Unfilled frame bytes a log buffer may accumulate before it fills them at the append itself:
 * ≈ 80 µs of table CRC (0.8 GB/s), far above a 64-producer round (64 × 112 B ≈ 7 KiB), far below
 * the 10 ms an event-loop turn may take.
 */
export const FILL_AHEAD_MAX_BYTES = 64 * 1024

/** Frames at least this long go to the native CRC when it loaded (see `Crc32c.nativeThresholdBytes`). */
const NATIVE_MIN_BYTES = 160

const native = Native.crc32c

/**
 * Writes the frame for `payload` at `offset` except its CRC (the four bytes after the payload
 * are left as they are) and returns the frame's length. The caller checked the payload length
 * (≤ `MAX_PAYLOAD`) and that the frame fits; asserted here all the same, since a frame written
 * past the end of a slot would corrupt the other one.
 */
export const encodeWithoutCrc = (target: Uint8Array, offset: number, payload: Uint8Array): number => {
  const payloadLength = payload.byteLength
  const frameLength = payloadLength + Layout.OVERHEAD
  if (!(payloadLength <= Layout.MAX_PAYLOAD && offset >= 0 && offset + frameLength <= target.length)) {
    throw new RangeError(`encodeWithoutCrc: ${frameLength} bytes at ${offset} do not fit in ${target.length}`)
  }
  Layout.writeU32BE(target, offset + Layout.MAGIC_OFFSET, Layout.MAGIC)
  Layout.writeU32LE(target, offset + Layout.LENGTH_OFFSET, payloadLength)
  target.set(payload, offset + Layout.HEADER_BYTES)
  return frameLength
}

/**
 * Fills the CRC of every frame in `bytes[fromOffset, toOffset)`, which must hold whole frames
 * written by `encodeWithoutCrc`, back to back. Returns the number of frames filled. Throws (a bug
 * in the caller) if the frames do not end exactly at `toOffset`.
 */
export const fillCrcs = (bytes: Uint8Array, fromOffset: number, toOffset: number): number => {
  if (!(fromOffset >= 0 && fromOffset <= toOffset && toOffset <= bytes.length)) {
    throw new RangeError(`fillCrcs: range [${fromOffset}, ${toOffset}) outside [0, ${bytes.length})`)
  }
  let offset = fromOffset
  let frames = 0
  // Bounded by the range: every step advances by at least OVERHEAD bytes.
  while (offset < toOffset) {
    const payloadLength = Layout.readU32LE(bytes, offset + Layout.LENGTH_OFFSET)
    const crcOffset = offset + Layout.HEADER_BYTES + payloadLength
    if (payloadLength > Layout.MAX_PAYLOAD || crcOffset + Layout.TRAILER_BYTES > toOffset) {
      return violated(`no whole frame at ${offset} before ${toOffset}`)
    }
    const crc =
      native !== undefined && crcOffset - offset >= NATIVE_MIN_BYTES
        ? native(bytes.subarray(offset, crcOffset), 0)
        : Software.computeRange(bytes, offset, crcOffset, 0)
    Layout.writeU32LE(bytes, crcOffset, crc)
    offset = crcOffset + Layout.TRAILER_BYTES
    frames++
  }
  return frames
}
