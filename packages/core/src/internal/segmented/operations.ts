/**
 * The segmented journal's directory operations: truncateFront, truncateBack, checkpoint, and
 * reads by LSN. Each directory change runs holding the directory lock, so it never overlaps a
 * rotation or another change.
 *
 * truncateBack decision table (what a crash at each step leaves; recovery in `recover.ts`):
 *
 * | step                                                   | a crash here leaves            |
 * |--------------------------------------------------------|--------------------------------|
 * | 1. gate appends, drain, close the active segment (sync) | the old end                    |
 * | 2. write `truncate-intent` {lsn} (tmp, fsync, rename, dir fsync) | old end until the rename is durable, then the new end (roll forward) |
 * | 3. truncate the segment holding lsn, fsync; delete later segments; dir fsync | the new end (recovery re-applies 3, idempotent) |
 * | 4. remove the intent, dir fsync                        | the new end                    |
 * | 5. reopen the segment, open the gate                   | the new end                    |
 *
 * No append is accepted between 2 and 4, so recovery's roll-forward can never cut a record
 * appended after the truncation.
 *
 * @internal
 */
import { Deferred, Effect, Exit } from "effect"
import { InvalidOptions, LsnOutOfRange } from "../../JournalError.ts"
import type { Engine, Segment, SegmentedError } from "./engine.ts"
import { NoRecordAt } from "./errors.ts"
import * as Names from "./names.ts"
import { readLocal } from "./read.ts"
import { applyTruncation } from "./recover.ts"
import { dropOldest, retain } from "./rotation.ts"
import * as SmallFile from "./smallFile.ts"

const isLsn = (lsn: unknown): lsn is number => typeof lsn === "number" && Number.isSafeInteger(lsn) && lsn >= 0

const refuse = (engine: Engine): Effect.Effect<void, SegmentedError> => {
  const refused = engine.refusal()
  return refused === undefined ? Effect.void : Effect.fail(refused)
}

/** The payload of the record starting at `lsn`; `NoRecordAt` when none does. */
export const read = (engine: Engine, lsn: number): Effect.Effect<Uint8Array, SegmentedError> =>
  Effect.gen(function* () {
    yield* refuse(engine)
    const noRecord = (reason: string) =>
      new NoRecordAt({ lsn, firstLsn: engine.firstLsn, nextLsn: engine.nextLsn, reason })
    if (!isLsn(lsn)) return yield* noRecord("not an LSN (an integer ≥ 0)")
    if (lsn < engine.firstLsn || lsn >= engine.nextLsn) return yield* noRecord("outside the journal")
    // The record's bytes must be in the file: what the log buffer still holds is written by a sync.
    if (lsn >= engine.syncedLsn) yield* engine.syncThrough(engine.nextLsn)
    const segment = engine.segmentHolding(lsn)
    const found = yield* readLocal(
      engine.config.io,
      segment.path,
      segment.index,
      lsn - segment.baseLsn,
      segment.localEnd,
    )
    // Retired while it was read: its file may already be a recycled standby's zeros or records.
    if (segment.baseLsn < engine.firstLsn) return yield* noRecord("dropped by truncateFront or retention meanwhile")
    if (found._tag === "Missing") return yield* noRecord(found.reason)
    return found.payload
  })

/** Drops every segment that lies wholly below `lsn` (never the active one); durable on return. */
export const truncateFront = (engine: Engine, lsn: number): Effect.Effect<void, SegmentedError> =>
  engine.mutex.withLock(
    Effect.gen(function* () {
      yield* refuse(engine)
      if (!isLsn(lsn) || lsn > engine.nextLsn) return yield* new LsnOutOfRange({ lsn, nextLsn: engine.nextLsn })
      // Bounded by the segment count; the active segment is never dropped.
      while (engine.segments.length > 1) {
        const oldest = engine.segments[0] as Segment
        if (oldest.state !== "sealed" || oldest.baseLsn + oldest.localEnd > lsn) return
        yield* dropOldest(engine)
      }
    }).pipe(Effect.tapError((error) => Effect.sync(() => failIfIo(engine, error)))),
  )

/** Records durably that state through `lsn` is saved elsewhere (syncs through `lsn` first). */
export const checkpoint = (
  engine: Engine,
  lsn: number,
  data: Uint8Array | undefined,
): Effect.Effect<void, SegmentedError> =>
  Effect.gen(function* () {
    yield* refuse(engine)
    if (!isLsn(lsn) || lsn > engine.nextLsn) return yield* new LsnOutOfRange({ lsn, nextLsn: engine.nextLsn })
    const bytes = data ?? new Uint8Array(0)
    if (!(bytes instanceof Uint8Array) || bytes.byteLength > SmallFile.DATA_BYTES_MAX) {
      return yield* new InvalidOptions({
        option: "data",
        reason: `must be a Uint8Array of at most ${SmallFile.DATA_BYTES_MAX} bytes`,
      })
    }
    if (lsn < engine.firstLsn) return yield* outsideKept(engine, lsn)
    const saved = { lsn, data: bytes.slice() }
    yield* engine.syncThrough(lsn)
    yield* engine.mutex.withLock(
      Effect.gen(function* () {
        yield* refuse(engine)
        // Checked again under the lock: a truncateFront/truncateBack may have run since.
        if (lsn < engine.firstLsn) return yield* outsideKept(engine, lsn)
        if (lsn > engine.nextLsn) return yield* new LsnOutOfRange({ lsn, nextLsn: engine.nextLsn })
        // "State through `lsn` is saved" only means something at a record boundary: an LSN inside
        // a record would let truncateBack and retention split that record's fate. `read` walks to
        // it; the first LSN kept and the end are boundaries. No rotation or truncation can run
        // while this lock is held, so the answer stays true until the checkpoint is written.
        if (lsn !== engine.firstLsn && lsn !== engine.nextLsn) yield* read(engine, lsn)
        yield* SmallFile.replaceAtomically(
          engine.config.io,
          engine.config.directory,
          Names.CHECKPOINT_NAME,
          Names.CHECKPOINT_TEMP_NAME,
          SmallFile.encode(SmallFile.CHECKPOINT_MAGIC, saved),
        )
        engine.checkpoint = saved
        yield* retain(engine)
      }).pipe(Effect.tapError((error) => Effect.sync(() => failIfIo(engine, error)))),
    )
  })

const outsideKept = (engine: Engine, lsn: number): NoRecordAt =>
  new NoRecordAt({
    lsn,
    firstLsn: engine.firstLsn,
    nextLsn: engine.nextLsn,
    reason: "below the first LSN still kept (truncateFront or retention dropped it)",
  })

/** A failed directory change leaves the directory in a state only recovery should judge. */
const failIfIo = (engine: Engine, error: SegmentedError): void => {
  if (error._tag === "IoError") engine.poison(error)
}

/** Removes every record at or after `lsn`; durable on return; the next append gets `lsn`. */
export const truncateBack = (engine: Engine, lsn: number): Effect.Effect<void, SegmentedError> =>
  engine.mutex.withLock(
    Effect.gen(function* () {
      yield* refuse(engine)
      const nextLsn = engine.nextLsn
      if (!isLsn(lsn) || lsn < engine.firstLsn || lsn > nextLsn) {
        return yield* new NoRecordAt({ lsn, firstLsn: engine.firstLsn, nextLsn, reason: "outside the journal" })
      }
      if (engine.checkpoint !== undefined && lsn < engine.checkpoint.lsn) {
        return yield* new InvalidOptions({
          option: "lsn",
          reason: `${lsn} is below the last checkpoint (${engine.checkpoint.lsn}): its state would refer to records that no longer exist`,
        })
      }
      const gate = Deferred.makeUnsafe<void>()
      engine.gate = gate
      return yield* cutBack(engine, lsn).pipe(
        Effect.ensuring(
          Effect.sync(() => {
            engine.gate = undefined
            Deferred.doneUnsafe(gate, Exit.void)
          }),
        ),
      )
    }),
  )

const cutBack = (engine: Engine, lsn: number): Effect.Effect<void, SegmentedError> =>
  Effect.gen(function* () {
    yield* engine.drained
    if (lsn === engine.nextLsn) return
    // A boundary check needs the bytes in the files: read syncs first.
    yield* read(engine, lsn)
    const { io, directory } = engine.config
    yield* Effect.uninterruptible(
      Effect.gen(function* () {
        const active = engine.active
        yield* engine.closeSegment(active)
        active.state = "sealed"
        Deferred.doneUnsafe(active.sealed, Exit.void)
        yield* SmallFile.replaceAtomically(
          io,
          directory,
          Names.INTENT_NAME,
          Names.INTENT_TEMP_NAME,
          SmallFile.encode(SmallFile.INTENT_MAGIC, { lsn, data: new Uint8Array(0) }),
        )
        const kept = yield* applyTruncation(io, directory, engine.segments, lsn)
        yield* SmallFile.removeDurably(io, directory, Names.INTENT_NAME)
        engine.segments.length = kept.length
        const last = engine.active
        last.localEnd = lsn - last.baseLsn
        last.index.truncate(last.localEnd)
        last.state = "active"
        last.sealed = Deferred.makeUnsafe()
        const opened = yield* engine.openSegment(last.path)
        last.journal = opened.journal
        last.scope = opened.scope
        engine.syncedLsn = lsn
      }).pipe(Effect.tapError((error) => Effect.sync(() => engine.poison(error)))),
    )
  })
