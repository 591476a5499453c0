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
 * At most one scratch write is queued or in flight (`SlotState.scratchBusy`): it bounds the
 * memory and the writer's queue.
 *
 * @since 0.1.0
 */
import { Deferred, Effect, Exit, Scope } from "effect"
import type { InvalidOptions } from "../../JournalError.ts"
import { detached, FrameStream, STREAM_CHUNK_BYTES } from "./frameCopy.ts"
import { assert, roundDown, roundUp } from "./sectors.ts"
import { type SlotState, TURNS_MAX } from "./state.ts"
import type { JobFailure } from "./writer.ts"

/** Alignment of oversize scratch buffers: a page satisfies every DIO alignment we accept. */
const SCRATCH_ALIGNMENT_BYTES = 4096

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
      const scratchBytes = Math.min(
        STREAM_CHUNK_BYTES,
        roundUp(state.sectorBytes - 1 + stream.frameBytes, state.sectorBytes),
      )
      const allocated = yield* Effect.exit(
        restore(Scope.provide(state.fileIo.allocateAligned(scratchBytes, SCRATCH_ALIGNMENT_BYTES), scratchScope)),
      )
      if (Exit.isFailure(allocated)) {
        yield* Scope.close(scratchScope, Exit.void)
        return yield* Effect.failCause(allocated.cause)
      }
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
 * Writes the active slot's carried sector and then the frame from `stream`, one scratch-full
 * at a time, waiting for each write; the last chunk claims the LSN range. Runs under the
 * reservation, uninterruptibly.
 */
const streamFrame = (
  state: SlotState,
  stream: FrameStream,
  scratch: Uint8Array,
  scratchScope: Scope.Closeable,
): Effect.Effect<number, JobFailure | InvalidOptions> =>
  Effect.gen(function* () {
    const active = state.slots[state.active]!
    const startLsn = state.nextLsn
    let fileOffsetBytes = state.baseLsn
    scratch.set(active.subarray(0, state.activeBytes), 0)
    let filledBytes = state.activeBytes
    for (let chunk = 0; ; chunk++) {
      assert(chunk < TURNS_MAX, "oversize stream made no progress")
      if (!stream.intact) return yield* Effect.fail(detached())
      filledBytes += stream.read(scratch, filledBytes, scratch.byteLength - filledBytes)
      if (stream.done) break
      // A full scratch (whole sectors): nothing in it is claimed yet, so it reports `startLsn`.
      const done = Deferred.makeUnsafe<void, JobFailure>()
      state.pushJob({
        kind: "scratch",
        bytes: scratch,
        fileOffsetBytes,
        endLsn: startLsn,
        scratchScope: undefined,
        onDone: (failure) => Deferred.doneUnsafe(done, failure === undefined ? Exit.void : Exit.fail(failure)),
      })
      yield* Deferred.await(done)
      fileOffsetBytes += scratch.byteLength
      filledBytes = 0
      const refusal = state.refusal
      if (refusal !== undefined) return yield* Effect.fail(refusal)
    }
    return claimOversize(state, scratch, filledBytes, fileOffsetBytes, scratchScope)
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
