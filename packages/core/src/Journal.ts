/**
 * The write-ahead journal: append records, make them durable with group commit, recover after a
 * crash.
 *
 * On disk it is fsys's v1 format (no header; frames back to back; LSN = byte offset; see
 * `Frame`). Every record goes through the dual log buffer (`LogBuffer`): in Direct mode the file
 * is opened with O_DIRECT and the buffer writes whole sectors (zero-padded after the last frame,
 * rewritten by the next flush); in buffered mode the same buffer writes exactly the new bytes
 * through the page cache. The path of a record reads top-down: `Journal.append` → log buffer slot
 * → writer fiber → `FileIo.writeAt` → io_uring or pwrite.
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
import { Context, Deferred, Effect, Exit, Layer, Scope, type Stream } from "effect"
import type * as Duration from "effect/Duration"
import * as FileIo from "./FileIo.ts"
import * as Frame from "./Frame.ts"
import {
  InvalidOptions,
  JournalClosed,
  type JournalError,
  JournalPoisoned,
  LsnOutOfRange,
  RecordTooLarge,
} from "./JournalError.ts"
import * as LogBufferEngine from "./internal/logBuffer/make.ts"
import type { Backend } from "./FileIo.ts"
import * as FastPath from "./internal/journal/fastPath.ts"
import * as Follower from "./internal/journal/follower.ts"
import { GroupCommit } from "./internal/journal/groupCommit.ts"
import type { AppendError } from "./internal/logBuffer/core.ts"
import * as Metrics from "./internal/journal/metrics.ts"
import * as JournalOptions from "./internal/journal/options.ts"
import { plainView } from "./internal/journal/payload.ts"
import { openForAppend } from "./internal/recovery/resume.ts"
import { Mutations } from "./internal/testing.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** "direct" (default) uses O_DIRECT where the filesystem accepts it, else falls back (see `info`). */
  readonly mode?: "direct" | "buffered"
  /** Bytes per log-buffer slot (two slots): a power of two, 4 KiB–64 MiB; default 4 MiB. */
  readonly logBufferBytes?: number
  /** How long a group-commit round may wait for more syncers; default 0 (rounds run back to back). */
  readonly groupCommitWindow?: Duration.Input
  /** With a window: start the round once this many syncers wait; default 64. */
  readonly groupCommitMaxBatch?: number
  /** Default "auto": the provided FileIo layer, or io_uring when the kernel allows it, else pwrite. */
  readonly backend?: "auto" | "io_uring" | "pwrite"
  /** Also read fsys 1.1.0's zero-gapped files (see `JournalReader`); default false. */
  readonly legacyGaps?: boolean
  /** Direct-IO alignment override; default: `FileIo.directAlignment` of the open file (its physical sector when larger than the DIO alignment). */
  readonly sectorBytes?: number
  /**
   * Bytes kept written with zeros ahead of the end of the log, so syncs overwrite written blocks
   * instead of growing the file: fdatasync then has no size or allocation to commit
   * (`scripts/sync-cost.ts` measures the difference). Done by sync rounds only, so a bulk loader never
   * writes its bytes twice. 0 turns it off; default 8 MiB or four log buffers, whichever is
   * larger. Zeros read as a clean end, so the file stays a valid fsys journal; a failing zero
   * write only turns preallocation off.
   */
  readonly preallocateBytes?: number
  /**
   * When recovery cannot read a sector (EIO): "fail" (default) refuses with `JournalUnreadable`,
   * naming the offset, and changes nothing; "truncate" keeps the records before it, saving the
   * rest to the sidecar (unreadable bytes as zeros) — see docs/CRASH-SAFETY.md.
   */
  readonly onReadError?: "fail" | "truncate"
}

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
  readonly sectorSize: number
  readonly logBufferBytes: number
  readonly reason: string
  /** Where open saved a corrupt tail, if it found one. */
  readonly sidecarPath: string | undefined
  /** Records found by the recovery scan at open. */
  readonly recoveredRecords: number
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
  /** Group-commit rounds; each is one fdatasync. */
  readonly fdatasyncs: number
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
export const metrics = {
  appends: Metrics.appends,
  appendedBytes: Metrics.appendedBytes,
  syncRequests: Metrics.syncRequests,
  fdatasyncs: Metrics.fdatasyncs,
  waitersPerSync: Metrics.waitersPerSync,
  syncLatencyMicros: Metrics.syncLatencyMicros,
} as const

/** At most this many appends, or this many bytes copied, between two event-loop turns. */
const YIELD_AFTER_APPENDS = 1024
const YIELD_AFTER_BYTES = 256 * 1024
/** Payloads of one `appendBatch` checked per event-loop turn (≈ 2 ms even before the JIT warms up). */
const VALIDATE_PER_TURN = 16 * 1024

/**
 * Opens (creating if needed) the journal at `path`, recovering after a crash; closes with the
 * Scope. Uses the ambient `FileIo` (Node by default).
 *
 * @since 0.1.0
 * @category constructors
 */
export const open = (path: string, options?: Options): Effect.Effect<Handle, JournalError, Scope.Scope> =>
  Effect.gen(function* () {
    if (typeof path !== "string" || path.length === 0) {
      return yield* Effect.fail(new InvalidOptions({ option: "path", reason: "must be a non-empty string" }))
    }
    // node:fs throws on a NUL byte (a defect), and no file system can name a file with one.
    if (path.includes("\0")) {
      return yield* Effect.fail(new InvalidOptions({ option: "path", reason: "must not contain a NUL byte" }))
    }
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
): Effect.fn.Return<Handle, JournalError, Scope.Scope | FileIo.FileIo> {
  // The durable follower reads through this one, never through the journal's own ring.
  const ambientFileIo = yield* FileIo.FileIo
  const opened = yield* openForAppend(path, {
    mode: options.mode,
    requireDirect: false,
    backend: options.backend,
    legacyGaps: options.legacyGaps,
    onReadError: options.onReadError,
    ...(options.sectorBytes === undefined ? {} : { sectorBytes: options.sectorBytes }),
  })
  const logBufferBytes = Math.max(options.logBufferBytes, 2 * opened.sectorBytes)
  let reason = opened.reason
  const core = yield* LogBufferEngine.make({
    onRegistered: (registration) => {
      if (registration.reason !== "") reason = `${opened.reason}; ${registration.reason}`
    },
    handle: opened.handle,
    capacityBytes: logBufferBytes,
    sectorBytes: opened.sectorBytes,
    startLsn: opened.cleanEnd,
    carry: opened.carry,
    preallocateBytes: options.preallocateBytes,
    fileSizeBytes: opened.fileSize,
  }).pipe(Effect.provideService(FileIo.FileIo, opened.fileIo))

  /** No new calls once `close` started. */
  let closed = false
  const closedError = new JournalClosed({ path })
  /** The buffer's refusal as the journal reports it: only an IoError poisons. */
  const poisoned = (cause: AppendError): JournalError =>
    cause._tag === "IoError" ? new JournalPoisoned({ path, cause }) : cause

  const frontier = new Follower.Frontier()
  yield* Scope.addFinalizer(
    scope,
    Effect.sync(() => frontier.end()),
  )
  const metricsContext = yield* Effect.context<never>()
  const counters: Metrics.Counters = { appends: 0, appendedBytes: 0, syncRequests: 0, fdatasyncs: 0 }
  const published: Metrics.Counters = { appends: 0, appendedBytes: 0, syncRequests: 0, fdatasyncs: 0 }
  // Read once, at open: a test-only mutation is a construction option, never a global switch.
  const mutations = yield* Mutations
  const groupCommit = new GroupCommit<JournalError>(
    {
      core,
      publishFrontierEarly: mutations.publishFrontierEarly,
      toError: (cause) => poisoned(cause),
      windowMicros: options.windowMicros,
      maxBatch: options.maxBatch,
      onRound: (latencyMicros, waiters) => {
        frontier.advance()
        counters.fdatasyncs++
        const delta: Metrics.Counters = {
          appends: counters.appends - published.appends,
          appendedBytes: counters.appendedBytes - published.appendedBytes,
          syncRequests: counters.syncRequests - published.syncRequests,
          fdatasyncs: counters.fdatasyncs - published.fdatasyncs,
        }
        Object.assign(published, counters)
        Metrics.publishRoundUnsafe(metricsContext, delta, waiters, latencyMicros)
      },
    },
    opened.cleanEnd,
  )
  // Forked once, here: a sync never forks, so no interrupt can separate a round from its server.
  yield* Effect.forkIn(groupCommit.committer, scope)

  const appendSlow = (payload: Uint8Array): Effect.Effect<number, JournalError> =>
    core.append(payload).pipe(
      Effect.tap(() =>
        Effect.sync(() => {
          counters.appends++
          counters.appendedBytes += payload.byteLength + Frame.OVERHEAD
        }),
      ),
      Effect.mapError(poisoned),
    )

  /** The payload as a plain view of the caller's bytes, or why it cannot be appended. */
  const checkPayload = (payload: Uint8Array): Uint8Array | JournalError => {
    const view = plainView(payload)
    if (view instanceof InvalidOptions) return view
    if (view.byteLength > Frame.MAX_PAYLOAD) {
      return new RecordTooLarge({ payloadBytes: view.byteLength, maxPayloadBytes: Frame.MAX_PAYLOAD })
    }
    return view
  }

  // Appends that find room never wait, so a producer looping on them would keep the event loop
  // until Effect's scheduler yields (every 2048 operations: 100 ms and more with large records).
  // Yielding after a bounded amount of copying keeps the event-loop delay low.
  let bytesSinceYield = 0
  let appendsSinceYield = 0
  const completed = (end: number, frameBytes: number): Effect.Effect<number> => {
    bytesSinceYield += frameBytes
    if (++appendsSinceYield < YIELD_AFTER_APPENDS && bytesSinceYield < YIELD_AFTER_BYTES) return Effect.succeed(end)
    bytesSinceYield = 0
    appendsSinceYield = 0
    return Effect.as(Effect.yieldNow, end)
  }

  const append = (payload: Uint8Array): Effect.Effect<number, JournalError> =>
    Effect.suspend(() => {
      if (closed) return Effect.fail(closedError)
      const view = checkPayload(payload)
      if (!(view instanceof Uint8Array)) return Effect.fail(view)
      const end = core.tryAppend(view)
      if (end === undefined) return appendSlow(view)
      const frameBytes = view.byteLength + Frame.OVERHEAD
      counters.appends++
      counters.appendedBytes += frameBytes
      return completed(end, frameBytes)
    })

  /** The Promise API's synchronous append (`internal/journal/fastPath.ts`): `append`'s fast path. */
  const tryAppendNow = (payload: Uint8Array, budgeted: boolean): number | JournalError | undefined => {
    if (closed) return closedError
    const view = checkPayload(payload)
    if (!(view instanceof Uint8Array)) return view
    const frameBytes = view.byteLength + Frame.OVERHEAD
    // A spent budget goes the Effect way, whose `completed` yields to the event loop.
    if (budgeted && (appendsSinceYield + 1 >= YIELD_AFTER_APPENDS || bytesSinceYield + frameBytes >= YIELD_AFTER_BYTES))
      return undefined
    const end = core.tryAppend(view)
    if (end === undefined) return undefined
    counters.appends++
    counters.appendedBytes += frameBytes
    if (budgeted) {
      appendsSinceYield++
      bytesSinceYield += frameBytes
    }
    return end
  }

  const appendBatch = (payloads: ReadonlyArray<Uint8Array>): Effect.Effect<number, JournalError> =>
    Effect.suspend(() => {
      if (closed) return Effect.fail(closedError)
      if (!Array.isArray(payloads))
        return Effect.fail(new InvalidOptions({ option: "payloads", reason: "must be an array" }))
      return Effect.flatMap(validateBatch(payloads), ({ accepted, bytes }) =>
        core.appendBatch(accepted).pipe(
          Effect.mapError(poisoned),
          Effect.flatMap((end) => {
            counters.appends += accepted.length
            counters.appendedBytes += bytes
            return completed(end, bytes)
          }),
        ),
      )
    })

  /**
   * Checks every payload before anything is appended (bad input changes nothing on disk). A big
   * batch is checked `VALIDATE_PER_TURN` payloads per event-loop turn (1 M payloads took 120 ms
   * in one turn) into a copy of the array, so the caller cannot swap an element after its check.
   */
  /**
   * Validates a batch into a private array of plain views (the caller's array may change while
   * the batch waits), `VALIDATE_PER_TURN` payloads per event-loop turn.
   */
  const validateBatch = (
    payloads: ReadonlyArray<Uint8Array>,
  ): Effect.Effect<{ readonly accepted: ReadonlyArray<Uint8Array>; readonly bytes: number }, JournalError> => {
    const accepted: Array<Uint8Array> = []
    const check = (from: number, to: number): number | JournalError => {
      let bytes = 0
      for (let i = from; i < to; i++) {
        const view = checkPayload(payloads[i]!)
        if (!(view instanceof Uint8Array)) return view
        bytes += view.byteLength + Frame.OVERHEAD
        accepted.push(view)
      }
      return bytes
    }
    if (payloads.length <= VALIDATE_PER_TURN) {
      const bytes = check(0, payloads.length)
      return typeof bytes === "number" ? Effect.succeed({ accepted, bytes }) : Effect.fail(bytes)
    }
    return Effect.gen(function* () {
      let bytes = 0
      for (let from = 0; from < payloads.length; from += VALIDATE_PER_TURN) {
        if (from > 0) yield* Effect.yieldNow
        const checked = check(from, Math.min(payloads.length, from + VALIDATE_PER_TURN))
        if (typeof checked !== "number") return yield* Effect.fail(checked)
        bytes += checked
      }
      return { accepted, bytes }
    })
  }

  /** The group-commit wait for an already validated LSN. */
  const syncAppended = (lsn: number): Effect.Effect<void, JournalError> => {
    if (lsn <= groupCommit.syncedLsn) return Effect.void
    counters.syncRequests++
    return groupCommit.syncThrough(lsn)
  }

  /** Why `syncThrough(lsn)` must fail at once (closed, or an LSN not appended), if it must. */
  const syncRefusal = (lsn: number): JournalError | undefined => {
    if (closed) return closedError
    const nextLsn = core.nextLsn
    if (typeof lsn !== "number" || !Number.isSafeInteger(lsn) || lsn < 0 || lsn > nextLsn) {
      return new LsnOutOfRange({ lsn, nextLsn })
    }
    return undefined
  }

  const syncThrough = (lsn: number): Effect.Effect<void, JournalError> =>
    Effect.suspend(() => {
      const refusal = syncRefusal(lsn)
      return refusal === undefined ? syncAppended(lsn) : Effect.fail(refusal)
    })

  // One call per durable record, one primitive, one park: the append runs when the callback is
  // registered (the Effect is still lazy: nothing happens until it runs), and the round resumes
  // the fiber with the record's end LSN. No `suspend`, no `as` around the wait, no second yield.
  const appendDurable = (payload: Uint8Array): Effect.Effect<number, JournalError> =>
    Effect.callback<number, JournalError>((resume) => {
      if (closed) return resume(Effect.fail(closedError))
      const view = checkPayload(payload)
      if (!(view instanceof Uint8Array)) return resume(Effect.fail(view))
      const end = core.tryAppend(view)
      if (end === undefined) {
        return resume(Effect.flatMap(appendSlow(view), (slowEnd) => Effect.as(syncAppended(slowEnd), slowEnd)))
      }
      counters.appends++
      counters.appendedBytes += view.byteLength + Frame.OVERHEAD
      counters.syncRequests++
      groupCommit.resumeWhenDurable(end, resume)
    })

  const sync: Effect.Effect<number, JournalError> = Effect.suspend(() => {
    const target = core.nextLsn
    return Effect.as(syncThrough(target), target)
  })

  const info: Info = {
    path,
    mode: options.mode,
    directActive: opened.directActive,
    backend: opened.fileIo.backend,
    sectorSize: opened.sectorBytes,
    logBufferBytes,
    reason,
    sidecarPath: opened.sidecarPath,
    recoveredRecords: opened.records,
  }

  // Close syncs what was appended, then releases in reverse order of acquisition whatever
  // happened. The first caller runs it; every later caller waits for the same outcome.
  // The claim (`closeDone`, `closed`) and the region that completes it are one uninterruptible
  // step: claimed in a plain `suspend`, an interrupt at the yield before the region would leave a
  // claim nobody completes, and the scope's finalizer (another close) would wait for it forever.
  // An interrupted caller's close still runs to the end (the file is released); only its wait for
  // the outcome is cut short.
  let closeDone: Deferred.Deferred<void, JournalError> | undefined
  const close: Effect.Effect<void, JournalError> = Effect.uninterruptibleMask((restore) =>
    Effect.suspend(() => {
      if (closeDone !== undefined) return restore(Deferred.await(closeDone))
      const done = Deferred.makeUnsafe<void, JournalError>()
      closeDone = done
      closed = true
      return Effect.gen(function* () {
        const poison = core.poisonedBy
        const synced = yield* Effect.exit(
          poison === undefined ? syncAppended(core.nextLsn) : Effect.fail(poisoned(poison)),
        )
        yield* Scope.close(scope, Exit.void)
        Deferred.doneUnsafe(done, Exit.isSuccess(synced) ? Exit.void : Exit.failCause(synced.cause))
        return yield* synced
      })
    }),
  )

  const handle: Handle = {
    path,
    append,
    appendBatch,
    appendDurable,
    syncThrough,
    sync,
    nextLsn: Effect.sync(() => core.nextLsn),
    syncedLsn: Effect.sync(() => groupCommit.syncedLsn),
    info: Effect.succeed(info),
    stats: Effect.sync(() => ({ ...counters })),
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
        () => closed,
      ),
    close,
  }
  FastPath.register(handle, {
    tryAppend: tryAppendNow,
    syncRefusal,
    whenDurable: (lsn, callback) => {
      if (lsn > groupCommit.syncedLsn) counters.syncRequests++
      groupCommit.whenDurable(lsn, callback)
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
