/**
 * One simulated file's bytes: what the running system sees, what would survive a power cut, and
 * the writes in between.
 *
 * The model is a disk behind a volatile write cache (the page cache plus the drive's cache):
 *
 * - `visible` is the page-cache view every `readAt` and `size` sees. It changes immediately.
 * - `durable` is what stable media holds. It changes only through `persistThrough` (datasync).
 * - `pending` is the ordered list of operations done since then, each remembered as **sector
 *   versions**: a write records, for every sector it touched, the whole sector as the page cache
 *   held it right after the write. A power cut may persist any version of a sector (an older one
 *   if writeback happened before a later write, never a mix of two inside one sector: a sector
 *   write is atomic on real drives), and any file size the file had since the last sync.
 *
 * Invariants (checked by `assertInvariants`, called by the disk after every mutation in debug
 * runs and by the tests):
 * - `durable.size` is the file size after the last persisted operation; `visible.size` the size
 *   after the last operation.
 * - Applying every pending operation in order to `durable` gives exactly `visible` (unless a failed
 *   datasync dropped some: then `lostWriteback` is set and the equality no longer holds, as on
 *   Linux where the page cache keeps bytes that will never reach the disk).
 * - Pending sequence numbers strictly increase.
 *
 * @since 0.1.0
 */
import { applyOps, keepEverything, type Survival } from "./survival.ts"

export { applyOps, keepEverything, keepRandomly, type Survival } from "./survival.ts"

/** Smallest backing allocation; buffers double from here, so growth is amortised O(1). */
const INITIAL_CAPACITY_BYTES = 4096

/**
 * A growable byte array with a logical size. Bytes in [size, capacity) are zero whenever the
 * image is at rest (a crash replay may write past the size before it settles the final size).
 */
export class ByteImage {
  bytes: Uint8Array
  size: number

  constructor(initial?: Uint8Array) {
    this.bytes = new Uint8Array(Math.max(INITIAL_CAPACITY_BYTES, initial?.length ?? 0))
    this.size = 0
    if (initial !== undefined) {
      this.bytes.set(initial)
      this.size = initial.length
    }
  }

  ensureCapacity(capacityBytes: number): void {
    if (capacityBytes <= this.bytes.length) return
    let next = this.bytes.length
    while (next < capacityBytes) next *= 2
    const grown = new Uint8Array(next)
    // Copy the whole old buffer, not just [0, size): a crash replay writes sector versions past
    // the current size before it settles the final size.
    grown.set(this.bytes)
    this.bytes = grown
  }

  write(offsetBytes: number, data: Uint8Array): void {
    this.ensureCapacity(offsetBytes + data.length)
    this.bytes.set(data, offsetBytes)
    if (offsetBytes + data.length > this.size) this.size = offsetBytes + data.length
  }

  /** Sets the size; shrinking zeroes the cut bytes so a later extension reads zeros, like ftruncate. */
  resize(sizeBytes: number): void {
    if (sizeBytes < this.size) this.bytes.fill(0, sizeBytes, this.size)
    else this.ensureCapacity(sizeBytes)
    this.size = sizeBytes
  }

  /** Zeroes everything from `offsetBytes` on, without changing the size (a truncate that was lost
   * for the size but not for the data: the freed blocks read back as zeros). */
  zeroFrom(offsetBytes: number): void {
    if (offsetBytes < this.bytes.length) this.bytes.fill(0, offsetBytes)
  }

  copy(): ByteImage {
    const image = new ByteImage()
    image.bytes = this.bytes.slice()
    image.size = this.size
    return image
  }

  /** An exact-length copy of the file's bytes. */
  contents(): Uint8Array {
    return this.bytes.slice(0, this.size)
  }
}

/**
 * A write remembered as the sector versions it produced: sectors [firstSector, firstSector + n),
 * each `sectorBytes` long, as the page cache held them right after the write.
 */
export interface PendingWrite {
  readonly _tag: "Write"
  readonly seq: number
  readonly firstSector: number
  readonly sectorCount: number
  readonly sectors: Uint8Array
  /** File size right after this operation. */
  readonly sizeAfter: number
  /** Written through an O_DIRECT handle: the device sees exactly these sectors (no page cache). */
  readonly direct: boolean
}

/** A size change (ftruncate). */
export interface PendingTruncate {
  readonly _tag: "Truncate"
  readonly seq: number
  readonly sizeBytes: number
  readonly sizeAfter: number
}

export type PendingOp = PendingWrite | PendingTruncate

let nextInodeId = 1

export class Inode {
  readonly id: number = nextInodeId++
  readonly sectorBytes: number
  readonly visible: ByteImage
  readonly durable: ByteImage
  pending: Array<PendingOp> = []
  /** Bytes reserved by fallocate(KEEP_SIZE), for the disk's capacity accounting. */
  allocatedBytes = 0
  /**
   * `[from, to)` of every write to this inode from call to return. Two that overlap have no
   * defined order (the kernel, and a device, may apply them either way round): `dataIo.ts`
   * records it as a violation, whatever the bytes.
   */
  readonly writesInFlight: Array<readonly [number, number]> = []
  /** Set when a failed datasync discarded pending writes: visible ≠ durable + pending from then on. */
  lostWriteback = false
  /** Failed writebacks so far (Linux's `mapping->wb_err`); see `OpenFile.writebackErrorsSeen`. */
  writebackErrors = 0
  /** The handle id holding the exclusive lock, if any. */
  lockHolder: number | undefined = undefined
  /**
   * Sectors whose page-cache content never reached the device because a writeback failed: a
   * buffered read still returns the cached (visible) bytes, an O_DIRECT read returns what the
   * device holds (the durable bytes). Gone when the sector is written again or truncated away,
   * and at a reboot (the page cache is empty then).
   */
  readonly staleSectors = new Set<number>()
  /**
   * Sectors the media cannot read back (latent sector errors, or a physical sector torn by a
   * read-modify-write): every read touching one fails with EIO until the sector is written again
   * (drives remap a pending sector on write). They survive reboots.
   */
  readonly badSectors = new Set<number>()
  private nextSeq = 1
  /** The end of the furthest DSYNC write made durable (`persistWrite`); 0 without one. */
  private dsyncSizeFloor = 0

  constructor(sectorBytes: number, initial?: Uint8Array) {
    this.sectorBytes = sectorBytes
    this.visible = new ByteImage(initial)
    this.durable = new ByteImage(initial)
  }

  /** The sequence number the next operation will get; a datasync persists everything below it. */
  get seqNext(): number {
    return this.nextSeq
  }

  /** Bytes this file takes on the disk (for ENOSPC accounting). */
  get footprintBytes(): number {
    return Math.max(this.visible.size, this.allocatedBytes)
  }

  write(offsetBytes: number, data: Uint8Array, direct = false): void {
    if (data.length === 0) return
    this.visible.write(offsetBytes, data)
    const sectorBytes = this.sectorBytes
    const firstSector = Math.floor(offsetBytes / sectorBytes)
    const endSector = Math.ceil((offsetBytes + data.length) / sectorBytes)
    for (let sector = firstSector; sector < endSector; sector++) {
      this.staleSectors.delete(sector)
      this.badSectors.delete(sector)
    }
    this.visible.ensureCapacity(endSector * sectorBytes)
    // The snapshot is taken after the write: it is the sector as writeback would send it now.
    const sectors = this.visible.bytes.slice(firstSector * sectorBytes, endSector * sectorBytes)
    this.pending.push({
      _tag: "Write",
      seq: this.nextSeq++,
      firstSector,
      sectorCount: endSector - firstSector,
      sectors,
      sizeAfter: this.visible.size,
      direct,
    })
  }

  truncate(sizeBytes: number): void {
    this.visible.resize(sizeBytes)
    // The cut pages leave the page cache and their blocks are freed: nothing stale or bad remains
    // past the new end (the sector holding the end keeps its state).
    const keptSectors = Math.ceil(sizeBytes / this.sectorBytes)
    for (const sector of this.staleSectors) if (sector >= keptSectors) this.staleSectors.delete(sector)
    for (const sector of this.badSectors) if (sector >= keptSectors) this.badSectors.delete(sector)
    this.pending.push({ _tag: "Truncate", seq: this.nextSeq++, sizeBytes, sizeAfter: sizeBytes })
  }

  /** fdatasync succeeded: every operation with `seq < seqEnd` is on stable media, with its size. */
  persistThrough(seqEnd: number): void {
    let count = 0
    while (count < this.pending.length && (this.pending[count] as PendingOp).seq < seqEnd) count++
    if (count === 0) return
    const ops = this.pending.slice(0, count)
    // In place: the durable image belongs to this inode alone (crash images are copies).
    applyOps(this.durable, ops, keepEverything((ops[ops.length - 1] as PendingOp).sizeAfter), this.sectorBytes)
    this.pending = this.pending.slice(count)
  }

  /**
   * A write with RWF_DSYNC returned: that write alone (pending operation `seq`) is on stable
   * media, with a size that reads it back; earlier pending operations stay pending (O_DSYNC
   * writes back only the written range, and on a device with FUA flushes nothing else). Every
   * earlier pending version of its sectors becomes its version: the device now holds the newest,
   * and an older one can no longer surface in a crash. No crash leaves the file shorter than the
   * write's end (`sizeHistory`). An earlier pending size change is committed with it (metadata).
   */
  persistWrite(seq: number): void {
    const index = this.pending.findIndex((op) => op.seq === seq)
    const op = this.pending[index]
    if (op === undefined || op._tag !== "Write") throw new Error(`inode ${this.id}: no pending write ${seq}`)
    const sectorBytes = this.sectorBytes
    const endSector = op.firstSector + op.sectorCount
    const earlier = this.pending.slice(0, index)
    for (const other of earlier) {
      if (other._tag === "Truncate") {
        // The sync commits the inode's metadata, so an earlier size change (fallocate's
        // extension, recorded as a truncate) is durable too. A shrink is not modelled.
        if (other.sizeBytes < this.durable.size)
          throw new Error(`inode ${this.id}: a DSYNC write after a pending shrink`)
        this.durable.resize(other.sizeBytes)
        this.dsyncSizeFloor = Math.max(this.dsyncSizeFloor, other.sizeBytes)
        continue
      }
      const from = Math.max(other.firstSector, op.firstSector)
      const to = Math.min(other.firstSector + other.sectorCount, endSector)
      if (from >= to) continue
      other.sectors.set(
        op.sectors.subarray((from - op.firstSector) * sectorBytes, (to - op.firstSector) * sectorBytes),
        (from - other.firstSector) * sectorBytes,
      )
    }
    const endBytes = Math.min(endSector * sectorBytes, op.sizeAfter)
    this.durable.ensureCapacity(endSector * sectorBytes)
    this.durable.bytes.set(op.sectors, op.firstSector * sectorBytes)
    // Past the end stays zero at rest (the write's last sector may reach beyond it).
    this.durable.size = Math.max(this.durable.size, endBytes)
    this.durable.zeroFrom(this.durable.size)
    this.dsyncSizeFloor = Math.max(this.dsyncSizeFloor, endBytes)
    this.pending = this.pending.filter((other) => other.seq > seq || other._tag === "Write")
    this.pending.splice(this.pending.indexOf(op), 1)
  }

  /**
   * fdatasync failed: Linux marks the dirty pages clean anyway (they stay readable but will never
   * be written again), so whatever did not reach the disk is lost for good, and a retried
   * fdatasync reports success without writing them. `survival` says what did reach the disk.
   */
  failWritebackThrough(
    seqEnd: number,
    survival: (ops: ReadonlyArray<PendingOp>, durableSize: number) => Survival,
  ): void {
    let count = 0
    while (count < this.pending.length && (this.pending[count] as PendingOp).seq < seqEnd) count++
    if (count === 0) return
    const ops = this.pending.slice(0, count)
    applyOps(this.durable, ops, survival(ops, this.durable.size), this.sectorBytes)
    this.pending = this.pending.slice(count)
    this.lostWriteback = true
    this.markStale(ops)
  }

  /**
   * After a failed writeback of `dropped`: the sectors they touched whose cached bytes differ
   * from the device's are stale (Linux keeps such pages clean and readable, but the device never
   * got them). A sector a still-pending write covers is not: reading it O_DIRECT writes the dirty
   * page back first, so the device then holds the visible bytes.
   */
  private markStale(dropped: ReadonlyArray<PendingOp>): void {
    const stillPending = new Set<number>()
    for (const op of this.pending) {
      if (op._tag !== "Write") continue
      for (let index = 0; index < op.sectorCount; index++) stillPending.add(op.firstSector + index)
    }
    const sectorBytes = this.sectorBytes
    for (const op of dropped) {
      if (op._tag !== "Write") continue
      for (let index = 0; index < op.sectorCount; index++) {
        const sector = op.firstSector + index
        if (stillPending.has(sector) || this.staleSectors.has(sector)) continue
        const start = sector * sectorBytes
        if (start >= this.visible.size) continue
        const end = Math.min(start + sectorBytes, this.visible.size)
        for (let at = start; at < end; at++) {
          const device = at < this.durable.size ? (this.durable.bytes[at] as number) : 0
          if (device !== this.visible.bytes[at]) {
            this.staleSectors.add(sector)
            break
          }
        }
      }
    }
  }

  /**
   * What an O_DIRECT read of `[offsetBytes, offsetBytes + into.length)` returns: the visible bytes,
   * except stale sectors, which read as the device holds them. Returns the count (short at EOF).
   */
  readDevice(into: Uint8Array, offsetBytes: number): number {
    const file = this.visible
    const count = Math.max(0, Math.min(into.length, file.size - offsetBytes))
    into.set(file.bytes.subarray(offsetBytes, offsetBytes + count))
    if (this.staleSectors.size === 0) return count
    const sectorBytes = this.sectorBytes
    for (const sector of this.staleSectors) {
      const start = Math.max(sector * sectorBytes, offsetBytes)
      const end = Math.min((sector + 1) * sectorBytes, offsetBytes + count)
      for (let at = start; at < end; at++) {
        into[at - offsetBytes] = at < this.durable.size ? (this.durable.bytes[at] as number) : 0
      }
    }
    return count
  }

  /** The first bad sector touched by `[offsetBytes, offsetBytes + lengthBytes)`, if any. */
  badSectorIn(offsetBytes: number, lengthBytes: number): number | undefined {
    if (this.badSectors.size === 0 || lengthBytes <= 0) return undefined
    const first = Math.floor(offsetBytes / this.sectorBytes)
    const end = Math.ceil((offsetBytes + lengthBytes) / this.sectorBytes)
    let found: number | undefined
    for (const sector of this.badSectors) {
      if (sector >= first && sector < end && (found === undefined || sector < found)) found = sector
    }
    return found
  }

  /** The bytes stable media would hold after a power cut, given which pending parts survive. */
  crashImage(survival: Survival): Uint8Array {
    const image = this.durable.copy()
    applyOps(image, this.pending, survival, this.sectorBytes)
    return image.contents()
  }

  /**
   * Every file size stable media could show: the durable size, then the size after each operation
   * (never below what a DSYNC write made durable: `persistWrite`).
   */
  sizeHistory(): Array<number> {
    const sizes = [this.durable.size]
    for (const op of this.pending) sizes.push(Math.max(op.sizeAfter, this.dsyncSizeFloor))
    return sizes
  }

  assertInvariants(): void {
    let previous = 0
    for (const op of this.pending) {
      if (op.seq <= previous) throw new Error(`inode ${this.id}: pending seq not increasing`)
      previous = op.seq
    }
    if (this.lostWriteback) return
    const replay = this.durable.copy()
    applyOps(replay, this.pending, keepEverything(this.visible.size), this.sectorBytes)
    if (replay.size !== this.visible.size) {
      throw new Error(`inode ${this.id}: replayed size ${replay.size} != visible size ${this.visible.size}`)
    }
    for (let index = 0; index < replay.size; index++) {
      if (replay.bytes[index] !== this.visible.bytes[index]) {
        throw new Error(`inode ${this.id}: replay differs from the visible file at byte ${index}`)
      }
    }
  }
}
