/**
 * Sector arithmetic for the log buffer and recovery (the assertion helper lives in `../assert.ts`).
 *
 * A buffered journal uses a "sector" of 1 byte: every rounding is then the identity, nothing is
 * padded and nothing is carried, so one state machine serves both modes.
 *
 * @since 0.1.0
 */

/** The largest sector we accept: 64 KiB covers every DIO alignment seen in practice. */
export const SECTOR_BYTES_MAX = 64 * 1024

/** `sectorBytes` is 1 (buffered) or a power of two up to `SECTOR_BYTES_MAX`. */
export const isValidSectorBytes = (sectorBytes: number): boolean =>
  Number.isInteger(sectorBytes) &&
  sectorBytes >= 1 &&
  sectorBytes <= SECTOR_BYTES_MAX &&
  (sectorBytes & (sectorBytes - 1)) === 0

/** Rounds down to a sector boundary. Works past 2^32 (LSNs are exact to 2^53). */
export const roundDown = (value: number, sectorBytes: number): number => value - (value % sectorBytes)

/** Rounds up to a sector boundary. */
export const roundUp = (value: number, sectorBytes: number): number => {
  const rest = value % sectorBytes
  return rest === 0 ? value : value + sectorBytes - rest
}

/** The assertion helper, re-exported for the engine's files that import it with the arithmetic. */
export { assert } from "../assert.ts"
