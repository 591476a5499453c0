/**
 * The write-ahead journal: append records, make them durable with group commit, recover after a
 * crash.
 *
 * On disk it is fsys's v1 format (no header; frames back to back; LSN = byte offset; see
 * `Frame`). Every record goes through the dual log buffer (`LogBuffer`): in Direct mode the file
 * is opened with O_DIRECT and the buffer writes whole sectors (zero-padded after the last frame,
 * rewritten by the next flush); in buffered mode the same buffer writes exactly the new bytes
 * through the page cache. The path of a record reads top-down: `Journal.append` → log buffer slot
 * → writer → `FileIo.writeAt` (over io_uring, a callback-form ring write) → io_uring or pwrite.
 *
 * The contract (what is durable when):
 * - `append` returns the record's end LSN once it is in the buffer: not yet durable, and not yet
 *   in the file (a process crash loses it).
 * - `syncThrough(lsn)` returns once every byte in `[0, lsn)` is on stable storage. Concurrent
 *   syncs coalesce into one flush + fdatasync (group commit); a sync already covered returns
 *   without a syscall.
 * - The first failed write or fdatasync poisons the journal (`JournalPoisoned`); records made
 *   durable before stay durable, and reopening recovers to the last clean frame.
 * - Open recovers: the clean end is found by a scan; a torn or corrupt tail is saved to
 *   `<path>.corrupt-<cleanEnd>` and truncated (see `internal/recovery/resume.ts`).
 * - One handle per file: a second open, here or in another process, fails with `JournalLocked`.
 *
 * @since 0.1.0
 */
import * as NodePath from "node:path"
import { Context, Effect, Exit, Layer, Scope, type Stream } from "effect"
import { InvalidOptions, type JournalError } from "./JournalError.ts"
import type { Backend } from "./FileIo.ts"
import * as Close from "./internal/journal/close.ts"
import * as JournalEngine from "./internal/journal/engine.ts"
import * as Entries from "./internal/journal/entries.ts"
import * as FastPath from "./internal/journal/fastPath.ts"
import * as Follower from "./internal/journal/follower.ts"
import * as Metrics from "./internal/journal/metrics.ts"
import * as JournalOptions from "./internal/journal/options.ts"

/**
 * How to open a journal: mode, slot size, group commit, backend, alignment, preallocation, and
 * what recovery does with an unreadable sector. Every field is optional and checked before
 * anything is opened (a bad one is `InvalidOptions` and changes nothing on disk); each field's
 * default and bounds are documented on the field (defined once, in `internal/journal/options.ts`).
 *
 * @since 0.1.0
 * @category models
 */
export type Options = JournalOptions.Options

/**
 * What the journal really uses, and why (fsys's habit: every fallback is observable).
 *
 * @since 0.1.0
 * @category models
 */
export interface Info {
  readonly path: string
  readonly mode: "direct" | "buffered"
  readonly directActive: boolean
  readonly backend: Backend
  /** The alignment Direct writes use (1 when buffered): `FileIo.journalAlignmentBytes` of the file. */
  readonly sectorBytes: number
  /** @deprecated Use `sectorBytes` (the same value; kept for 0.1.0 callers). */
  readonly sectorSize: number
  readonly logBufferBytes: number
  readonly reason: string
  /** Where open saved a corrupt tail, if it found one. */
  readonly sidecarPath: string | undefined
  /** Records found by the recovery scan at open. */
  readonly recoveredRecords: number
  /**
   * How sync rounds are made durable (`Options.syncMethod`): `"dsync"` only where it was asked
   * for and the backend can issue RWF_DSYNC writes (io_uring); otherwise `"fdatasync"`.
   */
  readonly syncMethod: "fdatasync" | "dsync"
}

/**
 * One record of `Handle.records`: its LSN and a copy of its payload (as `JournalReader.records`).
 *
 * @since 0.1.0
 * @category models
 */
export interface JournalRecord {
  readonly lsn: number
  readonly payload: Uint8Array
}

/**
 * Counters since open.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly appends: number
  readonly appendedBytes: number
  /** `syncThrough`/`sync` calls that had to wait for an fdatasync. */
  readonly syncRequests: number
  /**
   * Group-commit rounds; each is one fdatasync, or with `syncMethod: "dsync"` possibly one
   * RWF_DSYNC write instead (`dsyncWrites`).
   */
  readonly fdatasyncs: number
  /** RWF_DSYNC writes that made a round durable (a round split in two parts counts two). */
  readonly dsyncWrites: number
}

/**
 * An open journal. Valid until `close` or the end of the Scope that opened it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Handle {
  readonly path: string
  /** Appends one record; returns its end LSN (the LSN to pass to `syncThrough`). */
  readonly append: (payload: Uint8Array) => Effect.Effect<number, JournalError>
  /** Appends records in order; returns the end LSN of the last. Not atomic as a group. */
  readonly appendBatch: (payloads: ReadonlyArray<Uint8Array>) => Effect.Effect<number, JournalError>
  /**
   * Appends one record and returns its end LSN once it is durable: `append` then
   * `syncThrough(end)` in one call, the cheapest way for a producer that awaits each record.
   */
  readonly appendDurable: (payload: Uint8Array) => Effect.Effect<number, JournalError>
  /** Returns once `[0, lsn)` is durable. */
  readonly syncThrough: (lsn: number) => Effect.Effect<void, JournalError>
  /** Makes everything appended so far durable; returns that LSN. */
  readonly sync: Effect.Effect<number, JournalError>
  readonly nextLsn: Effect.Effect<number>
  readonly syncedLsn: Effect.Effect<number>
  readonly info: Effect.Effect<Info>
  readonly stats: Effect.Effect<Stats>
  /**
   * The journal's **durable** records in LSN order, read back from the file but never past
   * `syncedLsn`: a record appears only once an fdatasync covered it, so a consumer that stores
   * its position never sees a record a power cut could take back. Without `follow` it ends at
   * the durable frontier as of the call; with `follow` it emits records as group-commit rounds
   * make them durable (woken by the round, no polling of the file), ends after the records the
   * close made durable, and fails with `JournalPoisoned` if the journal is poisoned. `from` is
   * as for `JournalReader.records`. Fails with `JournalClosed` after close.
   */
  readonly records: (options?: Follower.FollowOptions) => Stream.Stream<JournalRecord, JournalError>
  /** Syncs everything appended, then releases the file, buffers and ring. Idempotent. */
  readonly close: Effect.Effect<void, JournalError>
}

/**
 * The journal's Effect metrics (process-wide, all journals): appends, appended bytes, sync
 * requests, fdatasyncs, waiters per fdatasync and round latency. Updated once per group-commit
 * round, so reading them shows the state as of the last sync.
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics = Metrics.journalMetrics

/**
 * Opens (creating if needed) the journal at `path`, recovering after a crash; closes with the
 * Scope. Uses the ambient `FileIo` (Node by default).
 *
 * @since 0.1.0
 * @category constructors
 */
export const open = (path: string, options?: Options): Effect.Effect<Handle, JournalError, Scope.Scope> =>
  Effect.gen(function* () {
    const badPath = JournalOptions.checkPath(path)
    if (badPath !== undefined) return yield* Effect.fail(badPath)
    const resolved = JournalOptions.resolve(options)
    if (resolved instanceof InvalidOptions) return yield* Effect.fail(resolved)
    const absolutePath = NodePath.resolve(path)
    const parent = yield* Effect.scope
    const scope = yield* Scope.fork(parent, "sequential")
    const opened = yield* Effect.exit(Scope.provide(build(absolutePath, resolved, scope), scope))
    if (Exit.isFailure(opened)) {
      yield* Scope.close(scope, opened)
      return yield* Effect.failCause(opened.cause)
    }
    const handle = opened.value
    yield* Scope.addFinalizer(parent, Effect.ignore(handle.close))
    return handle
  }).pipe(Effect.withSpan("Journal.open", { attributes: { path } }))

const build = Effect.fnUntraced(function* (
  path: string,
  options: JournalOptions.Resolved,
  scope: Scope.Closeable,
): Effect.fn.Return<Handle, JournalError, Scope.Scope> {
  const engine = yield* JournalEngine.open(path, options, scope)
  const { ambientFileIo, core, frontier, counters, groupCommit, poisoned } = engine
  const state = Entries.makeState(engine)
  const entries = Entries.make(state)

  const close = Close.make({
    claim: () => {
      state.closed = true
    },
    syncEverything: () => {
      const poison = core.poisonedBy
      return poison === undefined ? entries.syncAppended(core.nextLsn) : Effect.fail(poisoned(poison))
    },
    scope,
  })

  const handle: Handle = {
    path,
    append: entries.append,
    appendBatch: entries.appendBatch,
    appendDurable: entries.appendDurable,
    syncThrough: entries.syncThrough,
    sync: entries.sync,
    nextLsn: Effect.sync(() => core.nextLsn),
    syncedLsn: Effect.sync(() => groupCommit.syncedLsn),
    info: Effect.succeed(JournalEngine.info(engine, path, options.mode)),
    stats: Effect.sync(() => ({ ...counters, dsyncWrites: core.dsyncWrites })),
    records: (recordsOptions = {}) =>
      Follower.records(
        {
          path,
          fileIo: ambientFileIo,
          legacyGaps: options.legacyGaps,
          frontier,
          syncedLsn: () => groupCommit.syncedLsn,
          poisonedBy: () => core.poisonedBy,
        },
        recordsOptions,
        () => state.closed,
      ),
    close,
  }
  FastPath.register(handle, {
    tryAppend: entries.tryAppendNow,
    syncRefusal: entries.syncRefusal,
    resolveWhenDurable: (lsn, resolve, reject, value) => {
      if (lsn > groupCommit.syncedLsn) counters.syncRequests++
      groupCommit.resolveWhenDurable(lsn, resolve, reject, value)
    },
  })
  return handle
})

/**
 * The journal as an Effect service, for programs that provide their resources as layers (the way
 * Effect's platform services are provided). Built by `layer`; `yield* Journal.Journal` gives the
 * `Handle`.
 *
 * @since 0.1.0
 * @category services
 */
export class Journal extends Context.Service<Journal, Handle>()("@fsys/core/Journal") {}

/**
 * A layer that opens the journal at `path` when it is built and closes it (sync, then release)
 * when the layer's scope ends — `Journal.open` tied to the layer's life. Uses the ambient `FileIo`,
 * so `Journal.layer(path).pipe(Layer.provide(FileIoAuto.layer))` picks the backend by probing.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Journal } from "@fsys/core"
 *
 * const program = Effect.gen(function* () {
 *   const journal = yield* Journal.Journal
 *   yield* journal.syncThrough(yield* journal.append(new Uint8Array([1, 2, 3])))
 * })
 * Effect.runPromise(Effect.provide(program, Journal.layer("app.journal")))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (path: string, options?: Options): Layer.Layer<Journal, JournalError> =>
  Layer.effect(Journal, open(path, options))
