/**
 * Which pending sector versions and size changes of a simulated file reach stable media in a
 * crash or a failed writeback (`Survival`), and applying them to an image (`applyOps`).
 *
 * @since 0.1.0
 */
import type { Prng } from "../prng.ts"
import type { ByteImage, PendingOp, PendingTruncate, PendingWrite } from "./inode.ts"

/**
 * Which parts of the pending operations reach stable media in a crash or a failed writeback.
 * `keepSector(op, sectorIndexInOp)` and `keepTruncate(op)` are asked in operation order; `sizeBytes`
 * is the file size stable media ends up with.
 */
export interface Survival {
  readonly keepSector: (op: PendingWrite, indexInOp: number) => boolean
  readonly keepTruncate: (op: PendingTruncate) => boolean
  readonly sizeBytes: number
  /** Sectors left unreadable (a physical sector torn inside the device); none when absent. */
  readonly badSectors?: ReadonlyArray<number>
}

/** A survival where every pending part reaches the disk and the file ends `sizeBytes` long. */
export const keepEverything = (sizeBytes: number): Survival => ({
  keepSector: () => true,
  keepTruncate: () => true,
  sizeBytes,
})

/** A survival where each sector version and truncate independently survives with `probability`. */
export const keepRandomly = (rng: Prng, probability: number, sizeBytes: number): Survival => ({
  keepSector: () => rng.chance(probability),
  keepTruncate: () => rng.chance(probability),
  sizeBytes,
})

/**
 * Applies the surviving parts of `ops` in order. A surviving truncate zeroes the bytes past its
 * size (the blocks were freed, so a later extension reads zeros); the final size is
 * `survival.sizeBytes`, and bytes past what any surviving write covered read as zeros.
 */
export const applyOps = (
  image: ByteImage,
  ops: ReadonlyArray<PendingOp>,
  survival: Survival,
  sectorBytes: number,
): void => {
  for (const op of ops) {
    if (op._tag === "Truncate") {
      if (survival.keepTruncate(op)) image.zeroFrom(op.sizeBytes)
      continue
    }
    image.ensureCapacity((op.firstSector + op.sectorCount) * sectorBytes)
    for (let index = 0; index < op.sectorCount; index++) {
      if (!survival.keepSector(op, index)) continue
      image.bytes.set(
        op.sectors.subarray(index * sectorBytes, (index + 1) * sectorBytes),
        (op.firstSector + index) * sectorBytes,
      )
    }
  }
  // Bytes past the final size must read as zero if the file later grows again.
  image.ensureCapacity(survival.sizeBytes)
  image.zeroFrom(survival.sizeBytes)
  image.size = survival.sizeBytes
}
