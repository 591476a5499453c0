/**
 * The live segmented journal: the chain of segments, appends routed to the active one, rotation,
 * and syncs that span segments.
 *
 * State per segment (`Segment`), with its invariants:
 * - `active` (exactly one: the last): appends go to its `Journal.Handle`; `localEnd` is the end of
 *   the last record whose append returned, exact whenever `inflight` is 0.
 * - `sealing`: no append will ever reach it again (it was swapped out with `inflight` 0, so no
 *   append was under way); its rotation is closing it (sync + release).
 * - `sealed`: closed, fully durable, immutable until truncateFront/retention deletes it or
 *   truncateBack reopens it.
 * - `named` completes once the segment's name and every byte before its base are durable; no sync
 *   in the segment returns before (a new segment's name is durable before any record in it is
 *   acknowledged, and a sync that spans two segments makes both durable).
 * - `sealed` completes once every byte of the segment is durable.
 *
 * Rotation (`maybeRotate`, synchronous, inside an append; the rest in rotation.ts): once the active segment holds
 * `segmentBytes`, no append is in flight on it, the standby is ready and the directory lock is
 * free, the standby becomes the active segment in the same turn (the new base is the old
 * segment's exact end) and a rotation fiber, holding the directory lock, closes the old segment,
 * cuts its preallocated zeros, renames the standby to `<base>.journal`, fsyncs the directory,
 * applies retention and prepares (and preallocates) the next standby. Appends never wait for any
 * of it; only when the standby is not ready yet (normally it has been since the previous
 * rotation) does an append to a full segment wait for it (`enter`).
 *
 * @internal
 */
import * as NodePath from "node:path"
import { Deferred, Effect, Exit, Scope } from "effect"
import { IoError } from "@fsys/native"
import * as FileIo from "../../FileIo.ts"
import * as Frame from "../../Frame.ts"
import type * as Journal from "../../Journal.ts"
import { open as openJournal } from "../../Journal.ts"
import { JournalClosed, type JournalError, JournalPoisoned, LsnOutOfRange } from "../../JournalError.ts"
import type { NoRecordAt, SegmentDamaged } from "./errors.ts"
import { Mutex } from "./mutex.ts"
import * as Names from "./names.ts"
import type * as SmallFile from "./smallFile.ts"
import { rotate } from "./rotation.ts"
import { appended, appendNow, emptyStats, makeSegment, noteAppend, type Segment } from "./segment.ts"
import { prepareStandby } from "./standby.ts"

export { makeSegment, type Segment } from "./segment.ts"

export type SegmentedError = JournalError | NoRecordAt | SegmentDamaged

export interface Opened {
  readonly journal: Journal.Handle
  readonly scope: Scope.Closeable
}

export interface Config {
  readonly directory: string
  readonly io: FileIo.FileIoService
  /** For the segment found newest at open (and reopened by truncateBack). */
  readonly journalOptions: Journal.Options
  /** For standbys: preallocated whole before use, so their own preallocation is normally off. */
  readonly standbyJournalOptions: Journal.Options
  readonly segmentBytes: number
  readonly retainBytes: number | undefined
  /** Zeros written into a new standby after it is opened (0 = none): the journal's preallocation. */
  readonly standbyPreallocateBytes: number
  /** Reuse retired segments as standbys instead of unlinking them (`recycle.ts`). */
  readonly recycleSegments: boolean
}

export class Engine {
  readonly segments: Array<Segment> = []
  standby: Opened | undefined = undefined
  checkpoint: SmallFile.Control | undefined = undefined
  /** Every byte below it is durable (a lower bound of the truth). */
  syncedLsn = 0
  failure: SegmentedError | undefined = undefined
  closed = false
  /** Set while truncateBack rewrites the end: appends wait for it. */
  gate: Deferred.Deferred<void> | undefined = undefined
  /** Completed when the active segment's in-flight appends drain to 0. */
  drainWaiter: Deferred.Deferred<void> | undefined = undefined
  readonly mutex = new Mutex(() => this.signal())
  /**
   * Completed (and dropped) whenever something a waiting append depends on changed; made only
   * when an append waits, so the common append (which signals on every drain to 0) allocates none.
   */
  private changed: Deferred.Deferred<void> | undefined = undefined
  readonly accumulated = emptyStats()
  readonly closedError: JournalClosed
  readonly standbyPath: string
  /** Where a retired segment waits to become a standby (`recycle.ts`). */
  readonly recycledPath: string
  /** Retired files waiting under `recycledPath` (≤ RECYCLED_FILES_MAX). */
  recycledFiles = 0
  /** Segments recycled so far (tests and benchmarks read it). */
  recycles = 0

  readonly config: Config
  readonly scope: Scope.Closeable

  constructor(config: Config, scope: Scope.Closeable) {
    this.config = config
    this.scope = scope
    this.closedError = new JournalClosed({ path: config.directory })
    this.standbyPath = NodePath.join(config.directory, Names.STANDBY_NAME)
    this.recycledPath = NodePath.join(config.directory, Names.RECYCLED_NAME)
  }

  get active(): Segment {
    return this.segments[this.segments.length - 1] as Segment
  }

  get firstLsn(): number {
    return (this.segments[0] as Segment).baseLsn
  }

  get nextLsn(): number {
    const active = this.active
    return active.baseLsn + active.localEnd
  }

  /** The segment holding the byte just below `lsn` (the one `[0, lsn)` ends in), for lsn > firstLsn. */
  segmentEndingAt(lsn: number): Segment {
    for (let position = this.segments.length - 1; position > 0; position--) {
      const segment = this.segments[position] as Segment
      if (segment.baseLsn < lsn) return segment
    }
    return this.segments[0] as Segment
  }

  /** The segment a record starting at `lsn` lives in (`firstLsn ≤ lsn < nextLsn`). */
  segmentHolding(lsn: number): Segment {
    for (let position = this.segments.length - 1; position > 0; position--) {
      const segment = this.segments[position] as Segment
      if (segment.baseLsn <= lsn) return segment
    }
    return this.segments[0] as Segment
  }

  /** Opens a segment file as a single-file journal, in its own Scope under the engine's. */
  openSegment(path: string, journalOptions = this.config.journalOptions): Effect.Effect<Opened, JournalError> {
    const { io } = this.config
    return Effect.gen({ self: this }, function* () {
      const scope = yield* Scope.fork(this.scope, "sequential")
      const opened = yield* Effect.exit(
        Scope.provide(openJournal(path, journalOptions), scope).pipe(Effect.provideService(FileIo.FileIo, io)),
      )
      if (Exit.isFailure(opened)) {
        yield* Scope.close(scope, opened)
        return yield* Effect.failCause(opened.cause)
      }
      return { journal: opened.value, scope }
    })
  }

  /** The first failure poisons the whole journal: every waiter and later call fails with it. */
  poison(error: SegmentedError): void {
    const failure =
      error instanceof IoError.IoError ? new JournalPoisoned({ path: this.config.directory, cause: error }) : error
    if (this.failure === undefined) this.failure = failure
    this.signal()
    for (const segment of this.segments) {
      Deferred.doneUnsafe(segment.named, Exit.fail(failure))
      Deferred.doneUnsafe(segment.sealed, Exit.fail(failure))
    }
  }

  /** Why a call cannot start now, or undefined. */
  refusal(): SegmentedError | undefined {
    if (this.closed) return this.closedError
    return this.failure
  }

  // Appends -----------------------------------------------------------------------------------

  /**
   * The common case is one check and the active segment's own append: while the active segment
   * is below `segmentBytes` and nothing gates or refuses, no rotation can involve it. Then the
   * segment's fast path places the record in this synchronous step (`appendNow`: nothing to
   * count, no frame around it); when it cannot, `appendCounted` checks again and counts the
   * append in flight in one step inside its `onExit` frame, so the decrement is paired with it
   * whatever ends the append, interruption included. Everything else takes `enter`.
   */
  append(payload: Uint8Array): Effect.Effect<number, SegmentedError> {
    return Effect.suspend(() => {
      const segment = this.active
      const journal = segment.journal
      const now = journal !== undefined && this.accepts(segment) ? appendNow(segment, journal, payload) : undefined
      if (now === undefined) return this.appendCounted(payload)
      return typeof now === "number" ? Effect.succeed(now) : Effect.fail(now)
    })
  }

  /** Whether an append may go to `segment` (the active one) without `enter`. */
  private accepts(segment: Segment): boolean {
    return (
      segment.localEnd < this.config.segmentBytes &&
      this.gate === undefined &&
      !this.closed &&
      this.failure === undefined
    )
  }

  private appendCounted(payload: Uint8Array): Effect.Effect<number, SegmentedError> {
    let counted: Segment | undefined
    return Effect.onExit(
      Effect.suspend((): Effect.Effect<number, SegmentedError> => {
        const segment = this.active
        const journal = segment.journal
        if (journal === undefined || !this.accepts(segment)) {
          return this.enter((journal) => journal.append(payload), noteAppend(payload))
        }
        segment.inflight++
        counted = segment
        return Effect.map(journal.append(payload), (localEnd) => appended(segment, payload, localEnd))
      }),
      () => {
        if (counted !== undefined) this.leave(counted)
        return Effect.void
      },
    )
  }

  appendBatch(payloads: ReadonlyArray<Uint8Array>): Effect.Effect<number, SegmentedError> {
    return this.enter(
      (journal) => journal.appendBatch(payloads),
      (segment, localEnd) => {
        let start = localEnd
        for (const payload of payloads) start -= Frame.frameBytes(payload.byteLength)
        for (const payload of payloads) {
          segment.index.noteTolerant(start)
          start += Frame.frameBytes(payload.byteLength)
        }
      },
    )
  }

  /**
   * Routes one append to the active segment. Choosing the segment, counting the append in flight
   * and (maybe) rotating happen in one uninterruptible turn, paired with the decrement.
   */
  private enter(
    run: (journal: Journal.Handle) => Effect.Effect<number, JournalError>,
    index: (segment: Segment, localEnd: number) => void,
  ): Effect.Effect<number, SegmentedError> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.suspend((): Effect.Effect<number, SegmentedError> => {
        const refused = this.refusal()
        if (refused !== undefined) return Effect.fail(refused)
        const gate = this.gate
        if (gate !== undefined) return Effect.andThen(restore(Deferred.await(gate)), this.enter(run, index))
        const rotation = this.maybeRotate()
        if (rotation === undefined && this.active.localEnd >= this.config.segmentBytes) {
          // Full, and the rotation cannot happen yet (an append still in flight on it, or the
          // standby still being prepared): wait for that, then retry. Normally the standby has
          // been ready since long before the segment filled.
          this.changed ??= Deferred.makeUnsafe<void>()
          return Effect.andThen(restore(Deferred.await(this.changed)), this.enter(run, index))
        }
        const segment = this.active
        const journal = segment.journal
        if (journal === undefined) return Effect.die(new Error("fsys: the active segment has no open journal"))
        segment.inflight++
        const appended = restore(run(journal)).pipe(
          Effect.map((localEnd) => {
            index(segment, localEnd)
            if (localEnd > segment.localEnd) segment.localEnd = localEnd
            return segment.baseLsn + localEnd
          }),
          Effect.ensuring(Effect.sync(() => this.leave(segment))),
        )
        return rotation === undefined ? appended : Effect.andThen(rotation, appended)
      }),
    )
  }

  /** Wakes appends waiting for a rotation to become possible (they re-check everything). */
  signal(): void {
    const changed = this.changed
    if (changed === undefined) return
    this.changed = undefined
    Deferred.doneUnsafe(changed, Exit.void)
  }

  private leave(segment: Segment): void {
    segment.inflight--
    if (segment.inflight === 0) this.signal()
    if (segment.inflight === 0 && this.drainWaiter !== undefined) {
      const waiter = this.drainWaiter
      this.drainWaiter = undefined
      Deferred.doneUnsafe(waiter, Exit.void)
    }
  }

  /** Swaps in the standby when the active segment is full; returns the fork of the rotation. */
  private maybeRotate(): Effect.Effect<void> | undefined {
    const old = this.active
    const standby = this.standby
    if (old.localEnd < this.config.segmentBytes || old.inflight > 0 || standby === undefined) return undefined
    if (!this.mutex.tryTake()) return undefined
    this.standby = undefined
    old.state = "sealing"
    const next = makeSegment(old.baseLsn + old.localEnd, this.standbyPath, "active")
    next.journal = standby.journal
    next.scope = standby.scope
    this.segments.push(next)
    return Effect.asVoid(Effect.forkIn(Effect.uninterruptible(rotate(this, old, next)), this.scope))
  }

  /** Syncs and closes a segment's journal, keeping its counters. */
  closeSegment(segment: Segment): Effect.Effect<void, JournalError> {
    return Effect.gen({ self: this }, function* () {
      const journal = segment.journal
      const scope = segment.scope
      if (journal === undefined || scope === undefined) return
      const stats = yield* journal.stats
      this.accumulated.appends += stats.appends
      this.accumulated.appendedBytes += stats.appendedBytes
      this.accumulated.syncRequests += stats.syncRequests
      this.accumulated.fdatasyncs += stats.fdatasyncs
      this.accumulated.dsyncWrites += stats.dsyncWrites
      const closed = yield* Effect.exit(journal.close)
      segment.journal = undefined
      segment.scope = undefined
      yield* Scope.close(scope, Exit.void)
      yield* closed
    })
  }

  /** Creates the next segment ahead of need (called holding the directory lock; `standby.ts`). */
  get prepareStandby(): Effect.Effect<void, SegmentedError> {
    return prepareStandby(this)
  }

  // -------------------------------------------------------------------------------------------
  // Syncs
  // -------------------------------------------------------------------------------------------

  syncThrough(lsn: number): Effect.Effect<void, SegmentedError> {
    return Effect.suspend(() => {
      const refused = this.refusal()
      if (refused !== undefined) return Effect.fail(refused)
      const nextLsn = this.nextLsn
      if (typeof lsn !== "number" || !Number.isSafeInteger(lsn) || lsn < 0 || lsn > nextLsn) {
        return Effect.fail(new LsnOutOfRange({ lsn, nextLsn }))
      }
      if (lsn <= this.syncedLsn) return Effect.void
      const segment = this.segmentEndingAt(lsn)
      return Effect.tap(this.syncIn(segment, lsn), () =>
        Effect.sync(() => {
          if (lsn > this.syncedLsn) this.syncedLsn = lsn
        }),
      )
    })
  }

  private syncIn(segment: Segment, lsn: number): Effect.Effect<void, SegmentedError> {
    if (segment.state !== "active") return Deferred.await(segment.sealed)
    return Effect.andThen(
      Deferred.await(segment.named),
      Effect.suspend(() => {
        const journal = segment.journal
        if (segment.state !== "active" || journal === undefined) return Deferred.await(segment.sealed)
        // Closed under us by a rotation or truncateBack: its close synced everything.
        return journal
          .syncThrough(lsn - segment.baseLsn)
          .pipe(Effect.catchTag("JournalClosed", () => Deferred.await(segment.sealed)))
      }),
    )
  }

  /** Waits until no append is in flight on the active segment (appends are gated by the caller). */
  get drained(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.active.inflight === 0) return Effect.void
      const waiter = this.drainWaiter ?? Deferred.makeUnsafe<void>()
      this.drainWaiter = waiter
      return Effect.andThen(Deferred.await(waiter), this.drained)
    })
  }

  get stats(): Effect.Effect<Journal.Stats> {
    return Effect.suspend(() => {
      const journal = this.active.journal
      const base = { ...this.accumulated }
      if (journal === undefined) return Effect.succeed(base)
      return Effect.map(journal.stats, (stats) => ({
        appends: base.appends + stats.appends,
        appendedBytes: base.appendedBytes + stats.appendedBytes,
        syncRequests: base.syncRequests + stats.syncRequests,
        fdatasyncs: base.fdatasyncs + stats.fdatasyncs,
        dsyncWrites: base.dsyncWrites + stats.dsyncWrites,
      }))
    })
  }
}
