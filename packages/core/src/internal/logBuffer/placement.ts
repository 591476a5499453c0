/**
 * The placement paths beyond the one-record hot path (`SlotState.place`): batches and the slow
 * path that waits.
 *
 * - `placeMany` encodes a turn's worth of a batch in one synchronous transition.
 * - `appendBatch` places a batch that fits one turn and the active slot in that one transition;
 *   a bigger one takes the **reservation** (other appenders and every flush wait for it, so its
 *   records are contiguous and no sync covers part of it) and `placeRest` places the rest,
 *   yielding between turns. The reservation is taken and paired with its release in one
 *   uninterruptible step.
 * - `placeSlow` is the path of a record that did not fit: it waits (for a slot or a reservation),
 *   seals, or hands a frame bigger than a slot to `oversize.ts`.
 *
 * @since 0.1.0
 */
import { Deferred, Effect } from "effect"
import * as Frame from "../../Frame.ts"
import * as BatchCrc from "../frame/batchCrc.ts"
import type { InvalidOptions } from "../../JournalError.ts"
import { detached } from "./frameCopy.ts"
import { placeOversize } from "./oversize.ts"
import { assert, violated } from "../assert.ts"
import { isDetached, type SlotState, TURNS_MAX } from "./state.ts"
import type { JobFailure } from "./writer.ts"

/** Most frames (and frame bytes) one `appendBatch` encodes per event-loop turn: ≈ 1 ms when warm. */
const BATCH_RECORDS_PER_TURN_MAX = 8192
const BATCH_BYTES_PER_TURN_MAX = 1024 * 1024
/**
 * And at most this long: frames encoded between two reads of the clock, and the time after which
 * a turn ends. Counts alone do not bound the time before the JIT has warmed up (see
 * `journal/validate.ts`).
 */
const BATCH_CLOCK_EVERY = 256
const BATCH_TURN_MILLIS = 2

type AppendError = JobFailure | InvalidOptions

/**
 * Encodes as many of `payloads[fromIndex..]` as fit in the active slot and in one turn's
 * budget, in one transition. Returns the index of the first payload not placed.
 */
const placeMany = (state: SlotState, payloads: ReadonlyArray<Uint8Array>, fromIndex: number): number => {
  const slot = state.slots[state.active]!
  const startBytes = state.activeBytes
  const indexEnd = Math.min(payloads.length, fromIndex + BATCH_RECORDS_PER_TURN_MAX)
  let index = fromIndex
  let activeBytes = startBytes
  // The clock is read only for a run long enough to need it (not on a hot batch of 100).
  const startMillis = indexEnd - fromIndex > BATCH_CLOCK_EVERY ? performance.now() : 0
  while (index < indexEnd) {
    if (
      index > fromIndex &&
      (index - fromIndex) % BATCH_CLOCK_EVERY === 0 &&
      performance.now() - startMillis >= BATCH_TURN_MILLIS
    ) {
      break
    }
    const payload = payloads[index]!
    // A detached view reads as empty: never place it as an empty record (the caller fails).
    if (payload.byteLength === 0 && isDetached(payload)) break
    const endBytes = activeBytes + payload.byteLength + Frame.OVERHEAD_BYTES
    if (endBytes > state.appendLimitBytes || (index > fromIndex && endBytes - startBytes > BATCH_BYTES_PER_TURN_MAX)) {
      break
    }
    activeBytes += BatchCrc.encodeWithoutCrc(slot, activeBytes, payload)
    index++
  }
  state.activeBytes = activeBytes
  state.boundUnfilled()
  return index
}

/**
 * Appends records in order as one contiguous LSN range (fsys: one reservation); returns the end
 * LSN of the last. A batch that fits the active slot and one turn is one synchronous transition.
 * A bigger one holds the reservation until it is placed, yielding between turns. Not atomic on
 * disk: a crash (or an interrupt) may keep a prefix of the batch.
 */
export const appendBatch = (
  state: SlotState,
  payloads: ReadonlyArray<Uint8Array>,
): Effect.Effect<number, AppendError> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.suspend((): Effect.Effect<number, AppendError> => {
      const held = state.reservation
      // Another call owns the order: wait for it, then start over (nothing placed yet).
      if (held !== undefined) return Effect.andThen(restore(Deferred.await(held)), appendBatch(state, payloads))
      const refusal = state.refusal
      if (refusal !== undefined) return Effect.fail(refusal)
      const index = placeMany(state, payloads, 0)
      if (index === payloads.length) return Effect.succeed(state.nextLsn)
      // Taken and paired with its release in this one uninterruptible step.
      const reservation = state.reserve()
      return Effect.ensuring(restore(placeRest(state, payloads, index)), state.release(reservation))
    }),
  )

/** The reservation owner's path for `payloads[fromIndex..]`. */
const placeRest = (
  state: SlotState,
  payloads: ReadonlyArray<Uint8Array>,
  fromIndex: number,
): Effect.Effect<number, AppendError> =>
  Effect.gen(function* () {
    let index = fromIndex
    for (let turn = 0; index < payloads.length; turn++) {
      assert(turn < TURNS_MAX, "batch made no progress")
      const refusal = state.refusal
      if (refusal !== undefined) return yield* Effect.fail(refusal)
      const placed = placeMany(state, payloads, index)
      if (placed > index) {
        index = placed
        // A turn's budget is spent (or the slot is full): let the event loop run.
        if (index < payloads.length) yield* Effect.yieldNow
        continue
      }
      // The payload was detached during a turn, or the next frame does not fit the active
      // slot: wait for a slot, seal, or go oversize.
      if (isDetached(payloads[index]!)) return yield* Effect.fail(detached())
      yield* placeSlow(state, payloads[index]!, true)
      index++
    }
    return state.nextLsn
  })

/** `owner`: the caller holds the reservation, so it must not wait for it. */
export const placeSlow = (
  state: SlotState,
  payload: Uint8Array,
  owner: boolean,
): Effect.Effect<number, AppendError> => {
  if (state.isOversize(payload.byteLength + Frame.OVERHEAD_BYTES)) return placeOversize(state, payload, owner)
  const payloadBytes = payload.byteLength
  return Effect.gen(function* () {
    // Each turn appends, seals (after which the frame fits: the carry is < 1 sector and the
    // frame at most capacity - 1 sector), or waits for a write or a reservation to complete.
    for (let turn = 0; turn < TURNS_MAX; turn++) {
      const refusal = state.refusal
      if (refusal !== undefined) return yield* Effect.fail(refusal)
      const held = state.reservation
      if (!owner && held !== undefined) {
        yield* Deferred.await(held)
        continue
      }
      // Checked in the placement's own step: copying from a detached view throws mid-transition.
      if (payload.byteLength !== payloadBytes || isDetached(payload)) return yield* Effect.fail(detached())
      const end = state.place(payload)
      if (end !== undefined) return end
      const active = state.active
      // The active slot is full: hand it to the writer now, even while the other slot is still
      // in flight (the seal parks its carry), so its write starts the moment the other's
      // completes. Waiting for both slots to be idle first left the disk idle while this
      // appender, woken by that completion, sealed and copied its record (one Direct slot write
      // in flight at a time: ≈ 2.5 ms idle per 3 MiB write with 1 MiB records, `scripts/large-records.ts`).
      if (!state.busy[active] && state.activeBytes > state.writtenBytes) {
        state.seal(false, undefined)
        continue
      }
      // An idle active slot holding only its carry takes any frame that is not oversize.
      if (!(state.busy[0] || state.busy[1])) return violated("a frame that fits a slot found no room in an idle one")
      yield* state.awaitIdle()
    }
    return violated("append made no progress")
  })
}
