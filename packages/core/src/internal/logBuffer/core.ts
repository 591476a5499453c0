/**
 * The dual log buffer's state machine (fsys's design, with the corrected rotation of 1.1.1).
 *
 * Two slots of `capacityBytes`. Appends encode frames straight into the **active** slot. A slot is
 * **sealed** when it is full, when a sync needs its bytes on disk, or before an oversize record:
 * its records are zero-padded to the sector, the partial trailing sector is **carried** (copied) to
 * the start of the other slot, which becomes active, and the sealed slot is handed to the single
 * writer fiber. Appenders keep filling the new active slot while the sealed one is written; they
 * wait only when both slots are busy (the active one is full and the other is still in flight).
 *
 * A buffered journal runs the same machine with `sectorBytes = 1`: nothing is padded or carried,
 * and each write appends exactly the new bytes.
 *
 * Why plain state and not a TxRef or a Semaphore: JavaScript runs one fiber at a time, so a
 * transition written as one synchronous step (no `yield` inside) is already atomic; waiting is the
 * only thing that needs Effect, and appenders wait on one shared Deferred per "a slot became
 * idle" event. Measured by `scripts/logbuffer-state-bench.ts` (64 fibers, one reservation each
 * step): plain ≈ 200 ns, Semaphore.withPermit ≈ 1.6×, TxRef + Effect.tx ≈ 11× — the TxRef alone
 * would spend the whole per-record CPU budget.
 *
 * Invariants (checked where the state changes):
 * - `baseLsn` (the file offset of active slot byte 0) is a multiple of `sectorBytes`; so is the
 *   file offset of every write, and every write's length.
 * - `nextLsn = baseLsn + len`: LSNs are contiguous, the file never gets a gap (fsys bug FS-J2).
 * - Bytes `[0, writtenLen)` of the active slot are already part of a queued or completed write
 *   (the carried sector); `len > writtenLen` means the active slot holds unwritten records.
 * - `busy[i]` ⟹ `i !== active`: the kernel may be reading slot `i`; nobody writes into it until
 *   the writer clears the flag after the write completed. The active slot is never being written,
 *   so an appender never writes into memory the kernel is reading (a partial flush seals too).
 * - Every record is copied into the buffer synchronously, in the same turn that reserves its LSN
 *   range (oversize records included: fsys bug FS-J1). There is no window in which bytes are
 *   reserved but not yet in the buffer, so a sealed write always covers complete records and the
 *   durable frontier can never cover bytes still in an appender's hands (fsys bug FS-J3).
 * - Writes run one at a time, in LSN order, in the writer fiber (uninterruptible while in the
 *   kernel's hands). A sector that appears in two writes (padded, then completed) is therefore
 *   always left with the newer bytes, and `flushedThrough` only moves forward.
 * - The first failed write or fdatasync poisons the buffer: every queued job, waiter and later
 *   call fails with that error (fsys bugs FS-J4, FS-H2). Nothing is ever retried.
 *
 * @since 0.1.0
 */
import { Cause, Deferred, Effect, Exit, Option, Scope } from "effect"
import { type AlignedBuffer, IoError } from "@fsys/native"
import type { FileIoService, Handle } from "../../FileIo.ts"
import * as Frame from "../../Frame.ts"
import { assert, roundDown, roundUp } from "./sectors.ts"

/**
 * Jobs queued at most: one per slot, one oversize scratch write, one datasync and one
 * preallocation. Sealing requires the other slot to be idle, so the queue never grows past this.
 */
const JOBS_MAX = 5

/** Alignment of oversize scratch buffers: a page satisfies every DIO alignment we accept. */
const SCRATCH_ALIGNMENT_BYTES = 4096

export interface CoreConfig {
  readonly fileIo: FileIoService
  readonly handle: Handle
  readonly slots: readonly [AlignedBuffer, AlignedBuffer]
  readonly capacityBytes: number
  readonly sectorBytes: number
  /** Where appends resume: the clean end of the file. */
  readonly startLsn: number
  /** Bytes `[roundDown(startLsn), startLsn)` as they are on disk (read through a buffered handle). */
  readonly carry: Uint8Array
  /**
   * Keep this many bytes past the end of the log written with zeros (0 = off), so that a sync
   * overwrites written blocks instead of growing the file: fdatasync then commits no block
   * allocation or size change. Zeros past the last frame read as a clean end.
   */
  readonly preallocateBytes: number
  /** How far the file is already allocated (its size at open). */
  readonly fileSizeBytes: number
  /** A zero-filled aligned buffer (whole sectors) the preallocation writes from. */
  readonly zeros: Uint8Array | undefined
}

/** How a job reports: called by the writer once the job's bookkeeping is done (`undefined` = success). */
export type JobDone = (failure: IoError.IoError | undefined) => void

/**
 * What the writer runs, one at a time, in queue order. `endLsn` is the LSN through which records
 * are on the file once the job completed.
 */
type Job =
  /** A sealed slot: the kernel reads `slot` until the write completed. */
  | {
      readonly kind: "slot"
      readonly slot: number
      readonly bytes: Uint8Array
      readonly fileOffsetBytes: number
      readonly endLsn: number
      readonly datasync: boolean
      readonly onDone: JobDone | undefined
    }
  /** An oversize record from its own scratch buffer, freed (scope closed) after the write. */
  | {
      readonly kind: "scratch"
      readonly bytes: Uint8Array
      readonly fileOffsetBytes: number
      readonly endLsn: number
      readonly scratchScope: Scope.Closeable
      readonly onDone: JobDone | undefined
    }
  /** An fdatasync for bytes already written or queued ahead of it. */
  | { readonly kind: "datasync"; readonly endLsn: number; readonly onDone: JobDone | undefined }
  /** Zeros over `[fromBytes, toBytes)`, past the log; nobody waits for it. */
  | { readonly kind: "preallocate"; readonly fromBytes: number; readonly toBytes: number }

export class LogBufferCore {
  readonly capacityBytes: number
  readonly sectorBytes: number
  private readonly fileIo: FileIoService
  private readonly handle: Handle
  private readonly slots: readonly [Uint8Array, Uint8Array]

  private active = 0
  private baseLsn: number
  private len: number
  private writtenLen: number
  private readonly busy: [boolean, boolean] = [false, false]
  /** An oversize scratch write is queued or in flight; at most one at a time (bounds memory and the queue). */
  private scratchBusy = false
  /** Through here records have reached the file (page cache or device). */
  private flushedLsn: number
  private poison: IoError.IoError | undefined = undefined

  /** 0 once a preallocation failed: it is an optimisation, never worth an error. */
  private preallocateBytes: number
  private readonly zeros: Uint8Array | undefined
  /** The file is allocated (or holds records) up to here, counting queued preallocation jobs. */
  private allocatedEnd: number

  private readonly jobs: Array<Job> = []
  /** The parked writer's resume, set only while the queue is empty. */
  private writerWake: ((effect: Effect.Effect<void>) => void) | undefined = undefined
  /**
   * Held by an `appendBatch` that did not fit the active slot, until all its records are placed;
   * other appenders wait on it, so a batch's records are contiguous.
   */
  private batchGate: Deferred.Deferred<void> | undefined = undefined
  /** One shared signal per "a slot became idle" event: not one waiter object per appender. */
  private idleSignal: Deferred.Deferred<void> | undefined = undefined

  constructor(config: CoreConfig) {
    const { capacityBytes, sectorBytes, startLsn, carry } = config
    assert(capacityBytes % sectorBytes === 0, "capacity is a whole number of sectors")
    assert(capacityBytes >= 2 * sectorBytes, "a slot holds at least two sectors")
    assert(
      config.slots[0].byteLength >= capacityBytes && config.slots[1].byteLength >= capacityBytes,
      "slots are big enough",
    )
    assert(Number.isSafeInteger(startLsn) && startLsn >= 0, "start LSN is a safe integer")
    assert(carry.byteLength === startLsn - roundDown(startLsn, sectorBytes), "carry is the partial last sector")
    this.fileIo = config.fileIo
    this.handle = config.handle
    this.capacityBytes = capacityBytes
    this.sectorBytes = sectorBytes
    this.slots = [config.slots[0].bytes.subarray(0, capacityBytes), config.slots[1].bytes.subarray(0, capacityBytes)]
    this.baseLsn = startLsn - carry.byteLength
    this.slots[0].set(carry, 0)
    this.len = carry.byteLength
    this.writtenLen = carry.byteLength
    this.flushedLsn = startLsn
    this.preallocateBytes = config.zeros === undefined ? 0 : config.preallocateBytes
    this.zeros = config.zeros
    assert(this.zeros === undefined || this.zeros.byteLength % sectorBytes === 0, "zeros are whole sectors")
    this.allocatedEnd = Math.max(config.fileSizeBytes, startLsn)
  }

  get nextLsn(): number {
    return this.baseLsn + this.len
  }

  get flushedThrough(): number {
    return this.flushedLsn
  }

  get poisonedBy(): IoError.IoError | undefined {
    return this.poison
  }

  /** True when the largest frame this buffer can place in a slot is smaller than `frameBytes`. */
  isOversize(frameBytes: number): boolean {
    return frameBytes > this.capacityBytes - this.sectorBytes
  }

  /**
   * The hot path: encodes the frame into the active slot if it fits and returns its end LSN, or
   * returns -1 (does not fit, a batch owns the append order, or poisoned) so the caller takes
   * `append`'s slow path.
   */
  tryAppend(payload: Uint8Array): number {
    if (this.batchGate !== undefined) return -1
    return this.place(payload)
  }

  /** Encodes into the active slot if the frame fits there, ignoring the batch gate. */
  private place(payload: Uint8Array): number {
    const frameBytes = payload.byteLength + Frame.OVERHEAD
    if (this.poison !== undefined || this.len + frameBytes > this.capacityBytes) return -1
    this.len += Frame.encodeInto(this.slots[this.active]!, this.len, payload)
    return this.baseLsn + this.len
  }

  /**
   * Appends as many of `payloads[fromIndex..]` as fit in the active slot in one transition.
   * Returns the index of the first payload not appended.
   */
  private placeMany(payloads: ReadonlyArray<Uint8Array>, fromIndex: number): number {
    if (this.poison !== undefined) return fromIndex
    const slot = this.slots[this.active]!
    let index = fromIndex
    let len = this.len
    while (index < payloads.length) {
      const payload = payloads[index]!
      if (len + payload.byteLength + Frame.OVERHEAD > this.capacityBytes) break
      len += Frame.encodeInto(slot, len, payload)
      index++
    }
    this.len = len
    return index
  }

  /** Appends one record (caller checked `payload.byteLength <= Frame.MAX_PAYLOAD`). */
  append(payload: Uint8Array): Effect.Effect<number, IoError.IoError> {
    return Effect.suspend(() => {
      const end = this.tryAppend(payload)
      return end >= 0 ? Effect.succeed(end) : this.appendSlow(payload, false)
    })
  }

  /**
   * Appends records in order as one contiguous LSN range (fsys: one reservation); returns the end
   * LSN of the last. A batch that fits the active slot is one synchronous transition. A batch
   * that does not takes the **batch gate** in that same turn: until it is placed, every other
   * appender waits, so nothing lands between its records while it waits for a slot. Not atomic
   * on disk: a crash may keep a prefix of the batch.
   */
  appendBatch(payloads: ReadonlyArray<Uint8Array>): Effect.Effect<number, IoError.IoError> {
    return Effect.suspend(() => {
      if (this.batchGate !== undefined) {
        // Another batch owns the order: wait for it, then start over (nothing placed yet).
        return Effect.andThen(Deferred.await(this.batchGate), this.appendBatch(payloads))
      }
      const index = this.placeMany(payloads, 0)
      if (this.poison !== undefined) return Effect.fail(this.poison)
      if (index === payloads.length) return Effect.succeed(this.nextLsn)
      const gate = Deferred.makeUnsafe<void>()
      this.batchGate = gate
      return Effect.ensuring(
        this.placeRest(payloads, index),
        Effect.sync(() => {
          this.batchGate = undefined
          Deferred.doneUnsafe(gate, Exit.void)
        }),
      )
    })
  }

  /** The gate owner's slow path for `payloads[index..]`. */
  private placeRest(payloads: ReadonlyArray<Uint8Array>, fromIndex: number): Effect.Effect<number, IoError.IoError> {
    const self = this
    return Effect.gen(function* () {
      let index = fromIndex
      while (index < payloads.length) {
        yield* self.appendSlow(payloads[index]!, true)
        index = self.placeMany(payloads, index + 1)
      }
      if (self.poison !== undefined) return yield* Effect.fail(self.poison)
      return self.nextLsn
    })
  }

  /** `gateOwner`: the caller is the batch holding the gate, so it must not wait for it. */
  private appendSlow(payload: Uint8Array, gateOwner: boolean): Effect.Effect<number, IoError.IoError> {
    const self = this
    const frameBytes = payload.byteLength + Frame.OVERHEAD
    if (this.isOversize(frameBytes)) return this.appendOversize(payload, gateOwner)
    return Effect.gen(function* () {
      // Each turn either appends, seals (after which the frame fits: the carry is < 1 sector and
      // the frame is at most capacity - 1 sector), or waits for a write or a batch to complete.
      // The bound only catches a broken state machine.
      for (let turn = 0; turn < 1_000_000; turn++) {
        if (self.poison !== undefined) return yield* Effect.fail(self.poison)
        if (!gateOwner && self.batchGate !== undefined) {
          yield* Deferred.await(self.batchGate)
          continue
        }
        const end = self.place(payload)
        if (end >= 0) return end
        if (self.busy[1 - self.active]) {
          yield* self.awaitIdle()
          continue
        }
        self.seal(false, undefined)
      }
      return assertNever("append made no progress")
    })
  }

  /**
   * A frame bigger than a slot goes through its own aligned scratch buffer. The scratch is
   * allocated first (the only step that can wait); then, in one synchronous turn, the LSN range is
   * reserved, the active slot's carried sector and the frame are copied into the scratch, and the
   * frame's partial last sector is carried into the other slot. No other append can run between
   * the reservation and the copy (fsys bug FS-J1).
   */
  private appendOversize(payload: Uint8Array, gateOwner: boolean): Effect.Effect<number, IoError.IoError> {
    const self = this
    const frameBytes = payload.byteLength + Frame.OVERHEAD
    return Effect.uninterruptibleMask((restore) =>
      Effect.gen(function* () {
        const scratchScope = yield* Scope.make()
        const scratchBytes = roundUp(self.sectorBytes - 1 + frameBytes, self.sectorBytes)
        const allocated = yield* Effect.exit(
          restore(Scope.provide(self.fileIo.allocateAligned(scratchBytes, SCRATCH_ALIGNMENT_BYTES), scratchScope)),
        )
        if (Exit.isFailure(allocated)) {
          yield* Scope.close(scratchScope, Exit.void)
          return yield* Effect.failCause(allocated.cause)
        }
        const scratch = allocated.value.bytes
        for (let turn = 0; ; turn++) {
          assert(turn < 1_000_000, "oversize append made no progress")
          if (self.poison !== undefined) {
            yield* Scope.close(scratchScope, Exit.void)
            return yield* Effect.fail(self.poison)
          }
          const gate = gateOwner ? undefined : self.batchGate
          if (gate === undefined && !self.busy[1 - self.active] && !self.scratchBusy) break
          const waited = yield* Effect.exit(restore(gate !== undefined ? Deferred.await(gate) : self.awaitIdle()))
          if (Exit.isFailure(waited)) {
            yield* Scope.close(scratchScope, Exit.void)
            return yield* Effect.failCause(waited.cause)
          }
        }
        return self.placeOversize(payload, scratch, scratchScope)
      }),
    )
  }

  /** The synchronous half of an oversize append; see `appendOversize`. */
  private placeOversize(payload: Uint8Array, scratch: Uint8Array, scratchScope: Scope.Closeable): number {
    const sector = this.sectorBytes
    const from = this.active
    const to = 1 - from
    assert(!this.busy[to] && !this.scratchBusy, "the slot that becomes active is idle; no other scratch write")
    this.scratchBusy = true
    const slot = this.slots[from]!
    const length = this.len
    const carryStart = roundDown(length, sector)
    // Full sectors with records not yet handed to a write go out from the slot itself.
    if (carryStart > 0 && length > this.writtenLen) {
      this.busy[from] = true
      this.pushJob({
        kind: "slot",
        slot: from,
        bytes: slot.subarray(0, carryStart),
        fileOffsetBytes: this.baseLsn,
        endLsn: this.baseLsn + carryStart,
        datasync: false,
        onDone: undefined,
      })
    }
    const scratchLsn = this.baseLsn + carryStart
    const carryBytes = length - carryStart
    scratch.set(slot.subarray(carryStart, length), 0)
    const total = carryBytes + Frame.encodeInto(scratch, carryBytes, payload)
    const paddedBytes = roundUp(total, sector)
    scratch.fill(0, total, paddedBytes)
    const endLsn = scratchLsn + total
    const newBase = roundDown(endLsn, sector)
    this.slots[to]!.set(scratch.subarray(newBase - scratchLsn, total), 0)
    this.pushJob({
      kind: "scratch",
      bytes: scratch.subarray(0, paddedBytes),
      fileOffsetBytes: scratchLsn,
      endLsn,
      scratchScope,
      onDone: undefined,
    })
    this.active = to
    this.baseLsn = newBase
    this.len = endLsn - newBase
    this.writtenLen = this.len
    return endLsn
  }

  /**
   * Makes every appended record reach the file (and, with `datasync`, stable storage); returns
   * the LSN covered. Seals the active slot if it holds unwritten records.
   */
  flush(datasync: boolean): Effect.Effect<number, IoError.IoError> {
    const self = this
    return Effect.gen(function* () {
      for (let turn = 0; turn < 1_000_000; turn++) {
        if (self.poison !== undefined) return yield* Effect.fail(self.poison)
        const target = self.nextLsn
        if (datasync || self.len > self.writtenLen) {
          const done = Deferred.makeUnsafe<void, IoError.IoError>()
          const started = self.startFlush(datasync, (failure) =>
            Deferred.doneUnsafe(done, failure === undefined ? Exit.void : Exit.fail(failure)),
          )
          if (started === undefined) {
            yield* self.awaitIdle()
            continue
          }
          yield* Deferred.await(done)
          return started
        }
        // Every appended byte is already in a queued or completed write: wait for them.
        if (self.flushedLsn >= target) return self.flushedLsn
        yield* self.awaitIdle()
      }
      return assertNever("flush made no progress")
    })
  }

  /**
   * Starts a flush now if it needs no wait, and returns the LSN it covers (every record appended
   * so far); `onDone` runs from the writer once the write (and, with `datasync`, the fdatasync
   * after it) completed, after all its bookkeeping. Returns `undefined`, starting nothing, when
   * the active slot must be sealed but the other slot is still being written. The caller checked
   * `poisonedBy`. Synchronous: the group commit starts a round from inside a completion with it.
   */
  startFlush(datasync: boolean, onDone: JobDone): number | undefined {
    assert(this.poison === undefined, "flush of a poisoned buffer")
    const target = this.nextLsn
    if (this.len > this.writtenLen) {
      if (this.busy[1 - this.active]) return undefined
      this.seal(datasync, onDone)
    } else {
      // Every record is in a queued or completed write: an fdatasync behind them covers them.
      assert(datasync, "a flush without datasync has records to write")
      this.pushJob({ kind: "datasync", endLsn: target, onDone })
    }
    return target
  }

  /**
   * Refuses every later append, seal and flush (as a poison with EBADF) and wakes every waiter,
   * so that nothing writes into the slots once their Scope starts releasing them. Idempotent.
   */
  shutdown(): void {
    if (this.poison === undefined) {
      this.poison = IoError.fromErrno("EBADF", "append", this.handle.path, "the log buffer is closed")
    }
    this.signalIdle()
  }

  /** Waits until no write is queued or in flight (used before the slots are freed). */
  readonly drain: Effect.Effect<void> = Effect.suspend(() => {
    const self = this
    return Effect.gen(function* () {
      // Every completed job signals idle; the queue only empties once the last one completed.
      for (let turn = 0; self.jobs.length > 0; turn++) {
        assert(turn < 1_000_000, "drain made no progress")
        yield* self.awaitIdle()
      }
    })
  })

  /**
   * Seals the active slot: pads, carries the partial sector into the other (idle) slot, makes
   * that slot active and queues the write. Synchronous: one state transition.
   */
  private seal(datasync: boolean, onDone: JobDone | undefined): void {
    const sector = this.sectorBytes
    const from = this.active
    const to = 1 - from
    assert(!this.busy[to], "seal needs the other slot idle")
    assert(this.len > this.writtenLen, "seal has records to write")
    const slot = this.slots[from]!
    const length = this.len
    const paddedBytes = roundUp(length, sector)
    slot.fill(0, length, paddedBytes)
    const carryStart = roundDown(length, sector)
    this.slots[to]!.set(slot.subarray(carryStart, length), 0)
    this.busy[from] = true
    this.pushJob({
      kind: "slot",
      slot: from,
      bytes: slot.subarray(0, paddedBytes),
      fileOffsetBytes: this.baseLsn,
      endLsn: this.baseLsn + length,
      datasync,
      onDone,
    })
    this.active = to
    this.baseLsn += carryStart
    this.len = length - carryStart
    this.writtenLen = this.len
    // Only syncs pay for a growing file (fdatasync commits the allocation and size); a bulk
    // loader that syncs once would only write every byte twice. So allocate ahead for syncs only.
    if (datasync) this.maybePreallocate()
  }

  /**
   * Queues zeros over the next `preallocateBytes` once the log comes within two slots of the
   * allocated end. They never touch a byte that holds a record (see below).
   */
  private maybePreallocate(): void {
    if (this.preallocateBytes === 0 || this.nextLsn + 2 * this.capacityBytes < this.allocatedEnd) return
    // Records below nextLsn are in queued jobs (before this one); records at or past it are
    // written by later jobs, after the zeros. The carried sector below roundUp(nextLsn) is not touched.
    const from = roundUp(Math.max(this.allocatedEnd, this.nextLsn), this.sectorBytes)
    const to = from + this.preallocateBytes
    this.allocatedEnd = to
    this.pushJob({ kind: "preallocate", fromBytes: from, toBytes: to })
  }

  private pushJob(job: Job): void {
    assert(this.jobs.length < JOBS_MAX, "job queue bound")
    if (job.kind === "slot" || job.kind === "scratch") {
      assert(
        job.fileOffsetBytes % this.sectorBytes === 0 && job.bytes.byteLength % this.sectorBytes === 0,
        "writes are sector-aligned",
      )
    }
    this.jobs.push(job)
    const wake = this.writerWake
    if (wake !== undefined) {
      this.writerWake = undefined
      wake(Effect.void)
    }
  }

  /** Completes when a slot next becomes idle (a write completed) or the buffer is shut down. */
  readonly whenIdle: Effect.Effect<void> = Effect.suspend(() => this.awaitIdle())

  private awaitIdle(): Effect.Effect<void> {
    if (this.idleSignal === undefined) this.idleSignal = Deferred.makeUnsafe<void>()
    return Deferred.await(this.idleSignal)
  }

  private signalIdle(): void {
    const signal = this.idleSignal
    if (signal !== undefined) {
      this.idleSignal = undefined
      Deferred.doneUnsafe(signal, Exit.void)
    }
  }

  private perform(job: Job): Effect.Effect<void, IoError.IoError> {
    switch (job.kind) {
      case "datasync":
        return this.fileIo.datasync(this.handle)
      case "preallocate":
        return this.preallocate(job.fromBytes, job.toBytes)
      case "scratch":
        return this.fileIo.writeAt(this.handle, job.bytes, job.fileOffsetBytes)
      case "slot":
        return job.datasync
          ? this.fileIo.writeAtThenDatasync(this.handle, job.bytes, job.fileOffsetBytes)
          : this.fileIo.writeAt(this.handle, job.bytes, job.fileOffsetBytes)
    }
  }

  /**
   * Writes zeros over `[from, to)` (sector-aligned, from the zero buffer). Written blocks, unlike
   * fallocated (unwritten) extents or a growing file, give a later fdatasync no metadata to
   * commit (no size change, no allocation, no extent conversion). A failure
   * touches no record (the range is past the log), so it only turns preallocation off.
   */
  private preallocate(from: number, to: number): Effect.Effect<void> {
    const zeros = this.zeros
    if (zeros === undefined) return Effect.void
    const self = this
    return Effect.gen(function* () {
      for (let offset = from; offset < to; offset += zeros.byteLength) {
        yield* self.fileIo.writeAt(self.handle, zeros.subarray(0, Math.min(zeros.byteLength, to - offset)), offset)
      }
    }).pipe(
      Effect.catch(() =>
        Effect.sync(() => {
          self.preallocateBytes = 0
        }),
      ),
    )
  }

  /**
   * The writer: runs queued jobs one at a time, in order. Interruptible only while the queue is
   * empty; a job, once started, runs to completion even when the Scope closes, because the kernel
   * reads the slot (or scratch) until the write's completion. One loop, no `Effect.forever`: a
   * job that follows another (the next group-commit round, queued from the previous one's
   * completion) starts in the same turn.
   */
  readonly writer: Effect.Effect<never> = Effect.uninterruptibleMask((restore) => {
    const self = this
    const park = restore(
      Effect.callback<void>((resume) => {
        self.writerWake = resume
      }),
    )
    return Effect.gen(function* () {
      while (true) {
        const job = self.jobs[0]
        if (job === undefined) {
          yield* park
          continue
        }
        const exit = self.poison === undefined ? yield* Effect.exit(self.perform(job)) : Exit.fail(self.poison)
        self.jobs.shift()
        const failure = self.settle(job, exit)
        if (job.kind === "scratch") yield* Scope.close(job.scratchScope, Exit.void)
        // All bookkeeping before anyone is told: completions resume waiters synchronously, and
        // they may append, seal, start the next round or close the buffer.
        self.signalIdle()
        if (job.kind !== "preallocate") job.onDone?.(failure)
      }
    })
  })

  /** The writer's bookkeeping for a finished job; returns the poison if the buffer is poisoned. */
  private settle(job: Job, exit: Exit.Exit<void, IoError.IoError>): IoError.IoError | undefined {
    if (Exit.isSuccess(exit)) {
      if (job.kind !== "preallocate") {
        assert(job.endLsn >= this.flushedLsn, "flushed frontier only moves forward")
        this.flushedLsn = job.endLsn
      }
    } else if (this.poison === undefined) {
      this.poison = failureOf(exit, this.handle.path)
    }
    if (job.kind === "slot") this.busy[job.slot] = false
    if (job.kind === "scratch") this.scratchBusy = false
    return Exit.isSuccess(exit) ? undefined : this.poison
  }
}

/** The IoError a failed job carries; a defect in a layer is reported as an `Unknown` IoError. */
const failureOf = (exit: Exit.Exit<void, IoError.IoError>, path: string): IoError.IoError => {
  if (Exit.isFailure(exit)) {
    const error = Cause.findErrorOption(exit.cause)
    if (Option.isSome(error)) return error.value
    return new IoError.IoError({
      reason: "Unknown",
      syscall: "write",
      code: "EUNKNOWN",
      path,
      cause: Cause.squash(exit.cause),
    })
  }
  return assertNever("a successful job has no failure")
}

const assertNever = (message: string): never => {
  throw new Error(`fsys invariant violated: ${message}`)
}
