/**
 * Recycling retired segments as standbys (opt-in, `recycleSegments`): instead of unlinking the
 * segment retention or truncateFront retires, keep its file (and its written blocks) to become
 * the next standby, so a rotation neither frees an extent (which on a `discard` mount also
 * discards it) nor allocates a new one.
 *
 * | step (holding the directory lock)                              | a crash here leaves                        |
 * |----------------------------------------------------------------|--------------------------------------------|
 * | 1. `<base>.journal` → `recycled.journal`, directory fsync       | the old segment set, or the new one (as an unlink would) |
 * | 2. zeros over the whole file (≥ the standby's preallocation), fdatasync | `recycled.journal`: removed at open |
 * | 3. `recycled.journal` → `standby.journal`                       | either name: both removed at open          |
 * | 4. `Journal.open` of the standby (it reads only zeros: empty)   | `standby.journal`: removed at open         |
 *
 * Why every byte is zeroed, and durably, before step 3: fsys v1 frames do not carry their LSN, so
 * an old frame left at an offset the new segment has not reached yet would be taken by recovery
 * (or a reader) for a record of the new segment. The standby is renamed to a segment name only by
 * a later rotation, after step 2's fdatasync, so no segment name ever points at old frames.
 * Leftover names are never trusted at open (`recover.ts`), so a half-zeroed file is never a
 * segment or a standby. At most `RECYCLED_FILES_MAX` files wait: a retired segment beyond it is
 * unlinked as before.
 *
 * @internal
 */
import { Effect } from "effect"
import type { IoError } from "@fsys/native"
import type * as FileIo from "../../FileIo.ts"
import type { Engine, Segment } from "./engine.ts"

/** Retired files kept for reuse: one serves the next rotation; more would only hold disk. */
export const RECYCLED_FILES_MAX = 1
/** Zeros per write while zeroing a recycled file: bounded memory, few IOs. */
export const ZERO_CHUNK_BYTES = 1024 * 1024

/** Retires `segment` (already out of the engine's list): recycled when the pool has room, else unlinked. */
export const retire = (engine: Engine, segment: Segment): Effect.Effect<void, IoError.IoError> =>
  Effect.gen(function* () {
    const { io, directory } = engine.config
    if (engine.config.recycleSegments && engine.recycledFiles < RECYCLED_FILES_MAX && !engine.closed) {
      yield* io.rename(segment.path, engine.recycledPath)
      engine.recycledFiles++
      engine.recycles++
    } else {
      yield* io.remove(segment.path)
    }
    // One directory fsync per segment: a crash then leaves a contiguous suffix, never a hole.
    yield* io.syncDirectory(directory)
  })

/** Overwrites `[0, max(size, minimumBytes))` of `path` with zeros and fdatasyncs them. */
const zeroWhole = (
  io: FileIo.FileIoService,
  path: string,
  minimumBytes: number,
): Effect.Effect<void, IoError.IoError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const handle = yield* io.open(path)
      const totalBytes = Math.max(yield* io.size(handle), minimumBytes)
      const zeros = new Uint8Array(Math.min(ZERO_CHUNK_BYTES, Math.max(1, totalBytes)))
      // Bounded: totalBytes / ZERO_CHUNK_BYTES writes (a segment is at most 1 GiB + one record).
      for (let offset = 0; offset < totalBytes; offset += zeros.length) {
        yield* io.writeAt(handle, zeros.subarray(0, Math.min(zeros.length, totalBytes - offset)), offset)
      }
      yield* io.datasync(handle)
    }),
  )

/**
 * Turns the waiting recycled file into `standby.journal`, all zeros and durable; false when
 * there is none or it could not be zeroed (it is then removed, and the caller creates a fresh
 * standby: recycling is an optimisation, never worth an error).
 */
export const takeRecycled = (engine: Engine): Effect.Effect<boolean> =>
  Effect.suspend(() => {
    if (engine.recycledFiles === 0) return Effect.succeed(false)
    engine.recycledFiles--
    const { io } = engine.config
    return zeroWhole(io, engine.recycledPath, engine.config.standbyPreallocateBytes).pipe(
      Effect.andThen(io.rename(engine.recycledPath, engine.standbyPath)),
      Effect.as(true),
      Effect.catch(() => Effect.as(Effect.ignore(io.remove(engine.recycledPath)), false)),
    )
  })
