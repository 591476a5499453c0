/**
 * The dual log buffer's state machine (fsys's design, with the corrected rotation of 1.1.1).
 *
 * Two slots of `capacityBytes`. Appends encode frames straight into the **active** slot. A slot is
 * **sealed** when it is full, when a sync needs its bytes on disk, or before an oversize record:
 * its records are zero-padded to the sector, the partial trailing sector is **carried** (copied) to
 * the start of the other slot, which becomes active, and the sealed slot is handed to the writer
 * (`writer.ts`). Appenders keep filling the new active slot while the sealed one is written; they
 * wait only when both slots are busy (the active one is full and the other is still in flight).
 *
 * A buffered journal runs the same machine with `sectorBytes = 1`: nothing is padded or carried,
 * and each write appends exactly the new bytes.
 *
 * Lifecycle: `Open` → `Closing` (shutdown: later calls fail with `JournalClosed`) or `Poisoned`
 * (the first failed write or fdatasync: every queued job, waiter and later call fails with that
 * IoError, and nothing is retried: fsys bugs FS-J4, FS-H2). Both are final.
 *
 * Placement, in one picture: `place` (one frame, synchronous) and `placeMany` (a turn's worth
 * of frames, synchronous) are the hot paths; `placeSlow` waits (for a slot or a reservation),
 * seals, or hands a frame bigger than a slot to `placeOversize`. A call that spans turns (a batch
 * that does not fit one turn, an oversize record being copied) holds the **reservation**:
 * other appenders and every flush wait for it, so its records are contiguous and no sync covers
 * part of it; it is taken and paired with its release in one uninterruptible step.
 *
 * Why plain state and not a TxRef or a Semaphore: JavaScript runs one fiber at a time, so a
 * transition written as one synchronous step (no `yield` inside) is already atomic; waiting is the
 * only thing that needs Effect. Measured by `scripts/logbuffer-state-bench.ts`: plain ≈ 200 ns,
 * Semaphore.withPermit ≈ 1.6×, TxRef + Effect.tx ≈ 11×.
 *
 * Invariants (checked where the state changes):
 * - `baseLsn` (the file offset of active slot byte 0) is a multiple of `sectorBytes`; so is the
 *   file offset of every write, and every write's length.
 * - `nextLsn = baseLsn + len`: LSNs are contiguous, the file never gets a gap (fsys bug FS-J2).
 * - Bytes `[0, writtenLen)` of the active slot are already part of a queued or completed write
 *   (the carried sector); `len > writtenLen` means the active slot holds unwritten records.
 * - `busy[i]` ⟹ `i !== active`: the kernel may be reading slot `i`; nobody writes into it until
 *   the writer clears the flag after the write completed.
 * - A record's LSN range is claimed in the same synchronous step that completes its bytes in the
 *   buffer (fsys bug FS-J1); an oversize record is copied first, under the reservation, and
 *   claimed after. So a sealed write covers complete records only and the durable frontier never
 *   covers bytes still in an appender's hands (fsys bug FS-J3).
 *
 * @since 0.1.0
 */
import { Cause, Deferred, Effect, Exit, Option, Scope } from "effect"
import { type AlignedBuffer, IoError } from "@fsys/native"
import type { FileIoService, Handle } from "../../FileIo.ts"
import * as Frame from "../../Frame.ts"
import { type InvalidOptions, JournalClosed } from "../../JournalError.ts"
import { detached, FrameStream, STREAM_CHUNK_BYTES } from "./frameCopy.ts"
import { Preallocator } from "./preallocator.ts"
import { assert, roundDown, roundUp } from "./sectors.ts"
import { type Job, type JobDone, type JobFailure, Writer } from "./writer.ts"

/** Alignment of oversize scratch buffers: a page satisfies every DIO alignment we accept. */
const SCRATCH_ALIGNMENT_BYTES = 4096
/** Most frames (and frame bytes) one `appendBatch` encodes per event-loop turn: ≈ 1 ms or less. */
const BATCH_RECORDS_PER_TURN_MAX = 8192
const BATCH_BYTES_PER_TURN_MAX = 1024 * 1024
/** A SharedArrayBuffer is never detached; an ArrayBuffer says so (ES2024). */
const isDetached = (payload: Uint8Array): boolean =>
  (payload.buffer as { readonly detached?: boolean }).detached === true

/** Bounds every retry loop; only a broken state machine gets near it. */
const TURNS_MAX = 1_000_000

/** What an append can fail with: the poison, the buffer closing, or a payload detached mid-copy. */
export type AppendError = JobFailure | InvalidOptions

type Lifecycle =
  | { readonly _tag: "Open" }
  | { readonly _tag: "Closing"; readonly error: JournalClosed }
  | { readonly _tag: "Poisoned"; readonly error: IoError.IoError }

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
  /** Zeros kept ahead of the log (0 = off); see `preallocator.ts`. */
  readonly preallocateBytes: number
  /** How far the file is already allocated (its size at open). */
  readonly fileSizeBytes: number
  /** A zero-filled aligned buffer (whole sectors) the preallocation writes from. */
  readonly zeros: Uint8Array | undefined
}

export class LogBufferCore {
  readonly capacityBytes: number
  readonly sectorBytes: number
  /** The error calls get once the buffer is closing. */
  readonly closedError: JournalClosed
  private readonly fileIo: FileIoService
  private readonly handle: Handle
  private readonly slots: readonly [Uint8Array, Uint8Array]

  private lifecycle: Lifecycle = { _tag: "Open" }
  private active = 0
  private baseLsn: number
  private len: number
  private writtenLen: number
  private readonly busy: [boolean, boolean] = [false, false]
  /** An oversize scratch write is queued or in flight; at most one (bounds memory and the queue). */
  private scratchBusy = false
  /** Through here records have reached the file (page cache or device). */
  private flushedLsn: number
  /** Held by a call whose placement spans turns; see the module doc. */
  private reservation: Deferred.Deferred<void> | undefined = undefined
  /** One shared signal per "a slot became idle" event: not one waiter object per appender. */
  private idleSignal: Deferred.Deferred<void> | undefined = undefined
  private readonly preallocator: Preallocator
  private readonly queue: Writer

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
    this.closedError = new JournalClosed({ path: config.handle.path })
    this.capacityBytes = capacityBytes
    this.sectorBytes = sectorBytes
    this.slots = [config.slots[0].bytes.subarray(0, capacityBytes), config.slots[1].bytes.subarray(0, capacityBytes)]
    this.baseLsn = startLsn - carry.byteLength
    this.slots[0].set(carry, 0)
    this.len = carry.byteLength
    this.writtenLen = carry.byteLength
    this.flushedLsn = startLsn
    this.preallocator = new Preallocator({
      fileIo: config.fileIo,
      handle: config.handle,
      sectorBytes,
      capacityBytes,
      preallocateBytes: config.preallocateBytes,
      zeros: config.zeros,
      allocatedEndBytes: Math.max(config.fileSizeBytes, startLsn),
    })
    this.queue = new Writer({
      perform: (job) => this.perform(job),
      refusal: () => this.refusal,
      settle: (job, exit) => this.settle(job, exit),
      afterSettle: () => this.signalIdle(),
    })
  }

  get nextLsn(): number {
    return this.baseLsn + this.len
  }

  get flushedThrough(): number {
    return this.flushedLsn
  }

  /** The IoError that poisoned the buffer, if one did. */
  get poisonedBy(): IoError.IoError | undefined {
    return this.lifecycle._tag === "Poisoned" ? this.lifecycle.error : undefined
  }

  /** Why calls are refused (poisoned or closing), or `undefined` while the buffer is open. */
  get refusal(): JobFailure | undefined {
    return this.lifecycle._tag === "Open" ? undefined : this.lifecycle.error
  }

  /** The writer fiber (forked with the buffer's Scope). */
  get writer(): Effect.Effect<never> {
    return this.queue.run
  }

  /** True when the largest frame this buffer can place in a slot is smaller than `frameBytes`. */
  isOversize(frameBytes: number): boolean {
    return frameBytes > this.capacityBytes - this.sectorBytes
  }

  /**
   * The hot path: encodes the frame into the active slot if it fits and returns its end LSN;
   * `undefined` (it does not fit, a reservation is held, or the buffer refuses) sends the
   * caller to `append`.
   */
  tryAppend(payload: Uint8Array): number | undefined {
    if (this.reservation !== undefined || this.lifecycle._tag !== "Open") return undefined
    return this.place(payload)
  }

  /** Encodes into the active slot if the frame fits there. */
  private place(payload: Uint8Array): number | undefined {
    if (this.len + payload.byteLength + Frame.OVERHEAD > this.capacityBytes) return undefined
    this.len += Frame.encodeInto(this.slots[this.active]!, this.len, payload)
    return this.baseLsn + this.len
  }

  /**
   * Encodes as many of `payloads[fromIndex..]` as fit in the active slot and in one turn's
   * budget, in one transition. Returns the index of the first payload not placed.
   */
  private placeMany(payloads: ReadonlyArray<Uint8Array>, fromIndex: number): number {
    const slot = this.slots[this.active]!
    const startLen = this.len
    const indexEnd = Math.min(payloads.length, fromIndex + BATCH_RECORDS_PER_TURN_MAX)
    let index = fromIndex
    let len = startLen
    while (index < indexEnd) {
      const payload = payloads[index]!
      // A detached view reads as empty: never place it as an empty record (the caller fails).
      if (payload.byteLength === 0 && isDetached(payload)) break
      const end = len + payload.byteLength + Frame.OVERHEAD
      if (end > this.capacityBytes || (index > fromIndex && end - startLen > BATCH_BYTES_PER_TURN_MAX)) break
      len += Frame.encodeInto(slot, len, payload)
      index++
    }
    this.len = len
    return index
  }

  /** Appends one record (caller checked `payload.byteLength <= Frame.MAX_PAYLOAD`). */
  append(payload: Uint8Array): Effect.Effect<number, AppendError> {
    return Effect.suspend(() => {
      const end = this.tryAppend(payload)
      return end !== undefined ? Effect.succeed(end) : this.placeSlow(payload, false)
    })
  }

  /**
   * Appends records in order as one contiguous LSN range (fsys: one reservation); returns the end
   * LSN of the last. A batch that fits the active slot and one turn is one synchronous transition.
   * A bigger one holds the reservation until it is placed, yielding between turns. Not atomic on
   * disk: a crash (or an interrupt) may keep a prefix of the batch.
   */
  appendBatch(payloads: ReadonlyArray<Uint8Array>): Effect.Effect<number, AppendError> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.suspend((): Effect.Effect<number, AppendError> => {
        const held = this.reservation
        // Another call owns the order: wait for it, then start over (nothing placed yet).
        if (held !== undefined) return Effect.andThen(restore(Deferred.await(held)), this.appendBatch(payloads))
        const refusal = this.refusal
        if (refusal !== undefined) return Effect.fail(refusal)
        const index = this.placeMany(payloads, 0)
        if (index === payloads.length) return Effect.succeed(this.nextLsn)
        // Taken and paired with its release in this one uninterruptible step.
        const reservation = this.reserve()
        return Effect.ensuring(restore(this.placeRest(payloads, index)), this.release(reservation))
      }),
    )
  }

  /** The reservation owner's path for `payloads[fromIndex..]`. */
  private placeRest(payloads: ReadonlyArray<Uint8Array>, fromIndex: number): Effect.Effect<number, AppendError> {
    const self = this
    return Effect.gen(function* () {
      let index = fromIndex
      for (let turn = 0; index < payloads.length; turn++) {
        assert(turn < TURNS_MAX, "batch made no progress")
        const refusal = self.refusal
        if (refusal !== undefined) return yield* Effect.fail(refusal)
        const placed = self.placeMany(payloads, index)
        if (placed > index) {
          index = placed
          // A turn's budget is spent (or the slot is full): let the event loop run.
          if (index < payloads.length) yield* Effect.yieldNow
          continue
        }
        // The payload was detached during a turn, or the next frame does not fit the active
        // slot: wait for a slot, seal, or go oversize.
        if (isDetached(payloads[index]!)) return yield* Effect.fail(detached())
        yield* self.placeSlow(payloads[index]!, true)
        index++
      }
      return self.nextLsn
    })
  }

  /** `owner`: the caller holds the reservation, so it must not wait for it. */
  private placeSlow(payload: Uint8Array, owner: boolean): Effect.Effect<number, AppendError> {
    if (this.isOversize(payload.byteLength + Frame.OVERHEAD)) return this.placeOversize(payload, owner)
    const self = this
    const payloadBytes = payload.byteLength
    return Effect.gen(function* () {
      // Each turn appends, seals (after which the frame fits: the carry is < 1 sector and the
      // frame at most capacity - 1 sector), or waits for a write or a reservation to complete.
      for (let turn = 0; turn < TURNS_MAX; turn++) {
        const refusal = self.refusal
        if (refusal !== undefined) return yield* Effect.fail(refusal)
        const held = self.reservation
        if (!owner && held !== undefined) {
          yield* Deferred.await(held)
          continue
        }
        // Checked in the placement's own step: copying from a detached view throws mid-transition.
        if (payload.byteLength !== payloadBytes || isDetached(payload)) return yield* Effect.fail(detached())
        const end = self.place(payload)
        if (end !== undefined) return end
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
   * A frame bigger than a slot is streamed to the file through a bounded scratch buffer
   * (`frameCopy.ts`). The scratch is allocated and the way waited for (interruptibly); then, in one
   * step, the reservation is taken and the active slot rotated like a seal (its unwritten full
   * sectors queued, its partial sector carried into the idle slot). Under the reservation nothing
   * else appends, seals or flushes, so the file past `nextLsn` belongs to this record: it is
   * written chunk by chunk (uninterruptibly: the kernel reads the scratch), and the LSN range is
   * claimed only in the step that queues the last chunk. A failure or a detached payload before
   * then leaves unclaimed bytes past `nextLsn`, which the next write overwrites.
   */
  private placeOversize(payload: Uint8Array, owner: boolean): Effect.Effect<number, AppendError> {
    const self = this
    const stream = FrameStream.make(payload)
    if (!(stream instanceof FrameStream)) return Effect.fail(stream)
    return Effect.uninterruptibleMask((restore) =>
      Effect.gen(function* () {
        const scratchScope = yield* Scope.make()
        const scratchBytes = Math.min(
          STREAM_CHUNK_BYTES,
          roundUp(self.sectorBytes - 1 + stream.frameBytes, self.sectorBytes),
        )
        const allocated = yield* Effect.exit(
          restore(Scope.provide(self.fileIo.allocateAligned(scratchBytes, SCRATCH_ALIGNMENT_BYTES), scratchScope)),
        )
        if (Exit.isFailure(allocated)) {
          yield* Scope.close(scratchScope, Exit.void)
          return yield* Effect.failCause(allocated.cause)
        }
        // Wait until no other reservation is held and the other slot and the scratch are idle;
        // the check that ends the loop and the reservation are one step.
        for (let turn = 0; ; turn++) {
          assert(turn < TURNS_MAX, "oversize append made no progress")
          const refusal = self.refusal
          const held = owner ? undefined : self.reservation
          if (refusal === undefined && held === undefined && !self.busy[1 - self.active] && !self.scratchBusy) break
          const waited = yield* Effect.exit(
            refusal !== undefined
              ? Effect.fail(refusal)
              : restore(held !== undefined ? Deferred.await(held) : self.awaitIdle()),
          )
          if (Exit.isFailure(waited)) {
            yield* Scope.close(scratchScope, Exit.void)
            return yield* Effect.failCause(waited.cause)
          }
        }
        const reservation = owner ? undefined : self.reserve()
        self.scratchBusy = true
        self.rotate()
        const streamed = yield* Effect.exit(self.streamFrame(stream, allocated.value.bytes, scratchScope))
        if (Exit.isFailure(streamed)) {
          self.scratchBusy = false
          yield* Scope.close(scratchScope, Exit.void)
        }
        if (reservation !== undefined) yield* self.release(reservation)
        return yield* streamed
      }),
    )
  }

  /**
   * Seals the active slot without padding for a record that follows it in a scratch buffer: the
   * full sectors not yet handed to a write go out from the slot, the partial one is carried into
   * the idle slot, which becomes active. Synchronous.
   */
  private rotate(): void {
    const from = this.active
    const to = 1 - from
    assert(!this.busy[to], "the slot that becomes active is idle")
    const length = this.len
    const carryStart = roundDown(length, this.sectorBytes)
    if (carryStart > 0 && length > this.writtenLen) {
      this.busy[from] = true
      this.pushJob({
        kind: "slot",
        slot: from,
        bytes: this.slots[from]!.subarray(0, carryStart),
        fileOffsetBytes: this.baseLsn,
        endLsn: this.baseLsn + carryStart,
        datasync: false,
        onDone: undefined,
      })
    }
    this.slots[to]!.set(this.slots[from]!.subarray(carryStart, length), 0)
    this.active = to
    this.baseLsn += carryStart
    this.len = length - carryStart
    // The carried bytes go out with the record's first chunk (or the next seal, if it fails).
    this.writtenLen = this.len
  }

  /**
   * Writes the active slot's carried sector and then the frame from `stream`, one scratch-full
   * at a time, waiting for each write; the last chunk claims the LSN range. Runs under the
   * reservation, uninterruptibly.
   */
  private streamFrame(
    stream: FrameStream,
    scratch: Uint8Array,
    scratchScope: Scope.Closeable,
  ): Effect.Effect<number, AppendError> {
    const self = this
    return Effect.gen(function* () {
      const active = self.slots[self.active]!
      const startLsn = self.nextLsn
      let fileOffsetBytes = self.baseLsn
      scratch.set(active.subarray(0, self.len), 0)
      let filled = self.len
      for (let chunk = 0; ; chunk++) {
        assert(chunk < TURNS_MAX, "oversize stream made no progress")
        if (!stream.intact) return yield* Effect.fail(detached())
        filled += stream.read(scratch, filled, scratch.byteLength - filled)
        if (stream.done) break
        // A full scratch (whole sectors): nothing in it is claimed yet, so it reports `startLsn`.
        const done = Deferred.makeUnsafe<void, JobFailure>()
        self.pushJob({
          kind: "scratch",
          bytes: scratch,
          fileOffsetBytes,
          endLsn: startLsn,
          scratchScope: undefined,
          onDone: (failure) => Deferred.doneUnsafe(done, failure === undefined ? Exit.void : Exit.fail(failure)),
        })
        yield* Deferred.await(done)
        fileOffsetBytes += scratch.byteLength
        filled = 0
        const refusal = self.refusal
        if (refusal !== undefined) return yield* Effect.fail(refusal)
      }
      return self.claimOversize(scratch, filled, fileOffsetBytes, scratchScope)
    })
  }

  /**
   * The synchronous end of an oversize append: `scratch[0, filledBytes)` is the frame's last
   * chunk, to be written at `fileOffsetBytes`. Claims the LSN range, queues the write (which frees
   * the scratch) and carries the frame's partial last sector into the active slot.
   */
  private claimOversize(
    scratch: Uint8Array,
    filledBytes: number,
    fileOffsetBytes: number,
    scratchScope: Scope.Closeable,
  ): number {
    const sector = this.sectorBytes
    const paddedBytes = roundUp(filledBytes, sector)
    scratch.fill(0, filledBytes, paddedBytes)
    const endLsn = fileOffsetBytes + filledBytes
    const newBase = roundDown(endLsn, sector)
    assert(newBase >= fileOffsetBytes && endLsn > this.nextLsn, "the record ends in its last chunk")
    this.slots[this.active]!.set(scratch.subarray(newBase - fileOffsetBytes, filledBytes), 0)
    this.pushJob({
      kind: "scratch",
      bytes: scratch.subarray(0, paddedBytes),
      fileOffsetBytes,
      endLsn,
      scratchScope,
      onDone: undefined,
    })
    this.baseLsn = newBase
    this.len = endLsn - newBase
    this.writtenLen = this.len
    return endLsn
  }

  /**
   * Makes every appended record reach the file (and, with `datasync`, stable storage); returns
   * the LSN covered. Seals the active slot if it holds unwritten records.
   */
  flush(datasync: boolean): Effect.Effect<number, JobFailure> {
    const self = this
    return Effect.gen(function* () {
      for (let turn = 0; turn < TURNS_MAX; turn++) {
        const refusal = self.refusal
        if (refusal !== undefined) return yield* Effect.fail(refusal)
        const target = self.nextLsn
        if (datasync || self.len > self.writtenLen) {
          const done = Deferred.makeUnsafe<void, JobFailure>()
          const started = self.startFlush(datasync, (failure) =>
            Deferred.doneUnsafe(done, failure === undefined ? Exit.void : Exit.fail(failure)),
          )
          if (started !== undefined) {
            yield* Deferred.await(done)
            return started
          }
        } else if (self.flushedLsn >= target) {
          return self.flushedLsn
        }
        // A reservation or a busy slot is in the way, or the queued writes have not completed.
        yield* self.awaitIdle()
      }
      return assertNever("flush made no progress")
    })
  }

  /**
   * Starts a flush now if it needs no wait, and returns the LSN it covers (every record appended
   * so far); `onDone` runs from the writer once the write (and, with `datasync`, the fdatasync
   * after it) completed and was settled. Returns `undefined`, starting nothing, while a
   * reservation is held or while the active slot must be sealed but the other is being written.
   * The caller checked `refusal`. Synchronous: the group commit starts its next round inside the
   * previous round's completion with it.
   */
  startFlush(datasync: boolean, onDone: JobDone): number | undefined {
    assert(this.lifecycle._tag === "Open", "flush of a buffer that refuses calls")
    if (this.reservation !== undefined) return undefined
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

  /** Completes when a slot next becomes idle, a reservation ends, or the buffer is shut down. */
  readonly whenIdle: Effect.Effect<void> = Effect.suspend(() => this.awaitIdle())

  /**
   * Moves to `Closing`: every later append, seal and flush fails with `JournalClosed`, and every
   * waiter wakes, so nothing writes into the slots once their Scope starts releasing them.
   * Idempotent; a poisoned buffer stays poisoned.
   */
  shutdown(): void {
    if (this.lifecycle._tag === "Open") this.lifecycle = { _tag: "Closing", error: this.closedError }
    this.signalIdle()
  }

  /** Waits until no write is queued or in flight (used before the slots are freed). */
  readonly drain: Effect.Effect<void> = Effect.suspend(() => {
    const self = this
    return Effect.gen(function* () {
      // Every completed job signals idle; the queue only empties once the last one completed.
      for (let turn = 0; self.queue.queuedJobs > 0; turn++) {
        assert(turn < TURNS_MAX, "drain made no progress")
        yield* self.awaitIdle()
      }
      // Background zeros read the zeros buffer until their CQEs.
      yield* self.preallocator.settled
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
    if (datasync) {
      const preallocation = this.preallocator.next(this.nextLsn)
      if (preallocation !== undefined) this.pushJob(preallocation)
    }
  }

  private pushJob(job: Job): void {
    if (job.kind === "slot" || job.kind === "scratch") {
      assert(
        job.fileOffsetBytes % this.sectorBytes === 0 && job.bytes.byteLength % this.sectorBytes === 0,
        "writes are sector-aligned",
      )
    }
    this.queue.push(job)
  }

  private reserve(): Deferred.Deferred<void> {
    assert(this.reservation === undefined, "one reservation at a time")
    const reservation = Deferred.makeUnsafe<void>()
    this.reservation = reservation
    return reservation
  }

  private release(reservation: Deferred.Deferred<void>): Effect.Effect<void> {
    return Effect.sync(() => {
      assert(this.reservation === reservation, "the owner releases its reservation")
      this.reservation = undefined
      Deferred.doneUnsafe(reservation, Exit.void)
      // Flushes (and the group commit) waiting for the reservation retry on the idle signal.
      this.signalIdle()
    })
  }

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
    if (job.kind === "datasync") return this.fileIo.datasync(this.handle)
    if (job.kind === "preallocate") return this.preallocator.start(job.fromBytes, job.toBytes)
    const write =
      job.kind === "slot" && job.datasync
        ? this.fileIo.writeAtThenDatasync(this.handle, job.bytes, job.fileOffsetBytes)
        : this.fileIo.writeAt(this.handle, job.bytes, job.fileOffsetBytes)
    // Zeros still being written where this write lands must land first (`preallocator.ts`).
    const zeros = this.preallocator.before(job.fileOffsetBytes + job.bytes.byteLength)
    return zeros === undefined ? write : Effect.andThen(zeros, write)
  }

  /** The writer's bookkeeping for a finished job; returns the failure to report to its waiters. */
  private settle(job: Job, exit: Exit.Exit<void, JobFailure>): JobFailure | undefined {
    if (Exit.isSuccess(exit)) {
      if (job.kind !== "preallocate") {
        // FS-J3: the frontier moves only over bytes whose write completed, in LSN order.
        assert(job.endLsn >= this.flushedLsn, "flushed frontier only moves forward")
        this.flushedLsn = job.endLsn
      }
    }
    if (job.kind === "slot") this.busy[job.slot] = false
    // The last chunk of an oversize record frees the scratch; earlier chunks reuse it.
    if (job.kind === "scratch" && job.scratchScope !== undefined) this.scratchBusy = false
    if (Exit.isSuccess(exit)) return undefined
    const failure = failureOf(exit, this.handle.path)
    if (this.lifecycle._tag === "Open" && failure._tag === "IoError")
      this.lifecycle = { _tag: "Poisoned", error: failure }
    return failure
  }
}

/** The failure a failed job carries; a defect in a layer is reported as an `Unknown` IoError. */
const failureOf = (exit: Exit.Failure<void, JobFailure>, path: string): JobFailure => {
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

const assertNever = (message: string): never => {
  throw new Error(`fsys invariant violated: ${message}`)
}
