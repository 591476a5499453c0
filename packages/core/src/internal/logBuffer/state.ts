/**
 * The dual log buffer's state and its synchronous transitions: where the slots are, what is
 * written, who holds the reservation. Every placement path (`core.ts` for one record and flushes,
 * `batch.ts` for batches and the slow path, `oversize.ts` for records bigger than a slot) works on
 * one `SlotState` through the methods below, so each invariant is checked in one place.
 *
 * Why plain state and not a TxRef or a Semaphore: JavaScript runs one fiber at a time, so a
 * transition written as one synchronous step (no `yield` inside) is already atomic; waiting is the
 * only thing that needs Effect. Measured by `scripts/logbuffer-state-bench.ts`: plain ≈ 200 ns,
 * Semaphore.withPermit ≈ 1.6×, TxRef + Effect.tx ≈ 11×.
 *
 * Invariants (checked where the state changes):
 * - `baseLsn` (the file offset of active slot byte 0) is a multiple of `sectorBytes`; so is the
 *   file offset of every write, and every write's length.
 * - `nextLsn = baseLsn + activeBytes`: LSNs are contiguous, the file never gets a gap (fsys bug
 *   FS-J2).
 * - Bytes `[0, writtenBytes)` of the active slot are already part of a queued or completed write
 *   (the carried sector); `activeBytes > writtenBytes` means the active slot holds unwritten
 *   records. `writtenBytes <= activeBytes <= capacityBytes`.
 * - `busy[i]`: the kernel may be reading slot `i`; nobody writes into it until the writer clears
 *   the flag after the write completed. `busy[active]` only right after a seal that found the
 *   other slot still in flight (two writes in flight, see `writer.ts`): the active slot then holds
 *   nothing but the carried sector, which waits in `parkedCarry` until the slot is idle, and
 *   `appendLimitBytes` is 0 so no append encodes into it (`activeBytes === writtenBytes`).
 *   Otherwise `appendLimitBytes === capacityBytes`. So at most two slot writes are in flight.
 * - A record's LSN range is claimed in the same synchronous step that copies its bytes into the
 *   buffer (fsys bug FS-J1); an oversize record is copied first, under the reservation, and
 *   claimed after. So a sealed write covers complete records only and the durable frontier never
 *   covers bytes still in an appender's hands (fsys bug FS-J3).
 * - CRCs are filled in batches (`internal/frame/batchCrc.ts`): frames in `[crcFilledBytes,
 *   activeBytes)` have their header and payload but not yet their CRC. Every step that hands
 *   bytes to a write or copies them (`seal`, the oversize rotation) calls `fillCrcs` first, and
 *   the unfilled run never exceeds `FILL_AHEAD_MAX_BYTES` plus one turn's placement.
 *   `writtenBytes <= crcFilledBytes <= activeBytes`.
 * - `flushedLsn` only grows, and only over bytes whose write completed.
 *
 * @since 0.1.0
 */
import { Deferred, Effect, Exit } from "effect"
import type { IoError } from "@fsys/native"
import type { FileIoService, Handle } from "../../FileIo.ts"
import * as Frame from "../../Frame.ts"
import * as BatchCrc from "../frame/batchCrc.ts"
import type { JournalClosed } from "../../JournalError.ts"
import type { Preallocator } from "./preallocator.ts"
import { assert, roundDown, roundUp } from "./sectors.ts"
import type { Job, JobDone, JobFailure, Writer } from "./writer.ts"

/** Bounds every retry loop; only a broken state machine gets near it. */
export const TURNS_MAX = 1_000_000

/** A SharedArrayBuffer is never detached; an ArrayBuffer says so (ES2024). */
export const isDetached = (payload: Uint8Array): boolean =>
  (payload.buffer as { readonly detached?: boolean }).detached === true

/** Open → Closing (shutdown) or Poisoned (the first failed write or fdatasync). Both are final. */
export type Lifecycle =
  | { readonly _tag: "Open" }
  | { readonly _tag: "Closing"; readonly error: JournalClosed }
  | { readonly _tag: "Poisoned"; readonly error: IoError.IoError }

export interface SlotStateConfig {
  readonly fileIo: FileIoService
  readonly handle: Handle
  readonly slots: readonly [Uint8Array, Uint8Array]
  readonly capacityBytes: number
  readonly sectorBytes: number
  readonly startLsn: number
  /** Bytes `[roundDown(startLsn), startLsn)` as they are on disk. */
  readonly carry: Uint8Array
  readonly preallocator: Preallocator
}

export class SlotState {
  readonly capacityBytes: number
  readonly sectorBytes: number
  readonly fileIo: FileIoService
  readonly handle: Handle
  readonly slots: readonly [Uint8Array, Uint8Array]
  readonly preallocator: Preallocator
  /** Set once, right after construction (the writer's callbacks close over the owner). */
  writer!: Writer

  lifecycle: Lifecycle = { _tag: "Open" }
  /** Index of the slot appends encode into. */
  active = 0
  /** File offset of active slot byte 0 (sector-aligned). */
  baseLsn: number
  /** Bytes in the active slot, the carried sector included. */
  activeBytes: number
  /** Bytes at the start of the active slot already in a queued or completed write. */
  writtenBytes: number
  /** Bytes at the start of the active slot whose frames have their CRC (see the module doc). */
  crcFilledBytes: number
  readonly busy: [boolean, boolean] = [false, false]
  /** Appends fit below this: `capacityBytes`, or 0 while the active slot is still being written. */
  appendLimitBytes: number
  /** The carried sector of a seal whose destination slot was still in flight (whole sectors of room). */
  private readonly parkedCarry: Uint8Array
  /** An oversize scratch write is queued or in flight; at most one (bounds memory and the queue). */
  scratchBusy = false
  /** Through here records have reached the file (page cache or device). */
  flushedLsn: number
  /**
   * Through here every byte is known durable: moved only by a settled successful sync (a synced
   * slot write or a bare fdatasync), so ≤ `flushedLsn`. -1 at open: open's own fdatasync covered
   * what recovery found, but the buffer relies on no sync it did not see, so its first round
   * always fdatasyncs (one per open).
   * A sync round may be one RWF_DSYNC write (`core.ts`, `syncMethod: "dsync"`) only when this
   * reaches the round's first new byte: such a write makes its own bytes durable, nothing before.
   */
  durableLsn = -1
  /** Held by a call whose placement spans turns; see `core.ts`. */
  reservation: Deferred.Deferred<void> | undefined = undefined
  /** One shared signal per "a slot became idle" event: not one waiter object per appender. */
  private idleSignal: Deferred.Deferred<void> | undefined = undefined

  constructor(config: SlotStateConfig) {
    const { capacityBytes, sectorBytes, startLsn, carry } = config
    assert(capacityBytes % sectorBytes === 0, "capacity is a whole number of sectors")
    assert(capacityBytes >= 2 * sectorBytes, "a slot holds at least two sectors")
    assert(
      config.slots[0].byteLength === capacityBytes && config.slots[1].byteLength === capacityBytes,
      "slots are capacity-sized",
    )
    assert(Number.isSafeInteger(startLsn) && startLsn >= 0, "start LSN is a safe integer")
    assert(carry.byteLength === startLsn - roundDown(startLsn, sectorBytes), "carry is the partial last sector")
    this.capacityBytes = capacityBytes
    this.sectorBytes = sectorBytes
    this.fileIo = config.fileIo
    this.handle = config.handle
    this.slots = config.slots
    this.preallocator = config.preallocator
    this.baseLsn = startLsn - carry.byteLength
    this.slots[0].set(carry, 0)
    this.activeBytes = carry.byteLength
    this.writtenBytes = carry.byteLength
    this.crcFilledBytes = carry.byteLength
    this.flushedLsn = startLsn
    this.appendLimitBytes = capacityBytes
    this.parkedCarry = new Uint8Array(sectorBytes)
  }

  get nextLsn(): number {
    return this.baseLsn + this.activeBytes
  }

  /** Why calls are refused (poisoned or closing), or `undefined` while the buffer is open. */
  get refusal(): JobFailure | undefined {
    return this.lifecycle._tag === "Open" ? undefined : this.lifecycle.error
  }

  /** True when the largest frame this buffer can place in a slot is smaller than `frameBytes`. */
  isOversize(frameBytes: number): boolean {
    return frameBytes > this.capacityBytes - this.sectorBytes
  }

  /** Encodes into the active slot if the frame fits there (its CRC comes later); returns its end LSN. */
  place(payload: Uint8Array): number | undefined {
    if (this.activeBytes + payload.byteLength + Frame.OVERHEAD_BYTES > this.appendLimitBytes) return undefined
    this.activeBytes += BatchCrc.encodeWithoutCrc(this.slots[this.active]!, this.activeBytes, payload)
    this.boundUnfilled()
    return this.baseLsn + this.activeBytes
  }

  /** Fills the CRCs of every frame placed since the last fill (before any write or copy reads them). */
  fillCrcs(): void {
    if (this.crcFilledBytes === this.activeBytes) return
    BatchCrc.fillCrcs(this.slots[this.active]!, this.crcFilledBytes, this.activeBytes)
    this.crcFilledBytes = this.activeBytes
  }

  /** Keeps the unfilled run bounded, so a seal never computes more than a bounded run's CRCs. */
  boundUnfilled(): void {
    if (this.activeBytes - this.crcFilledBytes >= BatchCrc.FILL_AHEAD_MAX_BYTES) this.fillCrcs()
  }

  /**
   * Seals the active slot: pads, carries the partial sector into the other slot, makes that slot
   * active and queues the write. Synchronous: one state transition. When the other slot is still
   * being written (the group commit's second round in flight), the carry is parked and the new
   * active slot takes no append until `slotIdle` restores it.
   */
  seal(datasync: boolean, onDone: JobDone | undefined): void {
    const sector = this.sectorBytes
    const from = this.active
    const to = 1 - from
    assert(!this.busy[from], "the sealed slot is the writable active one")
    assert(this.activeBytes > this.writtenBytes, "seal has records to write")
    this.fillCrcs()
    const slot = this.slots[from]!
    const lengthBytes = this.activeBytes
    const paddedBytes = roundUp(lengthBytes, sector)
    slot.fill(0, lengthBytes, paddedBytes)
    const carryStart = roundDown(lengthBytes, sector)
    const carry = slot.subarray(carryStart, lengthBytes)
    if (this.busy[to]) {
      this.parkedCarry.set(carry, 0)
      this.appendLimitBytes = 0
    } else {
      this.slots[to]!.set(carry, 0)
    }
    this.busy[from] = true
    this.pushJob({
      kind: "slot",
      slot: from,
      bytes: slot.subarray(0, paddedBytes),
      fileOffsetBytes: this.baseLsn,
      dataStartLsn: this.baseLsn + this.writtenBytes,
      endLsn: this.baseLsn + lengthBytes,
      datasync,
      onDone,
    })
    this.active = to
    this.baseLsn += carryStart
    this.activeBytes = lengthBytes - carryStart
    this.writtenBytes = this.activeBytes
    this.crcFilledBytes = this.activeBytes
    if (datasync) {
      const preallocation = this.preallocator.next(this.nextLsn)
      if (preallocation !== undefined) this.pushJob(preallocation)
    }
  }

  /** The writer settled slot `slot`'s write: it is idle; an active slot waiting for it takes its carry. */
  slotIdle(slot: number): void {
    assert(this.busy[slot], "only a busy slot becomes idle")
    this.busy[slot] = false
    if (slot === this.active && this.appendLimitBytes === 0) {
      assert(this.activeBytes === this.writtenBytes, "a parked active slot holds only its carry")
      this.slots[slot]!.set(this.parkedCarry.subarray(0, this.activeBytes), 0)
      this.appendLimitBytes = this.capacityBytes
    }
  }

  pushJob(job: Job): void {
    if (job.kind === "slot" || job.kind === "scratch") {
      assert(
        job.fileOffsetBytes % this.sectorBytes === 0 && job.bytes.byteLength % this.sectorBytes === 0,
        "writes are sector-aligned",
      )
    }
    this.writer.push(job)
  }

  reserve(): Deferred.Deferred<void> {
    assert(this.reservation === undefined, "one reservation at a time")
    const reservation = Deferred.makeUnsafe<void>()
    this.reservation = reservation
    return reservation
  }

  release(reservation: Deferred.Deferred<void>): Effect.Effect<void> {
    return Effect.sync(() => {
      assert(this.reservation === reservation, "the owner releases its reservation")
      this.reservation = undefined
      Deferred.doneUnsafe(reservation, Exit.void)
      // Flushes (and the group commit) waiting for the reservation retry on the idle signal.
      this.signalIdle()
    })
  }

  /** Completes when a slot next becomes idle, a reservation ends, or the buffer is shut down. */
  awaitIdle(): Effect.Effect<void> {
    if (this.idleSignal === undefined) this.idleSignal = Deferred.makeUnsafe<void>()
    return Deferred.await(this.idleSignal)
  }

  signalIdle(): void {
    const signal = this.idleSignal
    if (signal !== undefined) {
      this.idleSignal = undefined
      Deferred.doneUnsafe(signal, Exit.void)
    }
  }
}
