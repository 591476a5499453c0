/**
 * The dual log buffer (fsys's design, with the corrected rotation of 1.1.1): the engine behind
 * `LogBuffer` and `Journal`.
 *
 * Two slots of `capacityBytes`. Appends encode frames straight into the **active** slot. A slot is
 * **sealed** when it is full, when a sync needs its bytes on disk, or before an oversize record:
 * its records are zero-padded to the sector, the partial trailing sector is **carried** (copied) to
 * the start of the other slot, which becomes active, and the sealed slot is handed to the writer
 * (`writer.ts`). Appenders keep filling the new active slot while the sealed one is written; they
 * wait only when both slots are busy (two writes in flight, or the active one is full and the
 * other is still in flight).
 *
 * A buffered journal runs the same machine with `sectorBytes = 1`: nothing is padded or carried,
 * and each write appends exactly the new bytes.
 *
 * Lifecycle: `Open` → `Closing` (shutdown: later calls fail with `JournalClosed`) or `Poisoned`
 * (the first failed write or fdatasync: every queued job, waiter and later call fails with that
 * IoError, and nothing is retried: fsys bugs FS-J4, FS-H2). Both are final.
 *
 * Where things are: the state, its invariants and its synchronous transitions (place, seal,
 * reserve) in `state.ts`; batches and the waiting slow path in `placement.ts`; records bigger
 * than a slot in `oversize.ts`; the job queue in `writer.ts`; preallocation in `preallocator.ts`.
 * This file holds the entry points, flushes, shutdown and the writer's job bookkeeping.
 *
 * Placement, in one picture: `tryAppend` (one frame, synchronous) and a batch that fits a turn
 * are the hot paths; everything else waits (for a slot or a reservation), seals, or streams. A
 * call that spans turns (a batch that does not fit one turn, an oversize record being copied)
 * holds the **reservation**: other appenders and every flush wait for it, so its records are
 * contiguous and no sync covers part of it; it is taken and paired with its release in one
 * uninterruptible step.
 *
 * @since 0.1.0
 */
import { type Context, Deferred, Effect, Exit, type Fiber, Scope } from "effect"
import type { AlignedBuffer, IoError } from "@fsys/native"
import type { FileIoService, Handle } from "../../FileIo.ts"
import * as CallbackIo from "../callbackIo.ts"
import { type InvalidOptions, JournalClosed } from "../../JournalError.ts"
import { appendBatch, placeSlow } from "./placement.ts"
import { Preallocator } from "./preallocator.ts"
import { assert, assertNever } from "../assert.ts"
import { SlotState, TURNS_MAX } from "./state.ts"
import { failureOf, type Job, type JobDone, type JobExit, type JobFailure, Writer } from "./writer.ts"
import { Writeback } from "./writeback.ts"

/** What an append can fail with: the poison, the buffer closing, or a payload detached mid-copy. */
export type AppendError = JobFailure | InvalidOptions

export interface CoreConfig {
  readonly fileIo: FileIoService
  readonly handle: Handle
  /**
   * Another open file of the same log, for the second round in flight (`writer.ts`); without it
   * the writer never has two fdatasyncs in flight (two unsynced slot writes still can be).
   */
  readonly secondHandle?: Handle | undefined
  readonly slots: readonly [AlignedBuffer, AlignedBuffer]
  readonly capacityBytes: number
  readonly sectorBytes: number
  /** Where appends resume: the clean end of the file. */
  readonly startLsn: number
  /** Bytes `[roundDown(startLsn), startLsn)` as they are on disk (read through a buffered handle). */
  readonly carry: Uint8Array
  /** Zeros kept ahead of the log (0 = off); see `preallocator.ts`. */
  readonly preallocateBytes: number
  /** Completed unsynced bytes per writeback hint (0 = none); see `writeback.ts`. */
  readonly writebackBytes: number
  /** How far the file is already allocated (its size at open). */
  readonly fileSizeBytes: number
  /** A zero-filled aligned buffer (whole sectors) the preallocation writes from. */
  readonly zeros: Uint8Array | undefined
  /** The services the jobs' Effects run with (captured when the buffer was made). */
  readonly context: Context.Context<never>
  /** A buffered log's largest write in flight beside another (see `writer.ts`); absent = no bound. */
  readonly bufferedOverlapBytesMax?: number | undefined
  /**
   * `syncMethod: "dsync"`: a synced slot write whose first new byte follows only durable bytes is
   * one RWF_DSYNC write where the layer has one (`FileIo.writeAtDsync`), not write + fdatasync.
   */
  readonly dsyncRounds?: boolean | undefined
  /** The `dsyncBeforeDurable` mutation (`internal/testing.ts`): skips the durable check. Tests only. */
  readonly dsyncBeforeDurable?: boolean | undefined
}

export class LogBufferCore {
  readonly capacityBytes: number
  readonly sectorBytes: number
  /** The error calls get once the buffer is closing. */
  readonly closedError: JournalClosed
  private readonly state: SlotState
  private readonly queue: Writer
  /** One open file per lane (`writer.ts`): a job in flight beside another uses the other one. */
  private readonly laneHandles: ReadonlyArray<Handle>
  /** The layer's callback-form writes, if it has them (`internal/callbackIo.ts`). */
  private readonly callbackIo: CallbackIo.CallbackIo | undefined
  private readonly runJob: (effect: Effect.Effect<void, IoError.IoError>) => Fiber.Fiber<void, IoError.IoError>
  /** Hands completed unsynced writes of a buffered log to the kernel's writeback (`writeback.ts`). */
  private readonly writeback: Writeback
  /** `syncMethod: "dsync"` asked for and the layer has `writeAtDsync`. */
  readonly dsyncRounds: boolean
  private readonly dsyncBeforeDurable: boolean
  /** RWF_DSYNC writes started (each part of a split slot write counts). */
  dsyncWrites = 0

  constructor(config: CoreConfig) {
    const { capacityBytes, sectorBytes } = config
    assert(
      config.slots[0].byteLength >= capacityBytes && config.slots[1].byteLength >= capacityBytes,
      "slots are big enough",
    )
    this.closedError = new JournalClosed({ path: config.handle.path })
    this.capacityBytes = capacityBytes
    this.sectorBytes = sectorBytes
    this.state = new SlotState({
      fileIo: config.fileIo,
      handle: config.handle,
      slots: [config.slots[0].bytes.subarray(0, capacityBytes), config.slots[1].bytes.subarray(0, capacityBytes)],
      capacityBytes,
      sectorBytes,
      startLsn: config.startLsn,
      carry: config.carry,
      preallocator: new Preallocator({
        fileIo: config.fileIo,
        handle: config.handle,
        sectorBytes,
        capacityBytes,
        preallocateBytes: config.preallocateBytes,
        zeros: config.zeros,
        allocatedEndBytes: Math.max(config.fileSizeBytes, config.startLsn),
      }),
    })
    this.laneHandles = config.secondHandle === undefined ? [config.handle] : [config.handle, config.secondHandle]
    this.dsyncRounds = config.dsyncRounds === true && config.fileIo.writeAtDsync !== undefined
    this.dsyncBeforeDurable = config.dsyncBeforeDurable === true
    this.callbackIo = CallbackIo.lookup(config.fileIo)
    const runFork = Effect.runForkWith(config.context)
    // Each job's Effect on its own fiber that nothing interrupts (the kernel reads the job's
    // buffer until its completion).
    this.runJob = (effect) => runFork(effect, { uninterruptible: true })
    this.writeback = new Writeback({
      fileIo: config.fileIo,
      handle: config.handle,
      // Only a buffered log has page cache to write back.
      thresholdBytes: sectorBytes === 1 ? config.writebackBytes : 0,
      run: this.runJob,
      refuses: () => this.state.refusal !== undefined,
    })
    this.queue = new Writer({
      lanes: this.laneHandles.length,
      sectorBytes,
      bufferedOverlapBytesMax: config.bufferedOverlapBytesMax,
      start: (job, lane, onExit) => this.start(job, lane, onExit),
      refusal: () => this.state.refusal,
      settle: (job, exit) => this.settle(job, exit),
      afterSettle: () => this.state.signalIdle(),
      closeScratch: (scope, done) => {
        this.runJob(Scope.close(scope, Exit.void)).addObserver(done)
      },
    })
    this.state.writer = this.queue
  }

  get nextLsn(): number {
    return this.state.nextLsn
  }

  /**
   * Whether two flushes' writes can be in flight together: a buffered buffer with two lanes. A
   * Direct buffer's consecutive writes share the carried sector, so the writer runs them one
   * after the other (`writer.ts`).
   */
  get roundsOverlap(): boolean {
    return this.sectorBytes === 1 && this.laneHandles.length > 1
  }

  get flushedThrough(): number {
    return this.state.flushedLsn
  }

  /** The IoError that poisoned the buffer, if one did. */
  get poisonedBy(): IoError.IoError | undefined {
    const lifecycle = this.state.lifecycle
    return lifecycle._tag === "Poisoned" ? lifecycle.error : undefined
  }

  /** Why calls are refused (poisoned or closing), or `undefined` while the buffer is open. */
  get refusal(): JobFailure | undefined {
    return this.state.refusal
  }

  /** True when the largest frame this buffer can place in a slot is smaller than `frameBytes`. */
  isOversize(frameBytes: number): boolean {
    return this.state.isOversize(frameBytes)
  }

  /**
   * The hot path: encodes the frame into the active slot if it fits and returns its end LSN;
   * `undefined` (it does not fit, a reservation is held, or the buffer refuses) sends the
   * caller to `append`.
   */
  tryAppend(payload: Uint8Array): number | undefined {
    const state = this.state
    if (state.reservation !== undefined || state.lifecycle._tag !== "Open") return undefined
    return state.place(payload)
  }

  /** Appends one record (caller checked `payload.byteLength <= Frame.PAYLOAD_BYTES_MAX`). */
  append(payload: Uint8Array): Effect.Effect<number, AppendError> {
    return Effect.suspend(() => {
      const end = this.tryAppend(payload)
      return end !== undefined ? Effect.succeed(end) : placeSlow(this.state, payload, false)
    })
  }

  /** Appends records in order as one contiguous LSN range; see `placement.ts`. */
  appendBatch(payloads: ReadonlyArray<Uint8Array>): Effect.Effect<number, AppendError> {
    return appendBatch(this.state, payloads)
  }

  /**
   * Makes every appended record reach the file (and, with `datasync`, stable storage); returns
   * the LSN covered. Seals the active slot if it holds unwritten records.
   */
  flush(datasync: boolean): Effect.Effect<number, JobFailure> {
    const self = this
    return Effect.gen(function* () {
      for (let turn = 0; turn < TURNS_MAX; turn++) {
        const refusal = self.state.refusal
        if (refusal !== undefined) return yield* Effect.fail(refusal)
        const target = self.state.nextLsn
        if (datasync || self.state.activeBytes > self.state.writtenBytes) {
          const done = Deferred.makeUnsafe<void, JobFailure>()
          const started = self.startFlush(datasync, (failure) =>
            Deferred.doneUnsafe(done, failure === undefined ? Exit.void : Exit.fail(failure)),
          )
          if (started !== undefined) {
            yield* Deferred.await(done)
            return started
          }
        } else if (self.state.flushedLsn >= target) {
          return self.state.flushedLsn
        }
        // A reservation or a busy slot is in the way, or the queued writes have not completed.
        yield* self.state.awaitIdle()
      }
      return assertNever("flush made no progress")
    })
  }

  /**
   * Starts a flush now if it needs no wait, and returns the LSN it covers (every record appended
   * so far); `onDone` runs from the writer once the write (and, with `datasync`, the fdatasync
   * after it) completed and was settled. Returns `undefined`, starting nothing, while a
   * reservation is held. At most two slot writes are ever queued (a seal with the other slot in
   * flight parks the active one until that write completes); bounding the rounds is the caller's
   * job (the group commit keeps at most two in flight). The caller checked `refusal`. Synchronous: the group commit starts its next round inside the
   * previous round's completion with it.
   */
  startFlush(datasync: boolean, onDone: JobDone): number | undefined {
    const state = this.state
    assert(state.lifecycle._tag === "Open", "flush of a buffer that refuses calls")
    if (state.reservation !== undefined) return undefined
    const target = state.nextLsn
    if (state.activeBytes > state.writtenBytes) {
      // The other slot may still be in flight: the seal then parks the carry (see `state.ts`) and
      // the writer decides when this write may start (`writer.ts`).
      state.seal(datasync, onDone)
    } else {
      // Every record is in a queued or completed write: an fdatasync behind them covers them.
      assert(datasync, "a flush without datasync has records to write")
      state.pushJob({ kind: "datasync", endLsn: target, onDone })
    }
    return target
  }

  /** Completes when a slot next becomes idle, a reservation ends, or the buffer is shut down. */
  readonly whenIdle: Effect.Effect<void> = Effect.suspend(() => this.state.awaitIdle())

  /**
   * Moves to `Closing`: every later append, seal and flush fails with `JournalClosed`, and every
   * waiter wakes, so nothing writes into the slots once their Scope starts releasing them.
   * Idempotent; a poisoned buffer stays poisoned.
   */
  shutdown(): void {
    const state = this.state
    if (state.lifecycle._tag === "Open") state.lifecycle = { _tag: "Closing", error: this.closedError }
    state.signalIdle()
  }

  /** Waits until no write is queued or in flight (used before the slots are freed). */
  readonly drain: Effect.Effect<void> = Effect.suspend(() => {
    const self = this
    return Effect.gen(function* () {
      // Every completed job signals idle; the queue only empties once the last one completed.
      for (let turn = 0; self.queue.queuedJobs > 0; turn++) {
        assert(turn < TURNS_MAX, "drain made no progress")
        yield* self.state.awaitIdle()
      }
      // Background zeros read the zeros buffer until their CQEs.
      yield* self.state.preallocator.settled
      // A writeback hint in flight still uses the open file.
      yield* self.writeback.settled
    })
  })

  /**
   * Starts one job's IO on its lane: a slot or scratch write through the layer's callback form
   * when it has one and no zeros are still being written where the write lands, else the job's
   * Effect (`perform`) on its own fiber.
   */
  private start(job: Job, lane: number, onExit: JobExit): void {
    const callbackIo = this.callbackIo
    if (
      callbackIo !== undefined &&
      (job.kind === "slot" || job.kind === "scratch") &&
      this.state.preallocator.before(job.fileOffsetBytes + job.bytes.byteLength) === undefined
    ) {
      const sync =
        job.kind === "slot" && job.datasync ? (this.dsync(job, callbackIo.dsync) ? "dsync" : "datasync") : "none"
      callbackIo.write(this.laneHandles[lane]!, job.bytes, job.fileOffsetBytes, sync, (failure) =>
        onExit(failure === undefined ? Exit.void : Exit.fail(failure)),
      )
      return
    }
    this.runJob(this.perform(job, lane)).addObserver(onExit)
  }

  /**
   * Whether a synced slot write goes out as one RWF_DSYNC write: asked for, offered by the layer,
   * and every byte before the write's first new record already durable (`SlotState.durableLsn`),
   * since the write makes only its own bytes durable. Decided when the write (or each part of a
   * split one) starts; otherwise write + fdatasync, which also covers everything before.
   */
  private dsync(job: Job & { readonly kind: "slot" }, offered: boolean): boolean {
    if (!this.dsyncRounds || !offered) return false
    if (this.state.durableLsn < job.dataStartLsn && !this.dsyncBeforeDurable) return false
    this.dsyncWrites++
    return true
  }

  /** One job's IO, through the open file of its lane. */
  private perform(job: Job, lane: number): Effect.Effect<void, IoError.IoError> {
    const { fileIo, preallocator } = this.state
    const handle = this.laneHandles[lane]!
    if (job.kind === "datasync") return fileIo.datasync(handle)
    if (job.kind === "preallocate") return preallocator.start(job.fromBytes, job.toBytes)
    const writeAtDsync = fileIo.writeAtDsync
    const write =
      job.kind === "slot" && job.datasync
        ? writeAtDsync !== undefined && this.dsync(job, true)
          ? writeAtDsync(handle, job.bytes, job.fileOffsetBytes)
          : fileIo.writeAtThenDatasync(handle, job.bytes, job.fileOffsetBytes)
        : fileIo.writeAt(handle, job.bytes, job.fileOffsetBytes)
    // Zeros still being written where this write lands must land first (`preallocator.ts`).
    const zeros = preallocator.before(job.fileOffsetBytes + job.bytes.byteLength)
    return zeros === undefined ? write : Effect.andThen(zeros, write)
  }

  /** The writer's bookkeeping for a finished job; returns the failure to report to its waiters. */
  private settle(job: Job, completed: Exit.Exit<void, JobFailure>): JobFailure | undefined {
    const state = this.state
    // A refused preallocation job never starts its zeros: nobody may wait for them. The raw
    // outcome decides: a started preallocation stays in the drain's wait even under a poison.
    if (job.kind === "preallocate" && Exit.isFailure(completed)) state.preallocator.cancel(job.fromBytes)
    // A job that succeeded after an earlier one poisoned the buffer reports the poison: its
    // bytes follow bytes that never made it, so nothing past the failure may count as written.
    const lifecycle = state.lifecycle
    const exit = Exit.isSuccess(completed) && lifecycle._tag === "Poisoned" ? Exit.fail(lifecycle.error) : completed
    if (Exit.isSuccess(exit)) {
      if (job.kind !== "preallocate") {
        // FS-J3: the frontier moves only over bytes whose write completed, in LSN order.
        assert(job.endLsn >= state.flushedLsn, "flushed frontier only moves forward")
        state.flushedLsn = job.endLsn
        // A settled sync covers every byte before its end (a DSYNC write only ran where the
        // bytes before it were durable already: `dsync`).
        if (job.kind === "datasync" || (job.kind === "slot" && job.datasync)) state.durableLsn = job.endLsn
      }
      // Only a buffered log's unsynced slot writes leave dirty pages nobody will write soon.
      if (job.kind === "slot" && !job.datasync && this.sectorBytes === 1) {
        this.writeback.completed(job.fileOffsetBytes, job.fileOffsetBytes + job.bytes.byteLength)
      }
    }
    if (job.kind === "slot") state.slotIdle(job.slot)
    // The last chunk of an oversize record frees the scratch; earlier chunks reuse it.
    if (job.kind === "scratch" && job.scratchScope !== undefined) state.scratchBusy = false
    if (Exit.isSuccess(exit)) return undefined
    const failure = failureOf(exit, state.handle.path)
    if (state.lifecycle._tag === "Open" && failure._tag === "IoError")
      state.lifecycle = { _tag: "Poisoned", error: failure }
    return failure
  }
}
