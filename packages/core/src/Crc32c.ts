/**
 * CRC-32C (Castagnoli), the checksum of every journal frame.
 *
 * Reflected polynomial `0x82F63B78`, init and final xor `0xFFFFFFFF` — the CRC fsys, iSCSI, ext4
 * and SSE4.2's `crc32` instruction compute. Results are unsigned 32-bit numbers.
 *
 * Two implementations, one answer: a pure-TypeScript slicing-by-16 table CRC, and the optional
 * native SIMD `@node-rs/crc32`. A native call costs ≈ 0.1 µs before it touches a byte, so inputs
 * shorter than {@link nativeThresholdBytes} (measured by `scripts/crc-bench.ts`) stay in
 * TypeScript; longer ones go native when it loaded. Without the native module everything runs in
 * TypeScript, with identical results.
 *
 * Checksums chain: `compute(b, compute(a)) === compute(a ‖ b)`.
 *
 * @since 0.1.0
 */
import * as Native from "./internal/crc/native.ts"
import * as Software from "./internal/crc/software.ts"

/**
 * Inputs at least this long use the native CRC when it is available. Below it, the N-API call
 * overhead (≈ 90 ns) costs more than the table CRC of the whole input (measured on x86-64:
 * tables ≈ 0.72 ns/B, native ≈ 90 ns + 0.16 ns/B, crossing near 160 B; `scripts/crc-bench.ts`).
 *
 * @since 0.1.0
 * @category constants
 */
export const nativeThresholdBytes = 160

/**
 * Which implementation long inputs use: `"native"` (`@node-rs/crc32` loaded and verified) or
 * `"software"` (tables only).
 *
 * @since 0.1.0
 * @category models
 */
export const backend: "native" | "software" = Native.crc32c === undefined ? "software" : "native"

const native = Native.crc32c

/**
 * CRC-32C of `bytes[startIndex, endIndex)`, continuing from `seed` (a CRC returned earlier, for
 * the bytes that came before; default 0 = start fresh). No allocation below
 * {@link nativeThresholdBytes}; one subarray view above it. This is the hot path of every frame
 * encode and decode.
 *
 * @since 0.1.0
 * @category utils
 */
export const computeRange = (bytes: Uint8Array, startIndex: number, endIndex: number, seed = 0): number => {
  if (
    !(
      Number.isInteger(startIndex) &&
      Number.isInteger(endIndex) &&
      0 <= startIndex &&
      startIndex <= endIndex &&
      endIndex <= bytes.length
    )
  ) {
    throw new RangeError(`Crc32c.computeRange: range [${startIndex}, ${endIndex}) outside [0, ${bytes.length})`)
  }
  if (native !== undefined && endIndex - startIndex >= nativeThresholdBytes) {
    return native(bytes.subarray(startIndex, endIndex), seed >>> 0)
  }
  return Software.computeRange(bytes, startIndex, endIndex, seed)
}

/**
 * CRC-32C of all of `bytes`, continuing from `seed` (default 0 = start fresh).
 *
 * @example
 * ```ts
 * import { Crc32c } from "@fsys/core"
 * Crc32c.compute(new TextEncoder().encode("123456789")) // 0xe3069283
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const compute = (bytes: Uint8Array, seed = 0): number => {
  if (native !== undefined && bytes.length >= nativeThresholdBytes) return native(bytes, seed >>> 0)
  return Software.computeRange(bytes, 0, bytes.length, seed)
}
