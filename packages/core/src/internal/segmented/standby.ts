/**
 * Preparing the standby: the next segment's file, opened as a journal ahead of need by the
 * rotation fiber (or the open), holding the directory lock. It is either a fresh file, opened and
 * then preallocated with zeros, or (with `recycleSegments`) a retired segment's file, zeroed and
 * renamed into place before the open (`recycle.ts`).
 *
 * @internal
 */
import * as NodePath from "node:path"
import { Effect } from "effect"
import type * as FileIo from "../../FileIo.ts"
import { KnownZeros } from "../recovery/resume.ts"
import type { Engine, SegmentedError } from "./engine.ts"
import { takeRecycled } from "./recycle.ts"

/** Zeros per write while preallocating a standby: bounded memory, and many small IOs avoided. */
const PREALLOCATE_CHUNK_BYTES = 1024 * 1024

/**
 * Writes `bytes` of zeros into the new standby's file and fdatasyncs them, so the segment it
 * becomes is allocated (written blocks, size committed) before its first record: its syncs
 * overwrite written blocks instead of growing the file, as the log buffer's own preallocator
 * arranges for a single file (`internal/logBuffer/preallocator.ts`), but in the rotation fiber
 * instead of the writer's queue, and never past the segment's end. Zeros past the last record
 * read as a clean end (recovery keeps them). A failure only leaves the segment unpreallocated:
 * it is an optimisation, never worth an error. The name needs no directory fsync: the rotation
 * renames the file and fsyncs the directory then.
 */
const preallocate = (io: FileIo.FileIoService, path: string, bytes: number): Effect.Effect<void> =>
  bytes === 0
    ? Effect.void
    : Effect.scoped(
        Effect.gen(function* () {
          const handle = yield* io.open(path, { create: true })
          const zeros = new Uint8Array(Math.min(PREALLOCATE_CHUNK_BYTES, bytes))
          // Bounded: bytes / PREALLOCATE_CHUNK_BYTES writes (at most segmentBytes / 1 MiB).
          for (let offset = 0; offset < bytes; offset += zeros.length) {
            yield* io.writeAt(handle, zeros.subarray(0, Math.min(zeros.length, bytes - offset)), offset)
          }
          yield* io.datasync(handle)
        }),
      ).pipe(Effect.ignore)

/** Creates the next segment ahead of need (called holding the directory lock). */
export const prepareStandby = (engine: Engine): Effect.Effect<void, SegmentedError> =>
  Effect.gen(function* () {
    if (engine.standby !== undefined || engine.closed) return
    const { io, standbyJournalOptions, standbyPreallocateBytes } = engine.config
    // A recycled file arrives all zeros and durable, under the standby's name (it replaces any
    // stale one); otherwise a fresh file is created.
    const recycled = yield* takeRecycled(engine)
    if (!recycled) {
      yield* io.remove(engine.standbyPath).pipe(
        Effect.catchIf(
          (error) => error.reason === "NotFound",
          () => Effect.void,
        ),
      )
    }
    // A recycled file is zeros end to end, fdatasynced under this lock: its open need not read
    // 64 MiB back to find that out (`KnownZeros`).
    const open = engine.openSegment(engine.standbyPath, standbyJournalOptions)
    const standby = yield* recycled
      ? Effect.provideService(open, KnownZeros, NodePath.resolve(engine.standbyPath))
      : open
    // A fresh file is preallocated after the open, not before: the open's recovery would
    // otherwise read every zero back. Nothing writes the file yet (it becomes the standby
    // below), so the zeros race no record. A recycled file's blocks are written already.
    if (!recycled) yield* preallocate(io, engine.standbyPath, standbyPreallocateBytes)
    engine.standby = standby
  })
