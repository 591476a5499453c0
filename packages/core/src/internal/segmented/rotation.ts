/**
 * The rotation fiber and retention: what happens after `Engine.maybeRotate` swapped the standby in.
 *
 * Holding the directory lock, the rotation closes the old segment (sync + release: it becomes
 * `sealed`), cuts its preallocated zeros, renames the standby to `<base>.journal` and fsyncs the
 * directory (the new segment is then `named`), applies retention and prepares the next standby.
 * Any failure poisons the whole journal; the lock is released whatever happens.
 *
 * @internal
 */
import { Deferred, Effect, Exit } from "effect"
import type { IoError } from "@fsys/native"
import type * as FileIo from "../../FileIo.ts"
import type { Engine, Segment, SegmentedError } from "./engine.ts"
import * as Names from "./names.ts"
import { retire } from "./recycle.ts"

/** Cuts the zeros preallocation left past a sealed segment's last record (no fsync: zeros are a clean end). */
const cutPreallocation = (io: FileIo.FileIoService, segment: Segment): Effect.Effect<void, IoError.IoError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const handle = yield* io.open(segment.path)
      if ((yield* io.size(handle)) > segment.localEnd) yield* io.truncate(handle, segment.localEnd)
    }),
  )

/** Seals `old` and names `next` (the former standby); run uninterruptibly, holding the directory lock. */
export const rotate = (engine: Engine, old: Segment, next: Segment): Effect.Effect<void> => {
  const { io, directory } = engine.config
  return Effect.gen(function* () {
    yield* engine.closeSegment(old)
    old.state = "sealed"
    Deferred.doneUnsafe(old.sealed, Exit.void)
    if (old.baseLsn + old.localEnd > engine.syncedLsn) engine.syncedLsn = old.baseLsn + old.localEnd
    yield* cutPreallocation(io, old)
    const finalPath = Names.segmentPath(directory, next.baseLsn)
    yield* io.rename(engine.standbyPath, finalPath)
    next.path = finalPath
    yield* io.syncDirectory(directory)
    Deferred.doneUnsafe(next.named, Exit.void)
    yield* retain(engine)
    yield* engine.prepareStandby
  }).pipe(
    Effect.catch((error: SegmentedError) => Effect.sync(() => engine.poison(error))),
    Effect.ensuring(Effect.sync(() => engine.mutex.release())),
  )
}

/** Retention: drops the oldest sealed segments below the last checkpoint while over `retainBytes`. */
export const retain = (engine: Engine): Effect.Effect<void, SegmentedError> =>
  Effect.gen(function* () {
    const retainBytes = engine.config.retainBytes
    const checkpoint = engine.checkpoint
    if (retainBytes === undefined || checkpoint === undefined) return
    while (engine.segments.length > 1 && engine.nextLsn - engine.firstLsn > retainBytes) {
      const oldest = engine.segments[0] as Segment
      if (oldest.state !== "sealed" || oldest.baseLsn + oldest.localEnd > checkpoint.lsn) return
      yield* dropOldest(engine)
    }
  })

/**
 * Retires the oldest segment durably (called holding the directory lock; it is sealed): unlinked,
 * or kept to become the next standby (`recycle.ts`). It leaves the list first, synchronously, so
 * a reader that finds it still listed after a read knows its bytes were the segment's.
 */
export const dropOldest = (engine: Engine): Effect.Effect<void, IoError.IoError> =>
  Effect.suspend(() => retire(engine, engine.segments.shift() as Segment))
