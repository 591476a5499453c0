/**
 * A journal that can forget: a directory of segment files with rotation, retention, checkpoints,
 * truncation at both ends and reads by LSN.
 *
 * Layout: every segment is a complete fsys v1 journal file named `<base LSN, 20 digits>.journal`
 * (names sort in LSN order), whose byte 0 is LSN `base`; LSNs stay global byte offsets, contiguous
 * across segments (segment `k + 1` starts exactly where segment `k` ends). Next to them:
 * `standby.journal` (the next segment, created and preallocated ahead of need), `checkpoint` (the last checkpoint,
 * replaced atomically), `truncate-intent` (only while a `truncateBack` runs) and `lock`. Any
 * segment file can be read by `fsys inspect` or `JournalReader` on its own.
 *
 * Design: each segment is written by the single-file `Journal` (one open `Journal.Handle` for
 * the active segment, another for the standby), so Direct IO, io_uring, group commit, the log
 * buffer and torn-tail recovery are the same code, unchanged. This module adds only what a chain
 * of files needs: routing appends, rotating at a record boundary, syncs that span two segments,
 * the directory changes and their crash safety. The alternative — one log buffer writing into
 * many files — would have changed the hot path for everyone; the cost of this design is a second
 * pair of log-buffer slots for the standby, and one `Journal.close` (a sync) per rotation, which
 * runs off the hot path in a rotation fiber.
 *
 * The contract (what is durable when), on top of `Journal`'s:
 * - `append` returns a global end LSN; `syncThrough(lsn)` returns once `[firstLsn, lsn)` is
 *   durable, across segments: a sync in a new segment first waits until the previous segment is
 *   closed (fully synced) and the new segment's name is durable (renamed, directory fsynced).
 * - Rotation: once the active segment holds `segmentBytes` and no append is in flight on it, the
 *   next append goes to the standby (at a record boundary). Appends never wait for the rotation's
 *   IO; only when the standby is not ready yet (it normally has been since the previous rotation)
 *   does an append to a full segment wait for it.
 * - `truncateFront(lsn)` deletes whole sealed segments below `lsn`, one directory fsync per
 *   segment (a crash leaves a contiguous suffix, never a hole); durable on return.
 * - `truncateBack(lsn)` writes an intent marker first, so a crash leaves either the old end or
 *   the new one (recovery finishes the truncation); durable on return.
 * - `checkpoint(lsn, data)` syncs through `lsn`, then replaces `checkpoint` atomically (temp
 *   file, fsync, rename, directory fsync). Retention (`retainBytes`) deletes the oldest sealed
 *   segments that end at or below the last checkpoint while the journal holds more than that.
 * - Open recovers: only the newest segment may have a torn tail (saved to a sidecar, as
 *   `Journal` does); a damaged sealed segment, a missing segment or a base that does not follow
 *   its predecessor fails with `SegmentDamaged` and a reason — sealed data is never cut.
 *
 * @since 0.2.0
 */
import * as NodePath from "node:path"
import type { Stream } from "effect"
import { Deferred, Effect, Exit, Scope } from "effect"
import * as FileIo from "./FileIo.ts"
import type * as Journal from "./Journal.ts"
import { InvalidOptions, JournalLocked } from "./JournalError.ts"
import { scanHandle } from "./internal/reader/scan.ts"
import { Engine, makeSegment, type SegmentedError } from "./internal/segmented/engine.ts"
import * as Errors from "./internal/segmented/errors.ts"
import * as Names from "./internal/segmented/names.ts"
import * as Operations from "./internal/segmented/operations.ts"
import * as Records from "./internal/segmented/records.ts"
import * as SegmentedOptions from "./internal/segmented/options.ts"
import { type Resolved, resolveOptions } from "./internal/segmented/options.ts"
import { recover } from "./internal/segmented/recover.ts"
import { SparseIndex } from "./internal/segmented/sparseIndex.ts"

/**
 * Why a directory cannot be opened as it is (sealed data missing or damaged).
 *
 * @since 0.2.0
 * @category errors
 */
export const SegmentDamaged = Errors.SegmentDamaged
/**
 * @since 0.2.0
 * @category errors
 */
export type SegmentDamaged = Errors.SegmentDamaged
/**
 * @since 0.2.0
 * @category errors
 */
export type DamageReason = Errors.DamageReason
/**
 * `read(lsn)` (or `truncateBack`, `checkpoint`, `records`) at an LSN where no record starts.
 *
 * @since 0.2.0
 * @category errors
 */
export const NoRecordAt = Errors.NoRecordAt
/**
 * @since 0.2.0
 * @category errors
 */
export type NoRecordAt = Errors.NoRecordAt
/**
 * Every way a segmented journal operation can fail: the single-file errors plus these two.
 *
 * @since 0.2.0
 * @category errors
 */
export type SegmentedJournalError = SegmentedError

/** 64 MiB: big enough that rotation (one close + rename + directory fsync) is rare. */
export const SEGMENT_BYTES_DEFAULT: number = SegmentedOptions.SEGMENT_BYTES_DEFAULT
/** Smallest segment: one log-buffer slot's minimum; smaller rotates on nearly every record. */
export const SEGMENT_BYTES_MIN: number = SegmentedOptions.SEGMENT_BYTES_MIN
export const SEGMENT_BYTES_MAX: number = SegmentedOptions.SEGMENT_BYTES_MAX

/**
 * @since 0.2.0
 * @category models
 */
export interface Options extends Journal.Options {
  /** Rotate once a segment holds this many bytes (at the next record boundary); default 64 MiB. */
  readonly segmentBytes?: number
  /** Retention: drop the oldest segments below the last checkpoint once the journal holds more. */
  readonly retainBytes?: number
  /**
   * Reuse a segment retention or truncateFront retires as the next standby (zeroed first)
   * instead of unlinking it: no extent is freed (or discarded) and none allocated per rotation.
   * Default false: another process reading a retired segment through a descriptor it already
   * holds (a lagging `fsys tail -f`) would see its bytes zeroed and then rewritten.
   */
  readonly recycleSegments?: boolean
}

/**
 * @since 0.2.0
 * @category models
 */
export interface SegmentInfo {
  readonly baseLsn: number
  readonly endLsn: number
  readonly bytes: number
  readonly sealed: boolean
  readonly path: string
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Checkpoint {
  readonly lsn: number
  readonly data: Uint8Array
}

/**
 * @since 0.2.0
 * @category models
 */
export interface SegmentedRecord {
  readonly lsn: number
  readonly payload: Uint8Array
}

/**
 * An open segmented journal: everything `Journal.Handle` has, plus the segment operations.
 *
 * @since 0.2.0
 * @category models
 */
export interface Handle {
  /** The directory. */
  readonly path: string
  readonly append: (payload: Uint8Array) => Effect.Effect<number, SegmentedError>
  readonly appendBatch: (payloads: ReadonlyArray<Uint8Array>) => Effect.Effect<number, SegmentedError>
  readonly syncThrough: (lsn: number) => Effect.Effect<void, SegmentedError>
  readonly sync: Effect.Effect<number, SegmentedError>
  readonly nextLsn: Effect.Effect<number>
  readonly syncedLsn: Effect.Effect<number>
  /** The active segment's `Journal.Info` (mode, backend, sector size and why). */
  readonly info: Effect.Effect<Journal.Info, SegmentedError>
  readonly stats: Effect.Effect<Journal.Stats>
  readonly close: Effect.Effect<void, SegmentedError>
  /** The payload of the record that starts at `lsn` (made durable first if it was not). */
  readonly read: (lsn: number) => Effect.Effect<Uint8Array, SegmentedError>
  /** Durable records from `from` (default `firstLsn`), across segments; `follow` waits for more. */
  readonly records: (options?: {
    readonly from?: number
    readonly follow?: boolean
  }) => Stream.Stream<SegmentedRecord, SegmentedError>
  readonly firstLsn: Effect.Effect<number>
  readonly truncateFront: (lsn: number) => Effect.Effect<void, SegmentedError>
  readonly truncateBack: (lsn: number) => Effect.Effect<void, SegmentedError>
  /**
   * Durably records "state through `lsn` is saved elsewhere". `lsn` must be a record boundary
   * (a record's start, `firstLsn` or `nextLsn`): otherwise `NoRecordAt` (inside a record or
   * below `firstLsn`) or `LsnOutOfRange` (past the end), and nothing is written.
   */
  readonly checkpoint: (lsn: number, data?: Uint8Array) => Effect.Effect<void, SegmentedError>
  readonly lastCheckpoint: Effect.Effect<Checkpoint | undefined>
  readonly segments: Effect.Effect<ReadonlyArray<SegmentInfo>>
}

/**
 * Opens (creating if needed) the segmented journal in `directory`, recovering after a crash;
 * closes with the Scope. Uses the ambient `FileIo` (Node by default).
 *
 * @since 0.2.0
 * @category constructors
 */
export const open = (directory: string, options?: Options): Effect.Effect<Handle, SegmentedError, Scope.Scope> =>
  Effect.gen(function* () {
    if (typeof directory !== "string" || directory.length === 0) {
      return yield* new InvalidOptions({ option: "directory", reason: "must be a non-empty string" })
    }
    const resolved = resolveOptions(options)
    if (resolved instanceof InvalidOptions) return yield* resolved
    const absolute = NodePath.resolve(directory)
    const parent = yield* Effect.scope
    const scope = yield* Scope.fork(parent, "sequential")
    const opened = yield* Effect.exit(Scope.provide(build(absolute, resolved, scope), scope))
    if (Exit.isFailure(opened)) {
      yield* Scope.close(scope, opened)
      return yield* Effect.failCause(opened.cause)
    }
    yield* Scope.addFinalizer(parent, Effect.ignore(opened.value.close))
    return opened.value
  }).pipe(Effect.withSpan("SegmentedJournal.open", { attributes: { directory } }))

const build = Effect.fnUntraced(function* (
  directory: string,
  resolved: Resolved,
  scope: Scope.Closeable,
): Effect.fn.Return<Handle, SegmentedError, Scope.Scope> {
  // Directory operations go through the ambient FileIo; each segment's journal selects its
  // backend from it as a single-file journal does (with the default, its own io_uring ring; a
  // provided io_uring layer is one ring whose fixed-buffer table the segments share).
  const io = yield* FileIo.FileIo
  if (yield* io.makeDirectory(directory)) yield* io.syncDirectory(NodePath.dirname(directory))
  const lockPath = NodePath.join(directory, Names.LOCK_NAME)
  const lock = yield* io.open(lockPath, { create: true })
  yield* io.lock(lock).pipe(
    Effect.catchIf(
      (error) => error.reason === "Busy",
      () => new JournalLocked({ path: directory }),
    ),
  )
  if (lock.created) yield* io.syncDirectory(directory)

  const recovered = yield* recover(io, directory)
  const engine = new Engine(
    {
      directory,
      io,
      journalOptions: resolved.journalOptions,
      standbyJournalOptions: resolved.standbyJournalOptions,
      segmentBytes: resolved.segmentBytes,
      retainBytes: resolved.retainBytes,
      standbyPreallocateBytes: resolved.standbyPreallocateBytes,
      recycleSegments: resolved.recycleSegments,
    },
    scope,
  )
  engine.checkpoint = recovered.checkpoint
  for (const sealed of recovered.sealed) {
    const segment = makeSegment(sealed.baseLsn, sealed.path, "sealed", sealed.index)
    segment.localEnd = sealed.endLsn - sealed.baseLsn
    Deferred.doneUnsafe(segment.named, Exit.void)
    Deferred.doneUnsafe(segment.sealed, Exit.void)
    engine.segments.push(segment)
  }
  const newest = makeSegment(recovered.newest.baseLsn, recovered.newest.path, "active", new SparseIndex())
  const active = yield* engine.openSegment(newest.path)
  newest.journal = active.journal
  newest.scope = active.scope
  Deferred.doneUnsafe(newest.named, Exit.void)
  engine.segments.push(newest)
  // Index the newest segment (its own open just recovered it to a clean end).
  yield* indexNewest(engine, newest)
  engine.syncedLsn = engine.nextLsn
  if (recovered.checkpoint !== undefined && recovered.checkpoint.lsn > engine.nextLsn) {
    return yield* new Errors.SegmentDamaged({
      directory,
      path: NodePath.join(directory, Names.CHECKPOINT_NAME),
      reason: "LsnMismatch",
      detail: `the checkpoint is at LSN ${recovered.checkpoint.lsn}, past the journal's end ${engine.nextLsn}`,
    })
  }
  yield* engine.mutex.withLock(engine.prepareStandby)
  return makeHandle(engine)
})

const indexNewest = Effect.fnUntraced(function* (engine: Engine, segment: ReturnType<typeof makeSegment>) {
  const io = engine.config.io
  const scan = yield* Effect.scoped(
    Effect.flatMap(io.open(segment.path, { readOnly: true }), (handle) =>
      scanHandle(io, handle, { onRecord: (lsn) => segment.index.note(lsn) }),
    ),
  )
  segment.localEnd = scan.cleanEnd
})

/** Under the directory lock: refuses later calls, closes the active segment and drops the standby. */
const closeSegments = (engine: Engine): Effect.Effect<void, SegmentedError> =>
  Effect.gen(function* () {
    engine.closed = true
    engine.signal()
    const failure = engine.failure
    const active = yield* Effect.exit(engine.closeSegment(engine.active))
    const standby = engine.standby
    engine.standby = undefined
    if (standby !== undefined) {
      yield* Effect.ignore(standby.journal.close)
      yield* Scope.close(standby.scope, Exit.void)
      // It never held a record; open would remove it anyway.
      yield* Effect.ignore(engine.config.io.remove(engine.standbyPath))
    }
    if (failure !== undefined) return yield* Effect.fail(failure)
    return yield* active
  })

const makeHandle = (engine: Engine): Handle => {
  let closeDone: Deferred.Deferred<void, SegmentedError> | undefined
  const close: Effect.Effect<void, SegmentedError> = Effect.suspend(() => {
    if (closeDone !== undefined) return Deferred.await(closeDone)
    const done = Deferred.makeUnsafe<void, SegmentedError>()
    closeDone = done
    return Effect.uninterruptible(
      Effect.gen(function* () {
        const outcome = yield* Effect.exit(engine.mutex.withLock(closeSegments(engine)))
        yield* Scope.close(engine.scope, Exit.void)
        Deferred.doneUnsafe(done, outcome)
        return yield* outcome
      }),
    )
  })
  return {
    path: engine.config.directory,
    append: (payload) => engine.append(payload),
    appendBatch: (payloads) => engine.appendBatch(payloads),
    syncThrough: (lsn) => engine.syncThrough(lsn),
    sync: Effect.suspend(() => {
      const target = engine.nextLsn
      return Effect.as(engine.syncThrough(target), target)
    }),
    nextLsn: Effect.sync(() => engine.nextLsn),
    syncedLsn: Effect.sync(() => engine.syncedLsn),
    info: Effect.suspend(() => {
      const journal = engine.active.journal
      return journal === undefined ? Effect.fail(engine.refusal() ?? engine.closedError) : journal.info
    }),
    stats: engine.stats,
    close,
    read: (lsn) => Operations.read(engine, lsn),
    records: (options) => Records.records(engine, options),
    firstLsn: Effect.sync(() => engine.firstLsn),
    truncateFront: (lsn) => Operations.truncateFront(engine, lsn),
    truncateBack: (lsn) => Operations.truncateBack(engine, lsn),
    checkpoint: (lsn, data) => Operations.checkpoint(engine, lsn, data),
    lastCheckpoint: Effect.sync(() => {
      const saved = engine.checkpoint
      return saved === undefined ? undefined : { lsn: saved.lsn, data: saved.data.slice() }
    }),
    segments: Effect.sync(() =>
      engine.segments.map((segment) => ({
        baseLsn: segment.baseLsn,
        endLsn: segment.baseLsn + segment.localEnd,
        bytes: segment.localEnd,
        sealed: segment.state !== "active",
        path: segment.path,
      })),
    ),
  }
}
