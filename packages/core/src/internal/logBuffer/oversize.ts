/**
 * The oversize path: a frame bigger than a slot is streamed to the file through a bounded scratch
 * buffer (`frameCopy.ts`), never through the slots.
 *
 * The scratch is allocated and the way waited for (interruptibly); then, in one step, the
 * reservation is taken and the active slot rotated like a seal (its unwritten full sectors queued,
 * its partial sector carried into the idle slot). Under the reservation nothing else appends,
 * seals or flushes, so the file past `nextLsn` belongs to this record: it is written chunk by
 * chunk (uninterruptibly: the kernel reads the scratch), and the LSN range is claimed only in the
 * step that queues the last chunk. A failure or a detached payload before then leaves unclaimed
 * bytes past `nextLsn`, which the next write overwrites.
 *
 * One oversize append at a time (`SlotState.scratchBusy`); its chunks, up to
 * `OVERSIZE_CHUNKS_IN_FLIGHT_MAX` of them in flight, are written beside the writer, and only its
 * last chunk goes through the writer's queue (see `streamFrame`).
 *
 * @since 0.1.0
 */
import { Deferred, Effect, Exit, Scope } from "effect"
import type { InvalidOptions } from "../../JournalError.ts"
import { detached, FrameStream, STREAM_CHUNK_BYTES } from "./frameCopy.ts"
import { assert, roundDown, roundUp } from "./sectors.ts"
import { type SlotState, TURNS_MAX } from "./state.ts"
import { failureOf, type JobFailure } from "./writer.ts"

/** Alignment of oversize scratch buffers: a page satisfies every DIO alignment we accept. */
const SCRATCH_ALIGNMENT_BYTES = 4096
/**
 * Chunk writes of one oversize record in flight at once, so its scratch is at most this many
 * `STREAM_CHUNK_BYTES` chunks (8 MiB): the bound on an oversize append's memory and its writes.
 */
export const OVERSIZE_CHUNKS_IN_FLIGHT_MAX = 4

/** `owner`: the caller holds the reservation, so it must not wait for it. */
export const placeOversize = (
  state: SlotState,
  payload: Uint8Array,
  owner: boolean,
): Effect.Effect<number, JobFailure | InvalidOptions> => {
  const stream = FrameStream.make(payload)
  if (!(stream instanceof FrameStream)) return Effect.fail(stream)
  return Effect.uninterruptibleMask((restore) =>
    Effect.gen(function* () {
      const scratchScope = yield* Scope.make()
      // The carried partial sector and the frame, in chunks of at most STREAM_CHUNK_BYTES.
      const spanBytes = roundUp(state.sectorBytes - 1 + stream.frameBytes, state.sectorBytes)
      const chunkBytes = Math.min(STREAM_CHUNK_BYTES, spanBytes)
      const scratchBytes = chunkBytes * Math.min(OVERSIZE_CHUNKS_IN_FLIGHT_MAX, Math.ceil(spanBytes / chunkBytes))
      const allocated = yield* Effect.exit(
        restore(Scope.provide(state.fileIo.allocateAligned(scratchBytes, SCRATCH_ALIGNMENT_BYTES), scratchScope)),
      )
      if (Exit.isFailure(allocated)) {
        yield* Scope.close(scratchScope, Exit.void)
        return yield* Effect.failCause(allocated.cause)
      }
      // Zero-filling the scratch (8 MiB: 6–7 ms here) is a turn's work on its own; the first
      // chunk's copy gets the next one.
      yield* Effect.yieldNow
      // Wait until the way is clear; the check that ends the loop and the reservation are one
      // synchronous step (no yield between them, whatever the scheduler's op budget).
      for (let turn = 0; !wayClear(state, owner); turn++) {
        assert(turn < TURNS_MAX, "oversize append made no progress")
        const waited = yield* Effect.exit(waitForWay(state, owner, restore))
        if (Exit.isFailure(waited)) {
          yield* Scope.close(scratchScope, Exit.void)
          return yield* Effect.failCause(waited.cause)
        }
      }
      const reservation = owner ? undefined : state.reserve()
      state.scratchBusy = true
      rotate(state)
      const streamed = yield* Effect.exit(streamFrame(state, stream, allocated.value.bytes, scratchScope))
      if (Exit.isFailure(streamed)) {
        state.scratchBusy = false
        yield* Scope.close(scratchScope, Exit.void)
      }
      if (reservation !== undefined) yield* state.release(reservation)
      return yield* streamed
    }),
  )
}

/** Open, no other reservation held, both slots and the scratch idle. */
const wayClear = (state: SlotState, owner: boolean): boolean =>
  state.refusal === undefined &&
  (owner || state.reservation === undefined) &&
  !state.busy[0] &&
  !state.busy[1] &&
  !state.scratchBusy

/** One wait (interruptible, through `restore`) for what keeps the way from being clear. */
const waitForWay = (
  state: SlotState,
  owner: boolean,
  restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>,
): Effect.Effect<void, JobFailure> => {
  const refusal = state.refusal
  if (refusal !== undefined) return Effect.fail(refusal)
  const held = owner ? undefined : state.reservation
  return restore(held !== undefined ? Deferred.await(held) : state.awaitIdle())
}

/**
 * Seals the active slot without padding for a record that follows it in a scratch buffer: the
 * full sectors not yet handed to a write go out from the slot, the partial one is carried into
 * the idle slot, which becomes active. Synchronous.
 */
const rotate = (state: SlotState): void => {
  const from = state.active
  const to = 1 - from
  assert(!state.busy[to], "the slot that becomes active is idle")
  state.fillCrcs()
  const lengthBytes = state.activeBytes
  const carryStart = roundDown(lengthBytes, state.sectorBytes)
  if (carryStart > 0 && lengthBytes > state.writtenBytes) {
    state.busy[from] = true
    state.pushJob({
      kind: "slot",
      slot: from,
      bytes: state.slots[from]!.subarray(0, carryStart),
      fileOffsetBytes: state.baseLsn,
      dataStartLsn: state.baseLsn + state.writtenBytes,
      endLsn: state.baseLsn + carryStart,
      datasync: false,
      onDone: undefined,
    })
  }
  state.slots[to]!.set(state.slots[from]!.subarray(carryStart, lengthBytes), 0)
  state.active = to
  state.baseLsn += carryStart
  state.activeBytes = lengthBytes - carryStart
  // The carried bytes go out with the record's first chunk (or the next seal, if it fails).
  state.writtenBytes = state.activeBytes
  state.crcFilledBytes = state.activeBytes
}

/**
 * Writes the active slot's carried sector and then the frame from `stream`, one chunk of
 * `STREAM_CHUNK_BYTES` at a time, up to `OVERSIZE_CHUNKS_IN_FLIGHT_MAX` chunks in flight: the
 * next chunk is copied (and its CRC computed) while the earlier ones are in the kernel, and the
 * device sees several disjoint whole-sector writes at once. These writes bypass the writer's
 * queue: under the reservation nothing else writes at or past their range, they move no
 * frontier (nothing in them is claimed), and every one of them has completed before the last
 * chunk goes to the writer, which claims the LSN range and moves the frontier in queue order.
 * Runs under the reservation, uninterruptibly; on every exit it first waits for every chunk in
 * flight, so the scratch is never freed while the kernel reads it.
 */
const streamFrame = (
  state: SlotState,
  stream: FrameStream,
  scratch: Uint8Array,
  scratchScope: Scope.Closeable,
): Effect.Effect<number, JobFailure | InvalidOptions> =>
  Effect.gen(function* () {
    // The scratch is a whole number of chunks (see `placeOversize`).
    const chunkBytes = Math.min(STREAM_CHUNK_BYTES, scratch.byteLength)
    const chunkCount = scratch.byteLength / chunkBytes
    assert(Number.isInteger(chunkCount) && chunkCount <= OVERSIZE_CHUNKS_IN_FLIGHT_MAX, "scratch is whole chunks")
    const chunkAt = (index: number): Uint8Array => {
      const from = (index % chunkCount) * chunkBytes
      return scratch.subarray(from, from + chunkBytes)
    }
    const inFlight: Array<Deferred.Deferred<void, JobFailure> | undefined> = Array.from({ length: chunkCount })
    /** Waits for every chunk in flight; the first failure, if any. */
    const settleAll = Effect.gen(function* () {
      let failure: JobFailure | undefined
      for (let i = 0; i < chunkCount; i++) {
        const done = inFlight[i]
        if (done === undefined) continue
        inFlight[i] = undefined
        const exit = yield* Effect.exit(Deferred.await(done))
        if (Exit.isFailure(exit)) failure ??= failureOf(exit, state.handle.path)
      }
      return failure
    })
    const fail = (error: JobFailure | InvalidOptions) => Effect.flatMap(settleAll, () => Effect.fail(error))
    const active = state.slots[state.active]!
    let fileOffsetBytes = state.baseLsn
    let index = 0
    let chunk = chunkAt(0)
    chunk.set(active.subarray(0, state.activeBytes), 0)
    let filledBytes = state.activeBytes
    for (;;) {
      assert(index < TURNS_MAX, "oversize stream made no progress")
      if (!stream.intact) return yield* fail(detached())
      filledBytes += stream.read(chunk, filledBytes, chunk.byteLength - filledBytes)
      if (stream.done) break
      // A full chunk (whole sectors): nothing in it is claimed yet.
      inFlight[index % chunkCount] = yield* startChunk(state, chunk, fileOffsetBytes)
      fileOffsetBytes += chunk.byteLength
      index++
      filledBytes = 0
      chunk = chunkAt(index)
      // One chunk's copy and CRC per event-loop turn (≈ 2–3 ms for 2 MiB here, the first touch
      // of a fresh scratch page included): the first chunks have no write to wait for, and a
      // write that already completed would not suspend either, so four copies ran in one turn
      // (an oversize append's first turn held the loop 18–25 ms).
      yield* Effect.yieldNow
      // The chunk about to be refilled must have left the kernel's hands.
      const previous = inFlight[index % chunkCount]
      if (previous !== undefined) {
        inFlight[index % chunkCount] = undefined
        const exit = yield* Effect.exit(Deferred.await(previous))
        if (Exit.isFailure(exit)) return yield* fail(failureOf(exit, state.handle.path))
      }
      const refusal = state.refusal
      if (refusal !== undefined) return yield* fail(refusal)
    }
    const failure = yield* settleAll
    if (failure !== undefined) return yield* Effect.fail(failure)
    const refusal = state.refusal
    if (refusal !== undefined) return yield* Effect.fail(refusal)
    return claimOversize(state, chunk, filledBytes, fileOffsetBytes, scratchScope)
  })

/**
 * Starts one chunk write beside the writer (after any zeros in flight where it lands); the
 * returned Deferred completes when the write did.
 * A failed write poisons the buffer, as a failed job does (nothing is retried: FS-J4).
 */
const startChunk = (
  state: SlotState,
  bytes: Uint8Array,
  fileOffsetBytes: number,
): Effect.Effect<Deferred.Deferred<void, JobFailure>> =>
  Effect.suspend(() => {
    const done = Deferred.makeUnsafe<void, JobFailure>()
    // Zeros of a background preallocation still in flight where this chunk lands land first
    // (`preallocator.ts`): the writer's jobs wait for them in `perform`, these chunks here.
    const zeros = state.preallocator.before(fileOffsetBytes + bytes.byteLength)
    const raw = state.fileIo.writeAt(state.handle, bytes, fileOffsetBytes)
    const write = Effect.flatMap(Effect.exit(zeros === undefined ? raw : Effect.andThen(zeros, raw)), (exit) =>
      Effect.sync(() => {
        if (Exit.isSuccess(exit)) {
          Deferred.doneUnsafe(done, Exit.void)
          return
        }
        const failure = failureOf(exit, state.handle.path)
        if (state.lifecycle._tag === "Open" && failure._tag === "IoError") {
          state.lifecycle = { _tag: "Poisoned", error: failure }
        }
        state.signalIdle()
        Deferred.doneUnsafe(done, Exit.fail(failure))
      }),
    )
    return Effect.as(Effect.forkDetach(Effect.uninterruptible(write)), done)
  })

/**
 * The synchronous end of an oversize append: `scratch[0, filledBytes)` is the frame's last
 * chunk, to be written at `fileOffsetBytes`. Claims the LSN range, queues the write (which frees
 * the scratch) and carries the frame's partial last sector into the active slot.
 */
const claimOversize = (
  state: SlotState,
  scratch: Uint8Array,
  filledBytes: number,
  fileOffsetBytes: number,
  scratchScope: Scope.Closeable,
): number => {
  const sector = state.sectorBytes
  const paddedBytes = roundUp(filledBytes, sector)
  scratch.fill(0, filledBytes, paddedBytes)
  const endLsn = fileOffsetBytes + filledBytes
  const newBase = roundDown(endLsn, sector)
  assert(newBase >= fileOffsetBytes && endLsn > state.nextLsn, "the record ends in its last chunk")
  state.slots[state.active]!.set(scratch.subarray(newBase - fileOffsetBytes, filledBytes), 0)
  state.pushJob({
    kind: "scratch",
    bytes: scratch.subarray(0, paddedBytes),
    fileOffsetBytes,
    endLsn,
    scratchScope,
    onDone: undefined,
  })
  state.baseLsn = newBase
  state.activeBytes = endLsn - newBase
  state.writtenBytes = state.activeBytes
  state.crcFilledBytes = state.activeBytes
  return endLsn
}
