/**
 * The journal for code that does not use Effect: every call returns a Promise, reading is an
 * async iterable, and failures reject with the same tagged error classes as the Effect API.
 *
 * ```ts
 * import { openJournal, records } from "@fsys/core/promise"
 *
 * await using journal = await openJournal("app.journal")
 * const end = await journal.append(new TextEncoder().encode("hello")) // in the log buffer
 * await journal.syncThrough(end) // on stable storage
 * for await (const record of records("app.journal")) console.log(record.lsn, record.payload)
 * ```
 *
 * It is a thin layer over the same engine (`Journal.open`, `JournalReader`), not a second
 * implementation: one `Effect.runPromise` per call, except on the two hot paths. `append` of a
 * record that fits the log buffer's active slot is placed synchronously (no Effect is built or
 * run: `Effect.runPromise` alone costs ≈ 0.8 µs here, more than the append) and resolves an
 * already settled Promise; `appendDurable` does the same and then waits on its group-commit
 * round through one plain callback, one Promise per record; `syncThrough` checks its LSN with
 * the Effect API's own check and waits the same way. Both go the Effect way whenever
 * the record does not fit right away (a full slot, an oversize record, a batch in progress, or,
 * for `append`, after 1024 appends without an event-loop yield), and both check their input
 * with the same code and fail with the same error objects as the Effect API.
 *
 * `tryAppend` is `append` without the Promise, for producers that append faster than they sync:
 * it places the record in the caller's call and returns its end LSN, or answers `undefined`
 * whenever `append` would take the Effect way, and then `await append(record)` places it and
 * lets the event loop turn. The already settled Promise and the `await` on it were a third of an
 * unsynced 100 B append's time here (`fsys bench --workloads unsynced-1p-100B`: 397–431 K/s with
 * `append`, 573–754 K/s with `tryAppend`).
 *
 * The journal lives in a `Scope` made at `openJournal` and closed by `close` (or `await using`),
 * which is what `Effect.scoped` does for an Effect program.
 *
 * Errors: `Effect.runPromise` rejects with the failure itself (Effect 4 squashes the `Cause` to its
 * first error), so `error instanceof JournalLocked`, `error._tag` and `error.message` all work.
 * The classes are re-exported here so a caller needs no other import. An interruption (never
 * caused by this API itself) rejects with a plain `Error`.
 *
 * The file is lowercase because it is an entry point for non-Effect users, imported by name
 * (`import { openJournal } from "@fsys/core/promise"`), not a namespace module like `Journal`.
 *
 * @since 0.1.0
 */
import { Effect, Exit, Scope, Stream } from "effect"
import { violated } from "./internal/assert.ts"
import * as FastPath from "./internal/journal/fastPath.ts"
import * as EffectJournal from "./Journal.ts"
import type { JournalError } from "./JournalError.ts"
import * as JournalReader from "./JournalReader.ts"
import * as SegmentedJournalEffect from "./SegmentedJournal.ts"

export { IoError } from "@fsys/native/IoError"
export {
  InvalidOptions,
  JournalClosed,
  type JournalError,
  JournalLocked,
  JournalPoisoned,
  LsnOutOfRange,
  NotAJournal,
  RecordTooLarge,
} from "./JournalError.ts"
export { NoRecordAt, SegmentDamaged } from "./SegmentedJournal.ts"

/**
 * @since 0.1.0
 * @category models
 */
export type Options = EffectJournal.Options

/**
 * @since 0.1.0
 * @category models
 */
export type Info = EffectJournal.Info

/**
 * @since 0.1.0
 * @category models
 */
export type Stats = EffectJournal.Stats

/**
 * @since 0.1.0
 * @category models
 */
export type JournalRecord = JournalReader.JournalRecord

/**
 * @since 0.1.0
 * @category models
 */
export type ScanResult = JournalReader.ScanResult

/**
 * `from` and `follow` as for `JournalReader.records`: only records with `lsn ≥ from`; with
 * `follow`, keep waiting for new records at the clean end until the loop breaks.
 *
 * @since 0.1.0
 * @category models
 */
export type RecordsOptions = JournalReader.RecordsOptions

/**
 * What a single-file and a segmented journal both offer: appends and syncs, and `close` through
 * `[Symbol.asyncDispose]`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Appender extends AsyncDisposable {
  readonly path: string
  /** Appends one record; resolves to its end LSN (the LSN to pass to `syncThrough`). */
  readonly append: (payload: Uint8Array) => Promise<number>
  /** Appends records in order; resolves to the end LSN of the last. Not atomic as a group. */
  readonly appendBatch: (payloads: ReadonlyArray<Uint8Array>) => Promise<number>
  /** Resolves once every byte in `[0, lsn)` is durable (concurrent calls share one fdatasync). */
  readonly syncThrough: (lsn: number) => Promise<void>
  /** Makes everything appended so far durable; resolves to that LSN. */
  readonly sync: () => Promise<number>
}

/**
 * An open journal. The contract is the Effect API's `Journal.Handle`: `append` returns once the record is in the
 * log buffer (not yet durable), `syncThrough(lsn)` once `[0, lsn)` is on stable storage.
 *
 * @since 0.1.0
 * @category models
 */
export interface Journal extends Appender {
  /**
   * Appends one record and resolves to its end LSN once it is durable: `append` then
   * `syncThrough(end)` in one call, and the cheapest way for a producer that awaits each record
   * (one Promise per record when the record fits the log buffer's active slot).
   */
  readonly appendDurable: (payload: Uint8Array) => Promise<number>
  /**
   * Appends one record now, without a Promise, if that needs no wait: returns its end LSN (the
   * record is in the log buffer, as after `await append(payload)`), or `undefined` when placing
   * it would have to wait — the active slot is full, the record is larger than a slot, or the
   * appends of this event-loop turn used up their budget. Then `await append(payload)`: it places
   * the same record (`tryAppend` placed nothing) and lets the event loop turn. Throws what
   * `append` rejects with (`JournalClosed`, `RecordTooLarge`, `InvalidOptions` for a payload
   * that is not a plain `Uint8Array`), and a refused record changes nothing. For producers that append faster than they sync:
   * `journal.tryAppend(record) ?? (await journal.append(record))`.
   */
  readonly tryAppend: (payload: Uint8Array) => number | undefined
  /** What the journal really uses (mode, backend, sector size) and why. */
  readonly info: () => Info
  /** The LSN the next append will start at. */
  readonly nextLsn: () => number
  /** Every byte before this LSN is durable. */
  readonly syncedLsn: () => number
  readonly stats: () => Stats
  /** Syncs everything appended, then releases the file, buffers and ring. Idempotent. */
  readonly close: () => Promise<void>
}

/**
 * Opens (creating if needed) the journal at `path`, recovering after a crash (see `Journal.open`).
 * Rejects with `JournalLocked` if another handle has it, `NotAJournal`, `InvalidOptions` or an
 * `IoError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const openJournal = async (path: string, options?: Options): Promise<Journal> => {
  const scope = Scope.makeUnsafe()
  const opened = await Effect.runPromiseExit(Scope.provide(EffectJournal.open(path, options), scope))
  if (Exit.isFailure(opened)) {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    return Effect.runPromise(Effect.failCause(opened.cause))
  }
  return fromHandle(opened.value, scope)
}

const fromHandle = (handle: EffectJournal.Handle, scope: Scope.Closeable): Journal => {
  const info = Effect.runSync(handle.info)
  // Closing the handle syncs and releases; closing the scope afterwards is what a scoped Effect
  // program would do (its finalizer calls the same idempotent close).
  const closing: Effect.Effect<void, JournalError> = Effect.ensuring(handle.close, Scope.close(scope, Exit.void))
  let closed: Promise<void> | undefined
  const close = (): Promise<void> => (closed ??= Effect.runPromise(closing))
  const fast = FastPath.lookup(handle)
  if (fast === undefined) return violated("a journal handle without its fast path")
  const append = (payload: Uint8Array): Promise<number> => {
    const placed = fast.tryAppend(payload, true)
    if (typeof placed === "number") return Promise.resolve(placed)
    return placed === undefined ? Effect.runPromise(handle.append(payload)) : Promise.reject(placed)
  }
  const tryAppend = (payload: Uint8Array): number | undefined => {
    const placed = fast.tryAppend(payload, true)
    if (placed === undefined || typeof placed === "number") return placed
    throw placed
  }
  // `new Promise` with its resolving functions taken out of the executor, handed to the round as
  // they are: a durable append costs this one Promise (no closure of ours, no result object as
  // `Promise.withResolvers` builds).
  const whenDurable = <A extends number | undefined>(lsn: number, value: A): Promise<A> => {
    let resolve!: (value: A) => void
    let reject!: (failure: JournalError) => void
    const promise = new Promise<A>((resolvePromise, rejectPromise) => {
      resolve = resolvePromise
      reject = rejectPromise
    })
    fast.resolveWhenDurable(lsn, resolve, reject, value)
    return promise
  }
  const syncThrough = (lsn: number): Promise<void> => {
    const refusal = fast.syncRefusal(lsn)
    return refusal !== undefined ? Promise.reject(refusal) : whenDurable(lsn, undefined)
  }
  const appendDurable = (payload: Uint8Array): Promise<number> => {
    const placed = fast.tryAppend(payload, false)
    if (placed === undefined) return Effect.runPromise(handle.appendDurable(payload))
    if (typeof placed !== "number") return Promise.reject(placed)
    return whenDurable(placed, placed)
  }
  return {
    path: handle.path,
    append,
    appendDurable,
    tryAppend,
    appendBatch: (payloads) => Effect.runPromise(handle.appendBatch(payloads)),
    syncThrough,
    sync: () => Effect.runPromise(handle.sync),
    info: () => info,
    nextLsn: () => Effect.runSync(handle.nextLsn),
    syncedLsn: () => Effect.runSync(handle.syncedLsn),
    stats: () => Effect.runSync(handle.stats),
    close,
    [Symbol.asyncDispose]: close,
  }
}

/**
 * Finds the clean end of the journal at `path` and counts its valid records (see
 * `JournalReader.scan`). Needs no open journal.
 *
 * @since 0.1.0
 * @category constructors
 */
export const scan = (path: string, options?: JournalReader.ScanOptions): Promise<ScanResult> =>
  Effect.runPromise(JournalReader.scan(path, options))

/**
 * The valid records of the journal at `path`, in LSN order, for `for await`. Ends at the clean end,
 * or with `follow` keeps waiting for new ones; breaking out of the loop closes the file.
 *
 * @since 0.1.0
 * @category constructors
 */
export const records = (path: string, options?: RecordsOptions): AsyncIterable<JournalRecord> =>
  Stream.toAsyncIterable(JournalReader.records(path, options))

/**
 * An open segmented journal: everything `Journal` has, plus the segment operations (see the
 * Effect API's `SegmentedJournal.Handle` for the contract of each).
 *
 * @since 0.2.0
 * @category models
 */
export interface SegmentedJournal extends Appender {
  readonly info: () => Promise<Info>
  readonly nextLsn: () => number
  readonly syncedLsn: () => number
  readonly stats: () => Promise<Stats>
  readonly close: () => Promise<void>
  /** The payload of the record that starts at `lsn`; rejects with `NoRecordAt` when none does. */
  readonly read: (lsn: number) => Promise<Uint8Array>
  /** Durable records from `from` (default `firstLsn`), across segments; `follow` waits for more. */
  readonly records: (options?: { readonly from?: number; readonly follow?: boolean }) => AsyncIterable<JournalRecord>
  readonly firstLsn: () => number
  readonly truncateFront: (lsn: number) => Promise<void>
  readonly truncateBack: (lsn: number) => Promise<void>
  readonly checkpoint: (lsn: number, data?: Uint8Array) => Promise<void>
  readonly lastCheckpoint: () => SegmentedJournalEffect.Checkpoint | undefined
  readonly segments: () => ReadonlyArray<SegmentedJournalEffect.SegmentInfo>
}

/**
 * Opens (creating if needed) the segmented journal in `directory`, recovering after a crash (see
 * `SegmentedJournal.open`). Rejects with `JournalLocked`, `SegmentDamaged`, `InvalidOptions` or
 * an `IoError`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const openSegmentedJournal = async (
  directory: string,
  options?: SegmentedJournalEffect.Options,
): Promise<SegmentedJournal> => {
  const scope = Scope.makeUnsafe()
  const opened = await Effect.runPromiseExit(Scope.provide(SegmentedJournalEffect.open(directory, options), scope))
  if (Exit.isFailure(opened)) {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    return Effect.runPromise(Effect.failCause(opened.cause))
  }
  const handle = opened.value
  const closing = Effect.ensuring(handle.close, Scope.close(scope, Exit.void))
  let closed: Promise<void> | undefined
  const close = (): Promise<void> => (closed ??= Effect.runPromise(closing))
  return {
    path: handle.path,
    append: (payload) => Effect.runPromise(handle.append(payload)),
    appendBatch: (payloads) => Effect.runPromise(handle.appendBatch(payloads)),
    syncThrough: (lsn) => Effect.runPromise(handle.syncThrough(lsn)),
    sync: () => Effect.runPromise(handle.sync),
    info: () => Effect.runPromise(handle.info),
    nextLsn: () => Effect.runSync(handle.nextLsn),
    syncedLsn: () => Effect.runSync(handle.syncedLsn),
    stats: () => Effect.runPromise(handle.stats),
    close,
    read: (lsn) => Effect.runPromise(handle.read(lsn)),
    records: (recordsOptions) => Stream.toAsyncIterable(handle.records(recordsOptions)),
    firstLsn: () => Effect.runSync(handle.firstLsn),
    truncateFront: (lsn) => Effect.runPromise(handle.truncateFront(lsn)),
    truncateBack: (lsn) => Effect.runPromise(handle.truncateBack(lsn)),
    checkpoint: (lsn, data) => Effect.runPromise(handle.checkpoint(lsn, data)),
    lastCheckpoint: () => Effect.runSync(handle.lastCheckpoint),
    segments: () => Effect.runSync(handle.segments),
    [Symbol.asyncDispose]: close,
  }
}
