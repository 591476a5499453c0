/**
 * Bounds on the log buffer's slot size (fsys accepts 4 KiB–64 MiB per slot), and the one check
 * of a slot size that `Journal.open` (option `logBufferBytes`) and the log buffer's own
 * constructors (`capacityBytes`) share.
 *
 * @since 0.1.0
 */
import { InvalidOptions } from "../../JournalError.ts"
import { isValidSectorBytes, SECTOR_BYTES_MAX } from "./sectors.ts"

export const CAPACITY_BYTES_MIN = 4 * 1024
export const CAPACITY_BYTES_MAX = 64 * 1024 * 1024

/**
 * A slot of `slotBytes` for sectors of `sectorBytes`: a power of two within the bounds, holding
 * at least two sectors (one being written while the next fills). `option` names the caller's
 * option in the error; `undefined` when acceptable.
 */
export const validateSlotBytes = (
  option: string,
  slotBytes: number,
  sectorBytes: number,
): InvalidOptions | undefined => {
  if (
    !Number.isInteger(slotBytes) ||
    slotBytes < CAPACITY_BYTES_MIN ||
    slotBytes > CAPACITY_BYTES_MAX ||
    (slotBytes & (slotBytes - 1)) !== 0
  ) {
    return new InvalidOptions({
      option,
      reason: `must be a power of two between ${CAPACITY_BYTES_MIN} and ${CAPACITY_BYTES_MAX}, got ${slotBytes}`,
    })
  }
  if (slotBytes < 2 * sectorBytes) {
    return new InvalidOptions({ option, reason: `must hold at least two ${sectorBytes}-byte sectors` })
  }
  return undefined
}

/** A log buffer's slot capacity and sector size; `undefined` when both are acceptable. */
export const validateCapacity = (capacityBytes: number, sectorBytes: number): InvalidOptions | undefined =>
  isValidSectorBytes(sectorBytes)
    ? validateSlotBytes("capacityBytes", capacityBytes, sectorBytes)
    : new InvalidOptions({
        option: "sectorBytes",
        reason: `${sectorBytes} is not a power of two between 1 and ${SECTOR_BYTES_MAX}`,
      })
