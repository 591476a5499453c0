/**
 * What survives a power cut, per crash mode.
 *
 * | mode                   | unsynced data                                         | unsynced directory entries |
 * |------------------------|-------------------------------------------------------|----------------------------|
 * | `dropUnsynced`         | none                                                  | none                       |
 * | `keepSubset`           | each sector version independently, size from history | each one by a coin         |
 * | `tornWrite`            | ops before a chosen one; that one cut at a sector      | each one by a coin         |
 * |                        | boundary; none after; size from history from there on |                            |
 * | `loseDirectoryEntries` | all of it                                             | none                       |
 * | `keepAll`              | all of it (a process crash: the kernel wrote it back)  | all                        |
 *
 * "Size from history" means the file ends with any size it had since its last sync: when the size
 * reached the disk but the data did not, the gap reads as zeros (an ext4 unwritten extent), which
 * is where a journal's zero tail comes from.
 *
 * @since 0.1.0
 */
import type { CrashMode } from "../../SimulatedDisk.ts"
import type { Prng } from "../prng.ts"
import { type Inode, keepEverything, type PendingOp, type Survival } from "./inode.ts"

/** Relative weights of the modes a crash picks when the caller names none. */
const MODE_WEIGHTS: ReadonlyArray<readonly [CrashMode, number]> = [
  ["dropUnsynced", 2],
  ["keepSubset", 3],
  ["tornWrite", 3],
  ["loseDirectoryEntries", 1],
  ["keepAll", 1],
]
const MODE_WEIGHT_TOTAL = MODE_WEIGHTS.reduce((sum, [, weight]) => sum + weight, 0)

export const pickMode = (rng: Prng): CrashMode => {
  let draw = rng.int(MODE_WEIGHT_TOTAL)
  for (const [mode, weight] of MODE_WEIGHTS) {
    if (draw < weight) return mode
    draw -= weight
  }
  throw new Error("unreachable: crash mode weights")
}

/** Whether an unsynced directory change (a new name, a removed name) reaches the disk. */
export const keepsDirectoryChange = (mode: CrashMode, rng: Prng): boolean => {
  switch (mode) {
    case "dropUnsynced":
    case "loseDirectoryEntries":
      return false
    case "keepAll":
      return true
    case "keepSubset":
    case "tornWrite":
      return rng.chance(0.5)
  }
}

/**
 * How much of one file's pending operations survives, for a mode. `sectorsPerPhysical` is the
 * number of logical sectors in one physical sector (1 when they are the same size).
 */
export const survivalFor = (mode: CrashMode, inode: Inode, rng: Prng, sectorsPerPhysical = 1): Survival => {
  const ops = inode.pending
  const sizes = inode.sizeHistory()
  const finalSize = sizes[sizes.length - 1] as number
  switch (mode) {
    case "dropUnsynced":
      return { keepSector: () => false, keepTruncate: () => false, sizeBytes: inode.durable.size }
    case "keepAll":
    case "loseDirectoryEntries":
      return keepEverything(finalSize)
    case "keepSubset":
      return randomSubset(rng, ops, sizes)
    case "tornWrite":
      return tornAt(rng, ops, sizes, sectorsPerPhysical)
  }
}

/** Each sector version and truncate survives with one probability drawn for this file. */
export const randomSubset = (rng: Prng, _ops: ReadonlyArray<PendingOp>, sizes: ReadonlyArray<number>): Survival => {
  const probability = rng.float()
  const sizeBytes = rng.pick(sizes)
  return {
    keepSector: () => rng.chance(probability),
    keepTruncate: () => rng.chance(probability),
    sizeBytes,
  }
}

/**
 * Writeback went in order and stopped inside one operation: everything before it survived, that
 * one persisted a prefix of its sectors, nothing after it did.
 *
 * With physical sectors larger than logical ones, the cut is at a physical boundary: a physical
 * sector write is atomic (old or new, the assumption docs/CRASH-SAFETY.md states). Buffered
 * writeback sends whole pages, so it always covers its physical sectors. A Direct write that
 * covers a physical sector only in part makes the device read-modify-write it; a power cut
 * during that leaves it old, new, or unreadable as a whole — the logical sectors the host never
 * rewrote included (they become latent read errors).
 */
const tornAt = (
  rng: Prng,
  ops: ReadonlyArray<PendingOp>,
  sizes: ReadonlyArray<number>,
  sectorsPerPhysical: number,
): Survival => {
  if (ops.length === 0) return keepEverything(sizes[0] as number)
  const tornIndex = rng.int(ops.length)
  const torn = ops[tornIndex] as PendingOp
  let cutSector = torn._tag === "Write" ? rng.int(torn.sectorCount + 1) : 0
  const badSectors: Array<number> = []
  if (torn._tag === "Write" && sectorsPerPhysical > 1 && cutSector < torn.sectorCount) {
    const cutAt = torn.firstSector + cutSector
    const physicalStart = cutAt - (cutAt % sectorsPerPhysical)
    const physicalEnd = physicalStart + sectorsPerPhysical
    const coveredStart = Math.max(physicalStart, torn.firstSector)
    const coveredEnd = Math.min(physicalEnd, torn.firstSector + torn.sectorCount)
    const whole = !torn.direct || (coveredStart === physicalStart && coveredEnd === physicalEnd)
    const outcome = rng.int(whole ? 2 : 3)
    cutSector = (outcome === 1 ? coveredEnd : coveredStart) - torn.firstSector
    if (outcome === 2) for (let sector = physicalStart; sector < physicalEnd; sector++) badSectors.push(sector)
  }
  const keepTornTruncate = rng.chance(0.5)
  // sizes[i] is the size before op i; any size from there to the end may have reached the disk.
  const sizeBytes = sizes[rng.range(tornIndex, sizes.length - 1)] as number
  return {
    keepSector: (op, indexInOp) => op.seq < torn.seq || (op.seq === torn.seq && indexInOp < cutSector),
    keepTruncate: (op) => op.seq < torn.seq || (op.seq === torn.seq && keepTornTruncate),
    sizeBytes,
    badSectors,
  }
}
